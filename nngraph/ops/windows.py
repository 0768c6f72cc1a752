"""Sliding windows shared by convolution and pooling: padding, im2col views, col2im.

A window view of x (N, C, H, W) is an (N, C, Ho, Wo, kh, kw) strided view: no copy
until a caller reshapes it. col2im is its adjoint: it adds window gradients back
onto the image with one strided slice per kernel offset (kh * kw Python steps,
each over the whole batch). Reductions over windows also loop over the offsets:
numpy reduces tiny trailing axes (a 2x2 window) some 20x slower than it combines
whole (N, C, Ho, Wo) slices elementwise.
"""

from __future__ import annotations

from typing import NamedTuple

from nngraph.errors import ShapeError


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


def pad(xp, x, pads):
    if not any(pads):
        return x
    top, bottom, left, right = pads
    return xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def window_view(xp, x, geo: Geometry):
    """The (N, C, Ho, Wo, kh, kw) view of the already padded x; no data is copied."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.strides
    shape = (n, c) + geo.out + geo.kernel
    strides = (sn, sc, sh * geo.stride[0], sw * geo.stride[1], sh, sw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def col2im(xp, piece, x_shape, geo: Geometry, dtype):
    """Sum window gradients back onto an (N, C, H, W) image (the adjoint of `window_view`).

    `piece(i, j)` gives the (N, C, Ho, Wo) gradient of the pixels at kernel offset
    (i, j) of every window (anything broadcasting to that shape).
    """
    n, c, h, w = x_shape
    top, bottom, left, right = geo.pads
    out = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=dtype)
    (ho, wo), (sh, sw) = geo.out, geo.stride
    for i in range(geo.kernel[0]):
        for j in range(geo.kernel[1]):
            out[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += piece(i, j)
    return out[:, :, top:top + h, left:left + w]


def offsets(geo: Geometry):
    """Every kernel offset (i, j), row by row: the order window positions are numbered in."""
    return [(i, j) for i in range(geo.kernel[0]) for j in range(geo.kernel[1])]
