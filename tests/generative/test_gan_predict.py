"""`nngraph predict` on a GAN spec: the discriminator judges the given points, `pack` at a time."""

import numpy as np
import pytest

from tests.cli.helpers import SPECS, run_cli

SPEC = SPECS / "gan_ring.nn"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """One short training run shared by the tests: only its checkpoint's shapes matter here."""
    out = tmp_path_factory.mktemp("gan") / "run"
    result = run_cli("train", SPEC, "--out", out, "--quiet", "--set", "epochs=1", "--set", "validation=0")
    assert result.code == 0, result.both
    return out / "checkpoint.npz"


def _predict(tmp_path, checkpoint, points, *extra):
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.asarray(points, np.float32))
    return run_cli("predict", SPEC, "--checkpoint", checkpoint, "--input", x, "-o", y, *extra), y


def test_predict_gives_one_probability_per_packed_pair(tmp_path, checkpoint):
    result, y = _predict(tmp_path, checkpoint, [[2, 0], [0, 2], [-2, 0], [0, -2], [0, 0], [5, 5]])
    assert result.code == 0, result.both
    p = np.load(y)
    assert p.shape == (3, 1) and np.all((p > 0) & (p < 1))


def test_predict_refuses_a_count_that_does_not_fill_the_packs_and_points_of_the_wrong_size(tmp_path, checkpoint):
    result, y = _predict(tmp_path, checkpoint, [[2, 0], [0, 2], [-2, 0]])
    assert result.code == 1 and "pack=2" in result.err and "Traceback" not in result.both
    result, y = _predict(tmp_path, checkpoint, np.zeros((4, 3)))
    assert result.code == 1 and "[3]" in result.err and not y.exists()


def test_predict_names_a_discriminator_unit(tmp_path, checkpoint):
    result, y = _predict(tmp_path, checkpoint, np.zeros((4, 2)), "--unit", "d_2")
    assert result.code == 0, result.both
    assert np.load(y).shape == (2, 200)  # the second hidden layer, per pair
    result, _ = _predict(tmp_path, checkpoint, np.zeros((4, 2)), "--unit", "nope")
    assert result.code == 1 and "no unit named 'nope'" in result.err
