import numpy as np

from tests.data.helpers import load


def test_sine_targets_are_the_next_step():
    data = load("sine(n=6, length=20)")
    assert data.x.shape == data.y.shape == (6, 20, 1) and data.task == "sequence"
    np.testing.assert_array_equal(data.x[:, 1:], data.y[:, :-1])
    assert np.abs(data.x).max() <= 1 and data.info["target"] == "per_step"


def test_adding_target_is_the_marked_sum():
    data = load("adding(n=50, length=12)")
    assert data.x.shape == (50, 12, 2) and data.y.shape == (50, 1) and data.x.dtype == np.float32
    marker = data.x[:, :, 1]
    np.testing.assert_array_equal(marker.sum(axis=1), 2)
    assert (marker[:, :6].sum(axis=1) == 1).all()  # one marker in each half
    np.testing.assert_allclose(data.y[:, 0], (data.x[:, :, 0] * marker).sum(axis=1), rtol=1e-6)
    assert ((data.x[:, :, 0] >= 0) & (data.x[:, :, 0] < 1)).all()


def test_parity_running_and_final():
    running = load("parity(n=30, length=6)")
    assert running.x.shape == running.y.shape == (30, 6, 1)
    np.testing.assert_array_equal(running.y[:, :, 0], np.cumsum(running.x[:, :, 0], axis=1) % 2)
    final = load("parity(n=30, length=6, target=final)")
    assert final.y.shape == (30, 1) and final.info["target"] == "final"
    np.testing.assert_array_equal(final.y[:, 0], final.x.sum(axis=(1, 2)) % 2)
