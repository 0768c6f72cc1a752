"""Dataset takes arrays from anywhere: numpy, lists, and arrays on a GPU (kept there: a training run takes its
minibatches from them on the device, train/feed.py)."""

import types

import numpy as np

from nngraph.backend import gpu, is_device_array, to_device
from nngraph.data.dataset import Dataset


class DeviceArray:
    """Stands for a cupy array: numpy cannot read it; only its module's asnumpy can."""

    def __init__(self, host):
        self.host = host

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


def test_a_dataset_keeps_arrays_on_a_gpu_there(monkeypatch):
    fake_cupy = types.SimpleNamespace(ndarray=DeviceArray, asnumpy=lambda a: a.host)
    monkeypatch.setattr(gpu, "_cupy", fake_cupy)
    x, y = DeviceArray(np.zeros((3, 2), np.float32)), DeviceArray(np.array([0, 1, 0]))
    data = Dataset(x, y, "classification", 2)
    assert data.x is x and data.y is y  # not read to the host


def test_arrays_on_the_numpy_device_are_kept_and_taken_there():
    x, y = np.arange(6.0, dtype=np.float32).reshape(3, 2), np.array([0, 1, 0])
    data = Dataset(to_device(x, np), to_device(y, np), "classification", 2)
    assert is_device_array(data.x) and np.shares_memory(data.x, x)
    part = data.take(to_device(np.array([2, 0]), np))
    assert is_device_array(part.x) and is_device_array(part.y)
    np.testing.assert_array_equal(part.x, x[[2, 0]])
    np.testing.assert_array_equal(data.take(slice(1, 3)).y, y[1:])


def test_numpy_arrays_are_kept_without_a_copy():
    x = np.zeros((4, 2), np.float32)
    assert Dataset(x, None, "unsupervised").x is x
