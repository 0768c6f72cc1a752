import numpy as np
import pytest

from tests.data.helpers import load


@pytest.mark.parametrize("size, rows", [(3, 16), (4, 32)])
def test_bars_are_exactly_all_bars_and_stripes(size, rows):
    data = load(f"bars(size={size})")
    assert data.x.shape == (rows, size * size) and data.x.dtype == np.float32
    assert data.y is None and data.task == "unsupervised"
    images = data.x.reshape(-1, size, size)
    bars = (images == images[:, :, :1]).all(axis=(1, 2))  # every row constant
    stripes = (images == images[:, :1, :]).all(axis=(1, 2))  # every column constant
    assert (bars | stripes).all()
    distinct = {tuple(r) for r in data.x}
    assert len(distinct) == 2 ** (size + 1) - 2  # all-on and all-off are counted twice
    assert set(np.unique(data.x)) == {0.0, 1.0}


def test_bars_repeat():
    assert len(load("bars(repeat=2)")) == 32


@pytest.mark.parametrize(
    "text, modes, std",
    [("ring(n=400, modes=8, radius=2)", 8, 0.02), ("grid(n=500, side=5)", 25, 0.05)],
)
def test_mixture_points_lie_near_their_modes(text, modes, std):
    data = load(text)
    centres = data.info["centres"]
    assert data.x.shape[1] == 2 and centres.shape == (modes, 2) and data.task == "unsupervised"
    distance = np.linalg.norm(data.x[:, None, :] - centres[None], axis=2)
    assert (distance.min(axis=1) < 6 * std).all()
    assert len(np.unique(distance.argmin(axis=1))) == modes  # every mode is used


def test_ring_centres_on_the_circle_and_grid_centred():
    np.testing.assert_allclose(np.linalg.norm(load("ring(radius=3)").info["centres"], axis=1), 3)
    centres = load("grid(side=3, spacing=2)").info["centres"]
    np.testing.assert_allclose(centres.mean(axis=0), 0, atol=1e-12)
    assert centres.min() == -2 and centres.max() == 2
