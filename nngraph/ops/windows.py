"""Sliding windows shared by convolution and pooling: padding, im2col, col2im.

A window view of x (N, C, H, W) is an (N, C, Ho, Wo, kh, kw) strided view: no copy
until a caller asks for one. `im2col` copies it in (N, C, kh, kw, Ho, Wo) order:
the innermost axis then walks along an image row on both sides of the copy, some
2-3x faster than gathering whole patches (N, Ho, Wo, C, kh, kw), and it leaves
each example's columns as one (C*kh*kw, Ho*Wo) matrix, so a convolution is one
batched GEMM whose result already is (N, F, Ho, Wo).

col2im is the adjoint of the window view: it adds window gradients back onto the
image with one strided slice per kernel offset (kh * kw Python steps, each over
the whole batch). Reductions over windows also loop over the offsets: numpy
reduces tiny trailing axes (a 2x2 window) some 20x slower than it combines whole
(N, C, Ho, Wo) slices elementwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from nngraph.errors import ShapeError

SCRATCH_MAX_BYTES = 1 << 26  # larger temporaries are allocated afresh every time
_spare: dict[tuple, list] = {}  # (shape, dtype) -> idle numpy scratch arrays


class Geometry(NamedTuple):
    """Where the windows lie: kernel, stride, padding (top, bottom, left, right), output size."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    out: tuple[int, int]


def pair(v) -> tuple[int, int]:
    """An int or a 2-sequence as (rows, cols)."""
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _pads(padding, kernel, stride) -> tuple[int, int, int, int]:
    if padding == "same":
        if stride != (1, 1):
            raise ShapeError("padding 'same' needs stride 1",
                             hint="give the padding as a number for strided windows")
        # an even kernel pads one more row/col after than before, as TensorFlow does
        rows, cols = kernel[0] - 1, kernel[1] - 1
        return rows // 2, rows - rows // 2, cols // 2, cols - cols // 2
    if padding == "valid":
        return 0, 0, 0, 0
    ph, pw = pair(padding)
    return ph, ph, pw, pw


def geometry(in_hw, kernel, stride, padding=0) -> Geometry:
    """The window layout over an image of size `in_hw`, or a ShapeError if none fits."""
    kernel, stride = pair(kernel), pair(stride)
    if min(kernel) < 1 or min(stride) < 1:
        raise ShapeError(f"kernel {list(kernel)} and stride {list(stride)} must be positive")
    pads = _pads(padding, kernel, stride)
    if min(pads) < 0:
        raise ShapeError(f"padding must not be negative, got {padding}")
    h = in_hw[0] + pads[0] + pads[1]
    w = in_hw[1] + pads[2] + pads[3]
    if h < kernel[0] or w < kernel[1]:
        raise ShapeError(f"a {kernel[0]}x{kernel[1]} window does not fit a padded "
                         f"{h}x{w} input", hint="use a smaller kernel or more padding")
    out = ((h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
    return Geometry(kernel, stride, pads, out)


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


def _overlapping(geo: Geometry) -> bool:
    return geo.stride[0] < geo.kernel[0] or geo.stride[1] < geo.kernel[1]


def _tiles_exactly(geo: Geometry, padded_hw) -> bool:
    """Whether the windows cover every padded pixel exactly once."""
    return all(s == k and o * s == size
               for s, k, o, size in zip(geo.stride, geo.kernel, geo.out, padded_hw))


def col2im(xp, piece, x_shape, geo: Geometry, dtype):
    """Sum window gradients back onto an (N, C, H, W) image (the adjoint of `window_view`).

    `piece(i, j)` gives the (N, C, Ho, Wo) gradient of the pixels at kernel offset
    (i, j) of every window (anything broadcasting to that shape). The result is a
    view when it had to be cropped. (A convolution's input gradient, whose pieces
    come with the batch innermost, is `backend.accel`'s "col2im_batch_last".)
    """
    n, c, h, w = x_shape
    top, bottom, left, right = geo.pads
    padded_hw = (h + top + bottom, w + left + right)
    # windows that do not overlap write each pixel at most once: plain stores, and
    # no zeroing first when they also leave no pixel out (pooling's usual case)
    make = xp.empty if _tiles_exactly(geo, padded_hw) else xp.zeros
    out = make((n, c) + padded_hw, dtype=dtype)
    (ho, wo), (sh, sw) = geo.out, geo.stride
    for i in range(geo.kernel[0]):
        for j in range(geo.kernel[1]):
            where = (slice(None), slice(None), slice(i, i + sh * ho, sh), slice(j, j + sw * wo, sw))
            if _overlapping(geo):
                out[where] += piece(i, j)
            else:
                out[where] = piece(i, j)
    return out[:, :, top:top + h, left:left + w]


def offsets(geo: Geometry):
    """Every kernel offset (i, j), row by row: the order window positions are numbered in."""
    return [(i, j) for i in range(geo.kernel[0]) for j in range(geo.kernel[1])]
