"""Upsampling over (N, C, H, W): interpolation, transposed convolution and pixel shuffle.

- `upsample2d` (attrs factor, an int or pair; mode nearest, bilinear or bicubic): each axis is scaled by a
  small interpolation matrix, out = A_h x A_w^T, so the vjp is the same two products transposed. Pixel
  centres are aligned (ONNX Resize's `half_pixel`, PyTorch's `align_corners=False`); a tap that falls
  outside the image reads the edge pixel. Bicubic uses Keys' kernel with a = -0.5 (MATLAB's, Pillow's).
- `conv_transpose2d` (attrs stride, padding): x (N, C, H, W), W (C, F, kh, kw) as PyTorch and ONNX lay it
  out, b (F,) -> (N, F, (H - 1) s - 2 p + kh, ...). It is the adjoint of `conv2d` with respect to its
  input: each input pixel scatters W's kernel onto the output (col2im), and its vjp is a plain convolution
  of the cotangent (im2col), so no zeros are ever inserted between pixels.
- `pixel_shuffle` (attrs factor r): (N, C r^2, H, W) -> (N, C, H r, W r), ESPCN's sub-pixel convolution
  step: out[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w] (PyTorch's and ONNX DepthToSpace's CRD).
"""

from __future__ import annotations

import numpy

from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import col2im, cols_shape, geometry, im2col, pad, pair

MODES = ("nearest", "bilinear", "bicubic")
CUBIC_A = -0.5


def _image(x, what: str):
    if x is None or len(x) != 3:
        raise ShapeError(f"{what} needs an input [channels, height, width], got {list(x or ())}")
    return x


def _factor(attrs, what: str) -> tuple[int, int]:
    factor = pair(attrs.get("factor", 2))
    if min(factor) < 1:
        raise ShapeError(f"{what} factor {list(factor)} must be at least 1")
    return factor


# ---- interpolation ---------------------------------------------------------------------------------


def _cubic(t):
    """Keys' cubic convolution kernel at distances |t|."""
    t, a = numpy.abs(t), CUBIC_A
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return numpy.where(t <= 1, near, numpy.where(t < 2, far, 0.0))


def interpolation_matrix(size: int, factor: int, mode: str) -> numpy.ndarray:
    """The (size * factor, size) float64 matrix that resizes one axis: row o holds the weights of the source
    pixels that output pixel o reads (half-pixel centres, edge pixels repeated beyond the border)."""
    if mode not in MODES:
        raise ShapeError(f"upsampling mode '{mode}' is not one of {', '.join(MODES)}")
    out = numpy.arange(size * factor)
    matrix = numpy.zeros((len(out), size))
    if mode == "nearest":
        matrix[out, out // factor] = 1.0
        return matrix
    centre = (out + 0.5) / factor - 0.5  # where each output pixel lies on the source axis
    base = numpy.floor(centre).astype(int)
    taps = (0, 1) if mode == "bilinear" else (-1, 0, 1, 2)
    for tap in taps:
        source = base + tap
        distance = centre - source
        weight = 1 - numpy.abs(distance) if mode == "bilinear" else _cubic(distance)
        numpy.add.at(matrix, (out, numpy.clip(source, 0, size - 1)), weight)
    return matrix


def resize(x: numpy.ndarray, factor, mode: str) -> numpy.ndarray:
    """Images (..., H, W) scaled by `factor` (an int or pair) with `mode`, on the host, in x's dtype."""
    fh, fw = pair(factor)
    rows = interpolation_matrix(x.shape[-2], fh, mode).astype(x.dtype)
    cols = interpolation_matrix(x.shape[-1], fw, mode).astype(x.dtype)
    return rows @ x @ cols.T


def _upsample_shape(shapes, attrs):
    c, h, w = _image(shapes[0], "upsample")
    fh, fw = _factor(attrs, "upsample")
    if attrs.get("mode", "nearest") not in MODES:
        raise ShapeError(f"upsample mode '{attrs['mode']}' is not one of {', '.join(MODES)}")
    return (c, h * fh, w * fw)


def _matrices(xp, x_shape, attrs, dtype):
    (fh, fw), mode = _factor(attrs, "upsample"), attrs.get("mode", "nearest")
    return (xp.asarray(interpolation_matrix(x_shape[-2], fh, mode), dtype=dtype),
            xp.asarray(interpolation_matrix(x_shape[-1], fw, mode), dtype=dtype))


@register("upsample2d", shape=_upsample_shape)
def upsample2d(xp, inputs, attrs):
    (x,) = inputs
    rows, cols = _matrices(xp, x.shape, attrs, x.dtype)
    return xp.matmul(xp.matmul(rows, x), cols.T), (rows, cols)


@upsample2d.vjp
def _(xp, g, ctx, inputs, attrs):
    rows, cols = ctx
    return (xp.matmul(xp.matmul(rows.T, g), cols),)


# ---- transposed convolution ------------------------------------------------------------------------


def transposed_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """The output length of a transposed convolution along one axis (PyTorch's, without output padding)."""
    return (size - 1) * stride - 2 * padding + kernel


def _transposed_geometry(x_hw, w_shape, attrs):
    """The geometry of the convolution this op is the adjoint of: windows over the output, one per input
    pixel."""
    kernel, stride, padding = w_shape[2:], pair(attrs.get("stride", 1)), pair(attrs.get("padding", 0))
    out = tuple(transposed_size(n, k, s, p) for n, k, s, p in zip(x_hw, kernel, stride, padding))
    if min(out) < 1:
        raise ShapeError(f"a transposed convolution of a {list(x_hw)} input with kernel {list(kernel)}, stride "
                         f"{list(stride)} and padding {list(padding)} leaves no output",
                         hint="use less padding")
    return out, geometry(out, kernel, stride, padding)


def _conv_transpose_shape(shapes, attrs):
    x, w = _image(shapes[0], "conv_transpose2d"), shapes[1]
    bias = shapes[2] if len(shapes) > 2 else None
    if w is None or len(w) != 4:
        raise ShapeError(f"conv_transpose2d needs a weight [channels, filters, kh, kw], got {list(w or ())}")
    if x[0] != w[0]:
        raise ShapeError(f"conv_transpose2d weight {list(w)} expects {w[0]} input channels, got {x[0]}")
    if bias is not None and bias != (w[1],):
        raise ShapeError(f"a conv_transpose2d bias must be [{w[1]}], got {list(bias)}")
    out, _ = _transposed_geometry(x[1:], w, attrs)
    return (w[1],) + out


@register("conv_transpose2d", shape=_conv_transpose_shape, params=(1, 2))
def conv_transpose2d(xp, inputs, attrs):
    x, w = inputs[0], inputs[1]
    (n, c, h, wd), f = x.shape, w.shape[1]
    out_hw, geo = _transposed_geometry((h, wd), w.shape, attrs)
    # each input pixel times the kernel: (N, F*kh*kw, H*W), then every kernel offset added onto the output
    cols = xp.matmul(w.reshape(c, -1).T, x.reshape(n, c, h * wd))
    pieces = cols.reshape(n, f, *w.shape[2:], h, wd)
    out = col2im(xp, lambda i, j: pieces[:, :, i, j], (n, f) + out_hw, geo, x.dtype)
    out = xp.ascontiguousarray(out)
    if len(inputs) > 2 and inputs[2] is not None:
        out += inputs[2][:, None, None]
    return out, geo


@conv_transpose2d.vjp
def _(xp, g, geo, inputs, attrs):
    x, w = inputs[0], inputs[1]
    n, c = x.shape[:2]
    # the cotangent's windows, one per input pixel: (N, F*kh*kw, H*W)
    cols = im2col(xp, pad(xp, g, geo.pads), geo, xp.empty(cols_shape(g.shape, geo), dtype=g.dtype))
    gx = xp.matmul(w.reshape(c, -1), cols).reshape(x.shape)
    gw = xp.matmul(x.reshape(n, c, -1), cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    if len(inputs) == 2:
        return gx, gw
    return gx, gw, None if inputs[2] is None else g.sum(axis=(0, 2, 3))


# ---- pixel shuffle -----------------------------------------------------------------------------------


def _pixel_shuffle_shape(shapes, attrs):
    c, h, w = _image(shapes[0], "pixel_shuffle")
    r = attrs.get("factor", 2)
    if not isinstance(r, int) or r < 1:
        raise ShapeError(f"pixel_shuffle factor must be a whole number >= 1, got {r}")
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle by {r} needs channels in multiples of {r * r}, got {c}",
                         hint=f"give the layer before it {r * r} x the channels wanted")
    return (c // (r * r), h * r, w * r)


@register("pixel_shuffle", shape=_pixel_shuffle_shape)
def pixel_shuffle(xp, inputs, attrs):
    (x,) = inputs
    (n, c, h, w), r = x.shape, attrs.get("factor", 2)
    moved = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
    return xp.ascontiguousarray(moved).reshape(n, c // (r * r), h * r, w * r), None


@pixel_shuffle.vjp
def _(xp, g, ctx, inputs, attrs):
    (n, c, h, w), r = inputs[0].shape, attrs.get("factor", 2)
    moved = g.reshape(n, c // (r * r), h, r, w, r).transpose(0, 1, 3, 5, 2, 4)
    return (xp.ascontiguousarray(moved).reshape(n, c, h, w),)

