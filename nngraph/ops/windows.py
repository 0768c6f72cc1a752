"""Sliding windows shared by convolution and pooling: their geometry, padding, im2col, col2im.

A window view of x (N, C, H, W) is an (N, C, Ho, Wo, kh, kw) strided view: no copy
until a caller asks for one. The view, padding, im2col and the reused scratch arrays
are backend/windows.py's (the convolution's twins use them too), named here as well.

col2im is the adjoint of the window view: it adds window gradients back onto the
image with one strided slice per kernel offset (kh * kw Python steps, each over
the whole batch). Reductions over windows (pooling's twins, backend/twins.py) also
loop over the offsets: numpy reduces tiny trailing axes (a 2x2 window) some 20x
slower than it combines whole (N, C, Ho, Wo) slices elementwise.
"""

from __future__ import annotations

from nngraph.backend.windows import (  # noqa: F401 (named here for the ops)
    SCRATCH_MAX_BYTES,
    Geometry,
    cols_shape,
    im2col,
    pad,
    scratch,
    window_view,
)
from nngraph.errors import ShapeError


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
