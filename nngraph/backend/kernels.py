"""The fused CPU kernels (the extension `_kernels`, built from `csrc/`): which arrays may use them, and
why they are off when they are.

Code above the backend asks `fused_kernels(xp)` and gets the compiled module, or None; on None it runs
its numpy twin of the kernel (written against `xp`, so the same twin serves cupy). The kernels are
used for numpy arrays only, and not at all when

- the extension was not built (no C compiler when nngraph was installed: see setup.py), or
- the environment says NNGRAPH_KERNELS=0 (to compare the two paths, or to rule the kernels out).

The kernels that split their work over threads (the whole-sequence LSTM kernels, `matmul_tn`) use
`kernel_threads()` of them: 1 unless `backend.threads.compute_threads` says otherwise (training does).

`python -m nngraph.backend.kernels` prints which path is in use and why.
"""

from __future__ import annotations

import os
from itertools import pairwise
from types import ModuleType
from typing import Any

import numpy

try:
    from nngraph.backend import _kernels
except ImportError as exc:  # built without a C compiler: the numpy twins serve
    _kernels, _import_failure = None, f"the extension is not built ({exc})"
else:
    _import_failure = None

ENV_SWITCH = "NNGRAPH_KERNELS"


def _switched_off() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "off", "false", "no")


def fused_kernels(xp: Any) -> ModuleType | None:
    """The compiled kernels when arrays of module `xp` may use them, else None."""
    if xp is not numpy or _kernels is None or _switched_off():
        return None
    return _kernels


# a product with more rows than this goes to numpy's BLAS, which can use several threads on it (at 64
# rows x 512 x 128 two OpenBLAS threads already beat the one-thread kernel)
SMALL_GEMM_MAX_ROWS = 48


def matmul_into(xp, a, b, out, accumulate: bool = False, scratch=None):
    """out = a @ b (or out += a @ b) for 2-D arrays with contiguous rows: the small-GEMM kernel where it
    applies (numpy float32, AVX-512, at most SMALL_GEMM_MAX_ROWS rows), else numpy's or cupy's matmul
    (through `scratch`, shaped like out, when accumulating)."""
    fused = fused_kernels(xp)
    if (fused is not None and fused.small_gemm_available and out.dtype == numpy.float32
            and a.shape[0] <= SMALL_GEMM_MAX_ROWS):
        fused.small_gemm(a, b, out, accumulate)
    elif accumulate:
        out += a @ b if scratch is None else xp.matmul(a, b, out=scratch)
    else:
        xp.matmul(a, b, out=out)
    return out


def matmul_tn(xp, factors, b) -> list:
    """[a.T @ b for a in factors], for 2-D arrays a (k, m_i) and b (k, n): the gradients of the weights
    that multiply the same rows, summed over many rows (every step of a sequence). The compiled kernel
    where it applies (numpy float32 with contiguous rows, AVX-512): one pass over b for all of them, on
    `kernel_threads()` threads, none of them the BLAS's. Else numpy's or cupy's matmul, one per factor."""
    fused = fused_kernels(xp)
    arrays = list(factors) + [b]
    if (fused is None or not fused.small_gemm_available or not factors
            or any(x.dtype != numpy.float32 or x.ndim != 2 or x.strides[1] != x.itemsize for x in arrays)):
        return [a.T @ b for a in factors]
    widths = [a.shape[1] for a in factors]
    out = numpy.empty((sum(widths), b.shape[1]), dtype=numpy.float32)
    fused.transposed_gemm(factors, b, out, False, _threads)
    bounds = numpy.cumsum([0] + widths)
    return [out[start:stop] for start, stop in pairwise(bounds)]


_threads = 1


def kernel_threads() -> int:
    """How many threads a kernel that splits its work may use."""
    return _threads


def set_kernel_threads(count: int) -> int:
    """Let kernels that split their work use `count` threads (at least 1); returns the previous count."""
    global _threads
    previous, _threads = _threads, max(1, int(count))
    return previous


def status() -> str:
    """One line: are the fused kernels in use for numpy arrays, and if not, why not."""
    if _kernels is None:
        return f"fused CPU kernels: off: {_import_failure}"
    if _switched_off():
        return f"fused CPU kernels: off: {ENV_SWITCH}={os.environ[ENV_SWITCH]}"
    return f"fused CPU kernels: on ({_kernels.__file__})"


def built() -> bool:
    """Whether the extension was built and imports (whatever the switch says)."""
    return _kernels is not None


if __name__ == "__main__":
    print(status())
