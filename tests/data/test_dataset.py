"""Dataset takes arrays from anywhere: numpy, lists, and arrays on a GPU (copied to the host once)."""

import types

import numpy as np

from nngraph.backend import gpu
from nngraph.data.dataset import Dataset


class DeviceArray:
    """Stands for a cupy array: numpy cannot read it; only its module's asnumpy can."""

    def __init__(self, host):
        self.host = host

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def test_a_dataset_accepts_arrays_on_a_gpu(monkeypatch):
    fake_cupy = types.SimpleNamespace(ndarray=DeviceArray, asnumpy=lambda a: a.host)
    monkeypatch.setattr(gpu, "_cupy", fake_cupy)
    x, y = np.arange(6.0, dtype=np.float32).reshape(3, 2), np.array([0, 1, 0])
    data = Dataset(DeviceArray(x), DeviceArray(y), "classification", 2)
    assert isinstance(data.x, np.ndarray) and isinstance(data.y, np.ndarray)
    np.testing.assert_array_equal(data.take([2, 0]).x, x[[2, 0]])


def test_numpy_arrays_are_kept_without_a_copy():
    x = np.zeros((4, 2), np.float32)
    assert Dataset(x, None, "unsupervised").x is x
