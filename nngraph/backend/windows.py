"""Sliding windows over (N, C, H, W) arrays of any array module `xp`: a geometry's record, padding, the
strided window view, im2col, and the scratch arrays reused around them. The convolution's twins
(backend/twins.py) and the ops (ops/windows.py, which works a geometry out and adds col2im) share them.

im2col copies the window view in (N, C, kh, kw, Ho, Wo) order: the innermost axis then walks along an image
row on both sides of the copy, some 2-3x faster than gathering whole patches (N, Ho, Wo, C, kh, kw), and it
leaves each example's columns as one (C*kh*kw, Ho*Wo) matrix, so a convolution is one batched GEMM whose
result already is (N, F, Ho, Wo).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

SCRATCH_MAX_BYTES = 1 << 26  # larger temporaries are allocated afresh every time
_spare: dict[tuple, list] = {}  # (shape, dtype) -> idle numpy scratch arrays


class Geometry(NamedTuple):
    """Where the windows lie: kernel, stride, padding (top, bottom, left, right), output size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    out: tuple[int, int]


def pad(xp, x, pads, value=0.0):
    """x with `pads` rows/cols of `value` around each image (x itself when there are none)."""
    if not any(pads):
        return x
    top, bottom, left, right = pads
    return xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def window_view(xp, x, geo: Geometry):
    """The (N, C, Ho, Wo, kh, kw) view of the already padded x; no data is copied."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    shape = (n, c) + geo.out + geo.kernel
    strides = (sn, sc, sh * geo.stride[0], sw * geo.stride[1], sh, sw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


@contextmanager
def scratch(xp, shape, dtype) -> Iterator:
    """An uninitialised array for use inside the `with` block only, reused across calls.

    Why: a fresh multi-megabyte numpy array usually comes from new pages of the
    operating system (glibc returns freed memory at the top of its heap), and
    touching them costs more than the convolution's arithmetic: reusing the
    im2col buffers halved a LeNet training step. Each array is lent to one holder
    at a time, so nested or repeated uses never share one. CuPy keeps its own
    memory pool, so there this is a plain allocation.
    """
    key = (tuple(shape), xp.dtype(dtype).str)
    pooled = getattr(xp, "__name__", "") == "numpy"
    idle = _spare.setdefault(key, []) if pooled else []
    buf = idle.pop() if idle else xp.empty(shape, dtype=dtype)
    try:
        yield buf
    finally:
        if pooled and buf.nbytes <= SCRATCH_MAX_BYTES:
            idle.append(buf)


def cols_shape(x_shape, geo: Geometry, batch_last: bool = False) -> tuple[int, ...]:
    """The shape `im2col` fills: (N, C*kh*kw, Ho*Wo), or (C*kh*kw, Ho*Wo*N) with `batch_last`."""
    n, c = x_shape[:2]
    rows, windows = c * geo.kernel[0] * geo.kernel[1], geo.out[0] * geo.out[1]
    return (rows, windows * n) if batch_last else (n, rows, windows)


def im2col(xp, x, geo: Geometry, out, batch_last: bool = False):
    """Copy the windows of the already padded x (N, C, H, W) into `out` (see `cols_shape`).

    Row c*kh*kw + i*kw + j holds pixel (i, j) of channel c of every window, windows
    numbered row by row (and then by example, with `batch_last`): the layout of a
    (F, C, kh, kw) weight. `batch_last` first moves the batch innermost, so the copy
    runs over Wo * N contiguous numbers at a time (N for strides > 1): 3-4x faster
    than the (N, C, kh, kw, Ho, Wo) copy for small images.
    """
    order = (0, 1, 4, 5, 2, 3)  # (N, C, kh, kw, Ho, Wo)
    if batch_last:
        x = xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
        order = (1, 4, 5, 2, 3, 0)  # (C, kh, kw, Ho, Wo, N)
    windows = window_view(xp, x, geo).transpose(order)
    xp.copyto(out.reshape(windows.shape), windows)
    return out
