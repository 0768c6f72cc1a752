"""Backends: an array module, a float dtype, a seeded generator and a sync point.

Everything numeric above this folder is written against `backend.xp`, so the same
op code runs on numpy (CPU) and cupy (GPU).

Reading a device array on the host (a cupy array's values in Python) waits for every kernel queued before it.
Every such read goes through `to_host` (arrays) or `host_floats` (metrics), and each call is counted
(`host_reads`), on numpy too, where it costs nothing: the tests count the reads a training step makes (none)
and an epoch makes (a few), so a read slipped into a step shows on every machine, not only on a GPU.

Copies the other way (host memory to the device) go through `to_device`, counted by `host_writes`: training
data is uploaded once (train/feed.py) and a step copies no data. On numpy nothing is copied, so an array that
went through the door comes back marked (`OnDevice`, a view of the same memory), and `Backend.asarray` counts
a write for any unmarked host array it is given: data that skipped the door shows in the count on numpy too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy

from nngraph.backend.gpu import load_cupy, loaded_cupy, set_float32_products
from nngraph.backend.memory import keep_freed_memory
from nngraph.errors import BackendError, did_you_mean

BACKEND_NAMES = ("numpy", "cupy")
DTYPE_NAMES = ("float32", "float64")
# float32 values whose matrix products run at lower precision on an NVIDIA GPU (cuBLAS's compute types: TF32,
# or bfloat16 inputs; float32 accumulation either way), for training only; elsewhere there is no such mode
GPU_PRODUCTS = ("tf32", "bfloat16")


@dataclass(frozen=True)
class Backend:
    """An array module with the float dtype every parameter and activation uses."""

    name: str
    xp: Any
    dtype: Any
    products: str | None = None  # one of GPU_PRODUCTS: float32 values, the GPU's products at that precision

    @property
    def dtype_name(self) -> str:
        """What the run computes in, as `--dtype` says it: float32, float64, tf32 or bfloat16."""
        return self.products or str(self.dtype)

    def asarray(self, a) -> Any:
        """`a` on this backend's device; floating data converted to the backend dtype. A host array (anything
        not `is_device_array`) is copied through `to_device`, one counted write; on numpy the result is a plain
        array whichever it was (the program computes on plain arrays)."""
        if self.xp is numpy:  # the same count and memory as through to_device, without its marked view (a step's
            if not isinstance(a, OnDevice):  # feeds were 6 us of a 30 us XOR step)
                count_write()
            arr = numpy.asarray(a)
        else:
            arr = self.xp.asarray(a if is_device_array(a) else to_device(a, self.xp))
        if arr.dtype.kind == "f" and arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        return arr

    def to_numpy(self, a) -> numpy.ndarray:
        """`a` as a host numpy array (a no-op for numpy arrays): a counted read, `to_host`."""
        return to_host(a)

    def rng(self, seed: int | None = None):
        """A seeded generator on this backend's device.

        numpy: `numpy.random.Generator`; cupy: `cupy.random.Generator`. Both offer
        `random`, `standard_normal` and `integers`; keep to those so code runs on either
        (cupy's has no `permutation`: use `permutation` below). Same seed, same backend ->
        same numbers.
        """
        return self.xp.random.default_rng(seed)

    def permutation(self, rng, n: int) -> numpy.ndarray:
        """A random order of range(n) as a host array, drawn from `rng` (this backend's generator or
        numpy's): a numpy generator's own permutation, else the order of n uniform draws on the device. An
        MPI rank's view of a generator (train/parallel.py) draws with the generator itself: the same order
        on every rank."""
        rng = getattr(rng, "generator", rng)
        if isinstance(rng, numpy.random.Generator):
            return rng.permutation(n)
        return self.to_numpy(self.xp.argsort(rng.random(n)))

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings); nothing to wait for on CPU."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()


def get_backend(name: str = "numpy", dtype: str = "float32") -> Backend:
    """The backend called `name` ("numpy" or "cupy") computing in `dtype` (one of DTYPE_NAMES, or on cupy one
    of GPU_PRODUCTS)."""
    if name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend '{name}'",
                           hint=did_you_mean(name, BACKEND_NAMES) if isinstance(name, str) else None)
    if dtype not in DTYPE_NAMES + GPU_PRODUCTS:
        raise BackendError(f"unsupported dtype '{dtype}'",
                           hint=did_you_mean(dtype, DTYPE_NAMES + GPU_PRODUCTS) if isinstance(dtype, str) else None)
    if dtype in GPU_PRODUCTS and name != "cupy":
        raise BackendError(f"dtype {dtype} is a GPU mode (float32 values, matrix products in {dtype} on an NVIDIA "
                           f"GPU); the {name} backend computes in float32 or float64",
                           hint="train with --backend cupy, or with --dtype float32")
    if name == "numpy":
        keep_freed_memory()
        return Backend(name, numpy, numpy.dtype(dtype))
    xp = require_cupy()
    products = dtype if dtype in GPU_PRODUCTS else None
    if dtype != "float64":
        set_float32_products(xp, products)
    return Backend(name, xp, xp.dtype("float32" if products else dtype), products)


def require_cupy():
    cupy, failure = load_cupy()
    if cupy is None:
        raise BackendError(
            f"the cupy backend is not available ({failure})",
            hint="install it with `pip install nngraph[gpu]` on a machine with an NVIDIA GPU, "
            "or use the numpy backend",
        )
    return cupy


def available_backends() -> list[str]:
    """The backend names that work on this machine, numpy first."""
    return ["numpy"] + (["cupy"] if load_cupy()[0] is not None else [])


_HOST_READS = [0]  # calls of to_host and host_floats in this process (a list: mutable without `global`)


def host_reads() -> int:
    """How many device-to-host reads (`to_host`, `host_floats` calls) this process has made so far."""
    return _HOST_READS[0]


def to_host(a) -> numpy.ndarray:
    """Any array as a numpy array: a cupy array copied from its device (without importing cupy when it
    was never loaded), anything else through numpy.asarray. One counted read."""
    _HOST_READS[0] += 1
    cupy = loaded_cupy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy.asnumpy(a)
    return numpy.asarray(a)


def host_floats(parts: list) -> list[float]:
    """Numbers and arrays of any shape (flattened, in order) as one list of Python floats, in one counted
    read: the device arrays among them (a step's 0-d loss, a block of kept metrics) copied in one transfer."""
    _HOST_READS[0] += 1
    cupy = loaded_cupy()
    if cupy is not None and any(isinstance(p, cupy.ndarray) for p in parts):
        on_device = [(p if isinstance(p, cupy.ndarray) else cupy.asarray(p)).reshape(-1) for p in parts]
        return cupy.asnumpy(cupy.concatenate(on_device, dtype=cupy.float64)).tolist()  # one cast, one copy
    out = []
    for part in parts:  # numpy: nothing to wait for; this runs once an epoch, even for XOR's one-step epochs
        if getattr(part, "ndim", 0) == 0:
            out.append(float(part))
        else:
            out.extend(numpy.asarray(part, dtype=numpy.float64).reshape(-1).tolist())
    return out


def array_module(a) -> Any:
    """numpy or cupy, whichever `a` lives in (without importing cupy for it)."""
    cupy = loaded_cupy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    return numpy


class OnDevice(numpy.ndarray):
    """numpy's stand-in for device memory: a view of an array that went through `to_device`. What is computed
    from it (a minibatch's `take`, a reshape) stays marked, so `is_device_array` tells the data the training
    path uploaded once from host arrays it would copy every step. `numpy.asarray` drops the mark (a view).
    Asking a marked array for a Python value (`bool`, `float`, `int`, `item`, `tolist`) is a read, as it is on a
    GPU, where it waits for the device: it is counted (`host_reads`) like `to_host`. (An element `a[i]` comes back
    from numpy as a plain scalar, and numpy functions that convert their input, such as `isin`, drop the mark:
    those reads are not counted.)"""

    def __bool__(self):
        _HOST_READS[0] += 1
        return numpy.ndarray.__bool__(self)

    def __float__(self):
        _HOST_READS[0] += 1
        return numpy.ndarray.__float__(self)

    def __int__(self):
        _HOST_READS[0] += 1
        return numpy.ndarray.__int__(self)

    def item(self, *args):
        _HOST_READS[0] += 1
        return numpy.ndarray.item(self, *args)

    def tolist(self):
        _HOST_READS[0] += 1
        return numpy.ndarray.tolist(self)


_HOST_WRITES = [0]  # calls of to_device in this process


def host_writes() -> int:
    """How many host-to-device copies (`to_device` calls) this process has made so far."""
    return _HOST_WRITES[0]


def count_write() -> None:
    """One host-to-device copy made (by `to_device`, or by backend/transfer.py's pinned copies on a GPU)."""
    _HOST_WRITES[0] += 1


def to_device(a, xp) -> Any:
    """`a` on the device of `xp` (numpy or cupy): one counted write. cupy: a copy into device memory. numpy:
    the same memory, marked `OnDevice`, not copied."""
    count_write()
    if xp is numpy:
        return numpy.asarray(a).view(OnDevice)
    return xp.asarray(a)


def device_scalar(xp, value: float, dtype) -> Any:
    """A 0-d array holding the host number `value`, made on the device by a fill kernel (the number travels as
    the launch's argument). cupy.asarray(value) would copy it from pageable host memory instead, and such a
    copy first waits for everything queued on the stream: a host synchronisation inside the step. (numpy:
    numpy.asarray, five times faster than a fill.)"""
    if xp is numpy:
        return numpy.asarray(value, dtype=dtype)
    return xp.full((), value, dtype=dtype)


def is_device_array(a) -> bool:
    """Whether `a` is already in device memory: a cupy array, or on numpy an array marked by `to_device`."""
    if isinstance(a, OnDevice):
        return True
    cupy = loaded_cupy()
    return cupy is not None and isinstance(a, cupy.ndarray)


def computed_on_device(a) -> Any:
    """An array the device computed (never on the host) as the data path sees device arrays: on numpy marked
    like an upload but not counted, for a program that takes it as its input (a GAN's generated points)."""
    return a.view(OnDevice) if type(a) is numpy.ndarray else a


def on_device_like(a, xp) -> Any:
    """`a` where `xp` computes: as it is when it is already there, else through `to_device`."""
    return a if is_device_array(a) else to_device(a, xp)


def where_is(a, other) -> Any:
    """`a` (a host array: an index, draws) where `other` is: through `to_device` when `other` is on the device
    (a minibatch of resident data), else as it is."""
    return on_device_like(a, array_module(other)) if is_device_array(other) else a
