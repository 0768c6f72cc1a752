"""Launching the kernels of kernels.cu: `kernels_for(xp, dtype)` gives the kernels for arrays of module `xp`,
compiled once per dtype: cupy arrays run them on the GPU (a `cupy.RawModule`, NVRTC), numpy arrays on the CPU
emulator. Both take the same call, `kernels(name, grid, block, *args, shared=bytes)`, with arrays for the
pointer parameters (C-contiguous, of the kernels' dtype; None where the kernel ignores the pointer) and
Python numbers for the scalars, converted here by the signature kernels.cu declares."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy

from nngraph.backend.cuda.source import kernel_source, real_name, scalar_dtype, signatures

# NVRTC: no FMA contraction (element-wise arithmetic rounds as the twins' ufuncs do; the dot products
# call fma() themselves); cupy adds the device's -arch and -ftz=true
COMPILE_OPTIONS = ("--fmad=false",)

_made: dict[tuple[str, str], Kernels] = {}


class Kernels:
    """The kernels of one dtype on one executor. Subclasses say how a launch runs (`_launch`) and how large
    a launch may be (`max_block`, `max_grid`: the emulator keeps them small, every kernel being right for
    any launch shape)."""

    max_block = 1024
    max_grid = 65535
    shared_bytes = 48 * 1024  # what a block may ask without opting in to more

    def __init__(self, dtype, source: str | None = None):
        self.dtype = numpy.dtype(dtype)
        self.signatures = signatures(source)
        self.launches: Counter = Counter()  # launches by kernel name: which entries ran their CUDA version

    def __call__(self, name: str, grid: int, block: int, *args, shared: int = 0) -> None:
        params = self.signatures[name].params
        if len(args) != len(params):
            raise TypeError(f"kernel {name} takes {len(params)} arguments, given {len(args)}")
        values = [self._pointer(a, p, name) if p.kind == "pointer" else scalar_dtype(p.kind, self.dtype).type(a)
                  for a, p in zip(args, params, strict=True)]
        self._launch(name, max(1, min(grid, self.max_grid)), max(1, min(block, self.max_block)), values, shared)
        self.launches[name] += 1

    def _pointer(self, array, param, kernel: str):
        if array is None:
            return None
        dtype = scalar_dtype(param.element, self.dtype)
        if array.dtype != dtype or not array.flags.c_contiguous:
            raise TypeError(f"kernel {kernel}: {param.name} must be a C-contiguous {dtype} array, "
                            f"not {array.dtype} with strides {array.strides}")
        return array

    def _launch(self, name: str, grid: int, block: int, values: Sequence, shared: int) -> None:
        raise NotImplementedError


class DeviceKernels(Kernels):
    """On the GPU: the module compiled by NVRTC for the current device at the first launch."""

    def __init__(self, cupy, dtype):
        super().__init__(dtype)
        self._cupy = cupy
        self._module = cupy.RawModule(code=kernel_source(), options=(f"-Dreal={real_name(dtype)}", *COMPILE_OPTIONS))
        self._functions: dict[str, Any] = {}
        self._null = cupy.empty(0, dtype=self.dtype)  # what a pointer the kernel ignores is given

    def _launch(self, name, grid, block, values, shared):
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = self._module.get_function(name)
        args = tuple(self._null if v is None else v for v in values)
        function((grid,), (block,), args, shared_mem=shared)


def kernels_for(xp, dtype) -> Kernels:
    """The kernels for arrays of module `xp` (numpy: the CPU emulator) and `dtype`, made once."""
    key = (xp.__name__, real_name(dtype))
    if key not in _made:
        if xp is numpy:
            from nngraph.backend.cuda.emulator import EmulatedKernels
            _made[key] = EmulatedKernels(dtype)
        else:
            _made[key] = DeviceKernels(xp, dtype)
    return _made[key]


def threads_for(width: int, kernels: Kernels, most: int = 256) -> int:
    """Threads a block for `width` units of work per row: whole warps, at most `most`."""
    return min(kernels.max_block, most, max(32, -(-width // 32) * 32))


def blocks_for(count: int, block: int, kernels: Kernels) -> int:
    """Blocks for a grid-strided loop over `count` items."""
    return min(kernels.max_grid, max(1, -(-count // block)))


def device_check() -> str:
    """One line on the CUDA kernels of this machine's GPU: where there is one, they are compiled for both dtypes
    and one launch (sgd over 1,000 values) is held to its numpy twin's bits; else why there is none here."""
    from nngraph.backend.cuda import entries
    from nngraph.backend.gpu import load_cupy
    from nngraph.backend.twins import sgd

    cupy, why_not = load_cupy()
    if cupy is None:
        return f"CUDA kernels: no GPU here ({why_not}); NNGRAPH_ISA=cuda runs them on the CPU emulator"
    values = numpy.random.default_rng(0).standard_normal((3, 1000)).astype(numpy.float32)
    want = [a.copy() for a in values]
    sgd(numpy, want[0], want[1], want[2], numpy.empty(1000, numpy.float32), 0.1, 0.9, True)
    got = [cupy.asarray(a) for a in values]
    entries.sgd(kernels_for(cupy, numpy.float32), cupy, got[0], got[1], got[2], None, 0.1, 0.9, True)
    kernels_for(cupy, numpy.float64)("sgd", 1, 1, cupy.zeros(1), None, cupy.zeros(1), 1, 0.1, 0.0, 0, 0)
    same = all(numpy.array_equal(cupy.asnumpy(g), w) for g, w in zip(got[:2], want[:2]))
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    verdict = "gives its twin's bits" if same else "DIFFERS from its twin: set NNGRAPH_KERNELS=0"
    return f"CUDA kernels: compiled for {name} (float32, float64); a launch of sgd {verdict}"
