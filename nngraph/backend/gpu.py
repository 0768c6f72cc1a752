"""The one place that imports cupy: lazily, once, keeping the failure to show later.

A machine without cupy (or without a GPU) must still import nngraph and run on
numpy, so the import is attempted only when the GPU is first asked for, and the
reason it failed is kept for the `BackendError` the user then sees.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

_cupy: ModuleType | None = None
_failure: str | None = None
_tried = False


def load_cupy() -> tuple[ModuleType | None, str | None]:
    """(cupy, None) when cupy imports and sees a GPU, else (None, why not)."""
    global _cupy, _failure, _tried
    if not _tried:
        _tried = True
        _cupy, _failure = _import_cupy()
    return _cupy, _failure


def _import_cupy() -> tuple[ModuleType | None, str | None]:
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install raises anything
        return None, f"cupy could not be imported: {type(exc).__name__}: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError when no driver
        return None, f"cupy found no usable GPU: {type(exc).__name__}: {exc}"
    if count < 1:
        return None, "cupy found no GPU on this machine"
    return cupy, None


def loaded_cupy() -> ModuleType | None:
    """cupy if it has already been loaded successfully; never triggers the import."""
    return _cupy


def set_float32_products(cupy, products: str | None) -> None:
    """The precision of cupy's float32 matrix products from now on, process-wide: "tf32" (cuBLAS's TF32 tensor
    cores), "bfloat16" (inputs rounded to bfloat16), float32 accumulation in both; None: cupy's default, full
    float32 (unless the environment sets CUPY_TF32)."""
    from cupy._core import _routines_linalg as linalg  # where cupy keeps its compute types

    kind = {"tf32": linalg.COMPUTE_TYPE_TF32, "bfloat16": linalg.COMPUTE_TYPE_BF16, None: linalg.COMPUTE_TYPE_DEFAULT}
    linalg.set_compute_type(cupy.float32, kind[products])


def pool_bytes_of(run: Callable[[], object]) -> tuple[int, int]:
    """(bytes cupy's memory pool holds after `run()`, bytes in use after it), `run` started from a pool emptied
    of its free blocks. The pool keeps every block it frees until emptied, so what it holds after the call is
    at least the most device memory in use at any moment of the call (arrays alive before it included); more
    where a freed block could not serve a later, larger request. Like torch's peak reserved memory, beside which
    benchmarks/gpu_side_by_side.py sets it."""
    cupy, why_not = load_cupy()
    if cupy is None:
        raise RuntimeError(f"pool_bytes_of measures cupy's pool: {why_not}")
    pool = cupy.get_default_memory_pool()
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    pool.free_all_blocks()
    run()
    stream.synchronize()
    return pool.total_bytes(), pool.used_bytes()
