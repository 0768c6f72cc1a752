import numpy
import pytest

from nngraph.backend import array_module, available_backends, get_backend, gpu
from nngraph.errors import BackendError


def test_numpy_is_always_available_and_float32_by_default():
    assert available_backends()[0] == "numpy"
    be = get_backend()
    assert be.name == "numpy" and be.xp is numpy and be.dtype == numpy.float32


def test_asarray_casts_floats_only(backend):
    assert backend.asarray([1.5, 2.5]).dtype == backend.dtype
    assert backend.asarray(numpy.arange(3)).dtype.kind == "i"
    assert get_backend(backend.name, "float64").asarray([1.0]).dtype == numpy.float64


def test_round_trip_to_numpy(backend):
    a = numpy.arange(6.0).reshape(2, 3)
    back = backend.to_numpy(backend.asarray(a))
    assert isinstance(back, numpy.ndarray)
    numpy.testing.assert_array_equal(back, a)


def test_same_seed_same_numbers(backend):
    first = backend.to_numpy(backend.rng(42).standard_normal(5))
    again = backend.to_numpy(backend.rng(42).standard_normal(5))
    other = backend.to_numpy(backend.rng(43).standard_normal(5))
    numpy.testing.assert_array_equal(first, again)
    assert not numpy.array_equal(first, other)
    backend.synchronize()


def test_array_module_finds_the_arrays_backend(backend):
    assert array_module(backend.asarray([1.0])) is backend.xp


@pytest.mark.parametrize("name, dtype, hint", [("nunpy", "float32", "numpy"),
                                               ("numpy", "float23", "float32")])
def test_unknown_names_suggest_the_closest(name, dtype, hint):
    with pytest.raises(BackendError) as err:
        get_backend(name, dtype)
    assert hint in err.value.hint


def test_missing_cupy_explains_why_and_how(monkeypatch):
    monkeypatch.setattr(gpu, "_tried", True)
    monkeypatch.setattr(gpu, "_cupy", None)
    monkeypatch.setattr(gpu, "_failure", "cupy could not be imported: No module named 'cupy'")
    with pytest.raises(BackendError, match="No module named 'cupy'") as err:
        get_backend("cupy")
    assert "pip install nngraph[gpu]" in err.value.hint
    assert available_backends() == ["numpy"]


def test_device_scalar_is_a_0d_array_in_the_dtype():
    from nngraph.backend import device_scalar
    value = device_scalar(numpy, 2.5, numpy.float32)
    assert value.shape == () and value.dtype == numpy.float32 and float(value) == 2.5
