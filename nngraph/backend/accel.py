"""The one door to the accelerated computations: a table naming each one with its numpy twin, its
compiled version (the extension `_kernels`, built from `csrc/`) and when that applies.

Code above the backend asks `get(name, xp, dtype=..., **facts)` and calls what it gets, with the twin's
arguments less `xp`: the compiled version where it runs and applies, else the twin (written against `xp`,
so cupy runs it too). Nothing above the backend imports the extension or asks which of the two it got.

The compiled kernels come in *paths*, one per instruction set, best first:

- avx512: x86-64-v4 (AVX-512), every kernel, the GEMMs in 8 x 32 register tiles;
- avx2: x86-64-v3 (AVX2 and FMA), every kernel, the GEMMs in 6 x 16 tiles; the same sums in the same
  order as avx512, so the same bits;
- generic: the element-wise kernels for any CPU, used where they beat their twins (the optimizers, the
  LSTM step's backward, max pooling's backward, average pooling); no GEMMs, so numpy's BLAS does the
  products and the whole-sequence kernels give way to their twins' step loops.

The path is the best this CPU runs, unless the environment says otherwise, on every call:

- NNGRAPH_ISA=avx512|avx2|generic forces a path (one this CPU runs: anything else is a BackendError);
- NNGRAPH_KERNELS=0 turns the compiled kernels off: every entry gives its twin ("twins");
- a build without the extension (no C compiler when nngraph was installed: see setup.py) gets the twins.

Arrays of cupy take the *cuda* path: the entries with a CUDA version (`cuda/entries.py`, kernels in
`cuda/kernels.cu`) run it on the GPU, the others their twins (on cupy). NNGRAPH_ISA=cuda sends numpy arrays
there too, through the CPU emulator of the CUDA kernels (`cuda/emulator.py`): how the tests run them on any
machine. NNGRAPH_KERNELS=0 gives every entry's twin on both.

`python -m nngraph.backend` prints the path in use and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import numpy

from nngraph.backend import sequence_twins, twins
from nngraph.backend.cuda import entries as cuda_entries
from nngraph.backend.cuda.launch import kernels_for
from nngraph.errors import BackendError, did_you_mean

try:
    from nngraph.backend import _kernels
except ImportError as exc:  # built without a C compiler: the numpy twins serve
    _kernels, _IMPORT_FAILURE = None, f"the extension is not built ({exc})"
else:
    _IMPORT_FAILURE = None

PATHS = ("avx512", "avx2", "generic")  # every compiled path, best first
VECTOR_PATHS = ("avx512", "avx2")
TWINS = "twins"
CUDA = "cuda"  # the CUDA kernels: cupy arrays on the GPU, numpy arrays (forced) on the emulator
ISA_SWITCH, KERNELS_SWITCH = "NNGRAPH_ISA", "NNGRAPH_KERNELS"
NEEDS = {"avx512": "AVX-512 (x86-64-v4)", "avx2": "AVX2 and FMA (x86-64-v3)", "generic": "nothing"}

# the functions of each path this CPU runs, by path name, best first
_PATH_FUNCTIONS = {name: SimpleNamespace(**functions) for name, functions in (
    _kernels.paths.items() if _kernels is not None else ())}

# a product with more rows than this goes to numpy's BLAS, which can use several threads on it (at 64
# rows x 512 x 128 two OpenBLAS threads already beat the one-thread kernel)
SMALL_GEMM_MAX_ROWS = 48
MAX_FACTORS = 16  # transposed_gemm takes at most this many arrays side by side


# ---- when a compiled version applies --------------------------------------------------------------


def _float(dtype, **facts) -> bool:
    return dtype in (numpy.float32, numpy.float64)


def _flat_float(dtype, flat: bool, **facts) -> bool:
    """float32 or float64 arrays, all of that dtype, each 1-D and contiguous."""
    return flat and _float(dtype)


def _windows_apart(dtype, kernel, stride, **facts) -> bool:
    """Pooling windows that do not overlap (stride >= kernel). Overlapping ones, at small images, the
    twin's whole-batch passes beat the kernel's short rows (64 x 16 x 29 x 29, 3 x 3 windows 2 apart:
    2.1 ms against 3.1 on avx512 and 3.5 on avx2). float32 2 x 2 windows 2 apart take csrc/pools.h's
    vector loop (64 x 6 x 24 x 24 forward: 22 us on avx512, 29 on avx2; the general loop 259 and 217)."""
    return _float(dtype) and all(s >= k for s, k in zip(stride, kernel, strict=True))


def _float32(dtype, **facts) -> bool:
    return dtype == numpy.float32


def _small_product(dtype, rows: int, **facts) -> bool:
    """float32, and few rows: more go to the BLAS, which splits them over its threads."""
    return dtype == numpy.float32 and rows <= SMALL_GEMM_MAX_ROWS


def _whole_sequence(dtype, batch: int, **facts) -> bool:
    """float32 and, on each kernel thread, a block of sequences the small GEMM serves."""
    return dtype == numpy.float32 and batch <= SMALL_GEMM_MAX_ROWS * kernel_threads()


def _packed_product(dtype, factors: int, contiguous_rows: bool, **facts) -> bool:
    """float32 arrays, each with contiguous rows, and at most MAX_FACTORS of them side by side."""
    return dtype == numpy.float32 and contiguous_rows and 0 < factors <= MAX_FACTORS


# ---- the compiled versions, with their twins' arguments ------------------------------------------


def _maxpool_forward(native):
    def maxpool_forward(padded, kernel, stride):
        padded = numpy.ascontiguousarray(padded)
        shape = padded.shape[:2] + twins.pooled_hw(padded.shape, kernel, stride)
        best, argmax = numpy.empty(shape, dtype=padded.dtype), numpy.empty(shape, dtype=numpy.int32)
        native(padded, best, argmax, tuple(kernel), tuple(stride), kernel_threads())
        return best, argmax
    return maxpool_forward


def _maxpool_backward(native):
    def maxpool_backward(g, argmax, padded_shape, kernel, stride):
        out = numpy.empty(padded_shape, dtype=g.dtype)  # the kernel zeroes each image in its thread
        native(out, numpy.ascontiguousarray(g), numpy.ascontiguousarray(argmax, dtype=numpy.int32),
               tuple(kernel), tuple(stride), kernel_threads())
        return out
    return maxpool_backward


def _avgpool_forward(native):
    def avgpool_forward(padded, kernel, stride):
        padded = numpy.ascontiguousarray(padded)
        mean = numpy.empty(padded.shape[:2] + twins.pooled_hw(padded.shape, kernel, stride), dtype=padded.dtype)
        native(padded, mean, tuple(kernel), tuple(stride), kernel_threads())
        return mean
    return avgpool_forward


def _avgpool_backward(native):
    def avgpool_backward(g, padded_shape, kernel, stride):
        out = numpy.empty(padded_shape, dtype=g.dtype)  # the kernel zeroes each image in its thread
        native(out, numpy.ascontiguousarray(g), tuple(kernel), tuple(stride), kernel_threads())
        return out
    return avgpool_backward


def _transposed_gemm(native):
    def transposed_gemm(factors, b):
        widths = [a.shape[1] for a in factors]
        out = numpy.empty((sum(widths), b.shape[1]), dtype=numpy.float32)
        native(list(factors), b, out, False, kernel_threads())
        bounds = numpy.cumsum([0] + widths)
        return [out[start:stop] for start, stop in pairwise(bounds)]
    return transposed_gemm


# the activations the compiled convolution applies as it writes its output: the kernel's codes
CONV_ACTIVATIONS = {None: 0, "relu": 1, "leaky_relu": 2}


def _conv2d_forward(native):
    def conv2d_forward(x, w, bias, geo, keep_for_input_grad, activation=None, parameter=0.0):
        x, w = numpy.ascontiguousarray(x), numpy.ascontiguousarray(w)
        out = numpy.empty((x.shape[0], w.shape[0]) + tuple(geo.out), dtype=numpy.float32)
        native(x, w, None if bias is None else numpy.ascontiguousarray(bias), out, tuple(geo.stride),
               (geo.pads[0], geo.pads[2]), kernel_threads(), CONV_ACTIVATIONS[activation], parameter)
        return out, None  # the vjp makes the columns again, an example at a time
    return conv2d_forward


def _conv2d_vjp(native):
    def conv2d_vjp(g, saved, x, w, geo, input_grad, weight_grad, bias_grad, activation=None, parameter=0.0, a=None):
        g, x, w = (numpy.ascontiguousarray(v) for v in (g, x, w))
        gx = numpy.empty_like(x) if input_grad else None
        gw = numpy.empty_like(w) if weight_grad else None
        gb = numpy.empty(w.shape[0], dtype=numpy.float32) if bias_grad else None
        native(g, x, w, gx, gw, gb, tuple(geo.stride), (geo.pads[0], geo.pads[2]), kernel_threads(),
               None if a is None else numpy.ascontiguousarray(a), CONV_ACTIVATIONS[activation], parameter)
        return gx, gw, gb
    return conv2d_vjp


def _without_work(native):
    """The kernel, taking (and ignoring) the twin's last argument, a work array."""
    return lambda *args: native(*args[:-1])


def _without_scratch(native, at: int):
    """The kernel, taking (and ignoring) the twin's scratch array at position `at`."""
    return lambda *args: native(*args[:at], *args[at + 1:])


def _as_is(native):
    return native


# ---- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernel:
    """One accelerated computation: `twin(xp, *args)`, the reference for any array module; the compiled
    version, `adapt(the path's C function `native`)`, taking the same *args; and when that applies: on
    the paths in `where` that have `native`, to the calls for which `applies(dtype, **facts)` holds."""

    name: str
    twin: Callable
    native: str
    applies: Callable[..., bool] = _float
    adapt: Callable = _as_is
    where: tuple[str, ...] = PATHS
    cuda: Callable | None = None  # the CUDA version, `cuda(kernels, xp, *args)`: cuda/entries.py


TABLE: dict[str, Kernel] = {kernel.name: kernel for kernel in (
    # without vector selects (SSE2) the one pass loses to numpy's passes over int8 offsets: 2-4x slower
    Kernel("maxpool_forward", twins.maxpool_forward, "maxpool_forward", _windows_apart, _maxpool_forward,
           where=VECTOR_PATHS, cuda=cuda_entries.maxpool_forward),
    Kernel("maxpool_backward", twins.maxpool_backward, "maxpool_backward", adapt=_maxpool_backward,
           cuda=cuda_entries.maxpool_backward),
    Kernel("avgpool_forward", twins.avgpool_forward, "avgpool_forward", adapt=_avgpool_forward),
    Kernel("avgpool_backward", twins.avgpool_backward, "avgpool_backward", adapt=_avgpool_backward),
    # float64 keeps the twin: numpy's BLAS there, and the float64 gradient checks against it
    Kernel("conv2d_forward", twins.conv2d_forward, "conv2d_forward", _float32, _conv2d_forward, where=VECTOR_PATHS),
    Kernel("conv2d_vjp", twins.conv2d_vjp, "conv2d_backward", _float32, _conv2d_vjp, where=VECTOR_PATHS),
    Kernel("col2im_batch_last", twins.col2im_batch_last, "", where=(), cuda=cuda_entries.col2im_batch_last),
    Kernel("gibbs_sweep", twins.gibbs_sweep, "", where=(), cuda=cuda_entries.gibbs_sweep),
    Kernel("softmax_xent_rows", twins.softmax_xent_rows, "", where=(), cuda=cuda_entries.softmax_xent_rows),
    Kernel("softmax_xent_rows_vjp", twins.softmax_xent_rows_vjp, "", where=(),
           cuda=cuda_entries.softmax_xent_rows_vjp),
    Kernel("bias_activation", twins.bias_activation, "", where=(), cuda=cuda_entries.bias_activation),
    Kernel("add_activation_vjp", twins.add_activation_vjp, "", where=(), cuda=cuda_entries.add_activation_vjp),
    Kernel("sgd", twins.sgd, "sgd", _flat_float, partial(_without_scratch, at=3), cuda=cuda_entries.sgd),
    Kernel("adam", twins.adam, "adam", _flat_float, partial(_without_scratch, at=4), cuda=cuda_entries.adam),
    # without FMA instructions float32 tanh's FMAs are libm calls: 10x slower than the twin (float64's
    # libm tanh: 6x)
    Kernel("lstm_step_forward", twins.lstm_step_forward, "lstm_forward", adapt=_without_work, where=VECTOR_PATHS,
           cuda=cuda_entries.lstm_step_forward),
    Kernel("lstm_step_backward", twins.lstm_step_backward, "lstm_backward", adapt=_without_work,
           cuda=cuda_entries.lstm_step_backward),
    Kernel("small_gemm", twins.small_gemm, "small_gemm", _small_product,
           adapt=lambda native: lambda a, b, out, accumulate, scratch=None: native(a, b, out, accumulate)),
    Kernel("transposed_gemm", twins.transposed_gemm, "transposed_gemm", _packed_product, _transposed_gemm),
    *(Kernel(name, getattr(sequence_twins, name), name, _whole_sequence, cuda=getattr(cuda_entries, name))
      for name in ("lstm_sequence_forward", "lstm_sequence_backward", "gru_sequence_forward",
                   "gru_sequence_backward", "mgu_sequence_forward", "mgu_sequence_backward", "elman_sequence_forward",
                   "elman_sequence_backward")),
)}

_compiled: dict[tuple[str, str], Callable] = {}  # (entry, path) -> its compiled version, made once


def get(name: str, xp: Any, *, dtype, **facts) -> Callable:
    """The implementation of entry `name` for arrays of module `xp` and this `dtype` (and the entry's
    facts: `rows`, `batch`, ...): the compiled version on the current path where it applies, else the
    twin with `xp` bound."""
    kernel = TABLE[name]
    chosen = path(xp)
    if chosen == CUDA:
        if kernel.cuda is not None and _float(numpy.dtype(dtype)):
            return partial(kernel.cuda, kernels_for(xp, dtype), xp)
        return partial(kernel.twin, xp)
    if _compiled_applies(kernel, chosen, dtype, facts):
        return compiled(name, chosen)
    return partial(kernel.twin, xp)


def runs_compiled(name: str, xp: Any, *, dtype, **facts) -> bool:
    """Whether `get` gives entry `name`'s compiled CPU version now (for a plan that is made to suit it)."""
    return _compiled_applies(TABLE[name], path(xp), dtype, facts)


def _compiled_applies(kernel: Kernel, chosen: str, dtype, facts: dict) -> bool:
    return chosen in kernel.where and has_compiled(kernel.name, chosen) and kernel.applies(numpy.dtype(dtype), **facts)


def compiled(name: str, path_name: str) -> Callable:
    """Entry `name`'s compiled version on path `path_name` (one this CPU runs and that has it)."""
    key = (name, path_name)
    if key not in _compiled:
        kernel = TABLE[name]
        _compiled[key] = kernel.adapt(getattr(_PATH_FUNCTIONS[path_name], kernel.native))
    return _compiled[key]


def has_compiled(name: str, path_name: str) -> bool:
    """Whether path `path_name` runs on this CPU and has a compiled version of entry `name`."""
    return path_name in _PATH_FUNCTIONS and hasattr(_PATH_FUNCTIONS[path_name], TABLE[name].native)


# ---- which path --------------------------------------------------------------------------------------


_OFF, _ON = ("0", "off", "false", "no"), ("1", "on", "true", "yes", "")


def _switched_off() -> bool:
    value = os.environ.get(KERNELS_SWITCH, "1").strip().lower()
    if value in _OFF:
        return True
    if value not in _ON:  # `NNGRAPH_KERNELS=maybe` ran the compiled kernels without a word
        raise BackendError(f"{KERNELS_SWITCH}={value}: expected 0 (the numpy twins) or 1 (the compiled kernels)",
                           hint=f"set {KERNELS_SWITCH}=0 or 1, or unset it")
    return False


def path(xp: Any = numpy) -> str:
    """The path arrays of module `xp` take now: a compiled path's name, "cuda" or "twins"."""
    if _switched_off():
        return TWINS
    if xp is not numpy:
        return CUDA
    forced = os.environ.get(ISA_SWITCH)  # read as rarely as may be: each read costs ~0.7 us
    forced = forced.strip().lower() if forced else forced
    if forced == CUDA:
        return CUDA
    if not _PATH_FUNCTIONS:
        return TWINS
    if not forced:
        return next(iter(_PATH_FUNCTIONS))
    if forced not in _PATH_FUNCTIONS:
        raise _refusal(forced)
    return forced


def _refusal(forced: str) -> BackendError:
    if forced not in PATHS:
        return BackendError(f"{ISA_SWITCH}={forced}: not a path",
                            hint=did_you_mean(forced, (*PATHS, CUDA)) or f"the paths: {', '.join((*PATHS, CUDA))}")
    return BackendError(f"{ISA_SWITCH}={forced}: {unavailable()[forced]}",
                        hint=f"paths this CPU runs: {', '.join(runnable())}")


def runnable() -> tuple[str, ...]:
    """The compiled paths this CPU runs, best first (none without the extension)."""
    return tuple(_PATH_FUNCTIONS)


def unavailable() -> dict[str, str]:
    """Each compiled path this machine cannot run, with the reason."""
    if _kernels is None:
        return {name: _IMPORT_FAILURE for name in PATHS}
    return {name: (f"this CPU lacks {NEEDS[name]}" if name in _kernels.built_paths
                   else "not in this build (the compiler cannot target it)")
            for name in PATHS if name not in _PATH_FUNCTIONS}


def splits_work(xp: Any) -> bool:
    """Whether kernels that split their work over threads run for arrays of `xp` now (more than one
    kernel thread, on a path with the whole-sequence kernels and the packed GEMM)."""
    chosen = path(xp)
    return kernel_threads() > 1 and chosen != TWINS and has_compiled("transposed_gemm", chosen)


def status() -> str:
    """Which path is in use for numpy arrays, and why."""
    if _kernels is None:
        return f"compiled CPU kernels: off, numpy twins: {_IMPORT_FAILURE}"
    if _switched_off():
        return f"compiled CPU kernels: off, numpy twins: {KERNELS_SWITCH}={os.environ[KERNELS_SWITCH]}"
    chosen = path(numpy)
    why = (f"forced by {ISA_SWITCH}" if os.environ.get(ISA_SWITCH, "").strip()
           else "the best this CPU runs")
    if chosen == CUDA:
        lines = [f"compiled CPU kernels: none: {ISA_SWITCH}={CUDA} runs the CUDA kernels on the CPU emulator "
                 f"(a test instrument), the other entries their twins"]
    else:
        lines = [f"compiled CPU kernels: {chosen} ({why}; {_kernels.__file__})"]
    lines.append(f"paths this CPU runs: {', '.join(runnable())}")
    lines += [f"not here: {name}: {reason}" for name, reason in unavailable().items()]
    with_cuda = [kernel.name for kernel in TABLE.values() if kernel.cuda is not None]
    lines.append(f"CUDA kernels (cupy arrays): {', '.join(with_cuda)}")
    return "\n".join(lines)


# ---- the weight gradients, as the scans ask for them -----------------------------------------------


def matmul_tn(xp, factors, b) -> list:
    """[a.T @ b for a in factors], for 2-D arrays a (k, m_i) and b (k, n): the gradients of the weights
    that multiply the same rows, summed over many rows (every step of a sequence). Entry
    "transposed_gemm": compiled, one pass over b for all of them on `kernel_threads()` threads, for
    float32 arrays with contiguous rows."""
    arrays = list(factors) + [b]
    dtype = numpy.result_type(*(x.dtype for x in arrays))
    contiguous = all(x.ndim == 2 and x.dtype == dtype and x.strides[1] == x.itemsize for x in arrays)
    return get("transposed_gemm", xp, dtype=dtype, factors=len(arrays) - 1, contiguous_rows=contiguous)(
        factors, b)


# ---- threads ------------------------------------------------------------------------------------------

_threads = 1


def kernel_threads() -> int:
    """How many threads a kernel that splits its work may use."""
    return _threads


def set_kernel_threads(count: int) -> int:
    """Let kernels that split their work use `count` threads (at least 1); returns the previous count."""
    global _threads
    previous, _threads = _threads, max(1, int(count))
    return previous
