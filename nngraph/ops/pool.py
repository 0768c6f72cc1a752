"""Max and average pooling over (N, C, H, W).

attrs: kernel, stride (defaults to kernel), padding (int or pair, default 0: max
pooling pads with -inf, so a pad never wins; average pooling pads with zeros and
still divides by the whole window, as torch's default count_include_pad does).

Windows may overlap (stride < kernel); the vjp then sums over every window a pixel
belongs to. Both loop over the kh * kw kernel offsets, each step a whole-batch
elementwise op (see windows.py for why). On numpy, max pooling runs the compiled
kernels of nngraph.backend.kernels instead (one pass forward and backward); these
loops are their twin, for cupy and builds without a compiler.
"""

from __future__ import annotations

from nngraph.backend.kernels import fused_kernels
from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import col2im, geometry, offsets, pad, window_view


def _geometry(hw, attrs):
    kernel = attrs["kernel"]
    return geometry(hw, kernel, attrs.get("stride") or kernel, attrs.get("padding", 0))


def _index_dtype(xp, geo):
    """The smallest integer type that numbers every kernel offset: int8 for any usual
    window, which makes building the argmax about 1.5x faster than int32 does."""
    return xp.int8 if geo.kernel[0] * geo.kernel[1] <= 127 else xp.int32


def _pool_shape(shapes, attrs):
    (x,) = shapes
    if len(x) != 3:
        raise ShapeError(f"pooling needs an input [channels, height, width], got {list(x)}")
    geo = _geometry(x[1:], attrs)
    if any(2 * p > k for p, k in zip(geo.pads[::2], geo.kernel)):
        # a window could then lie wholly in the padding: a max of nothing
        raise ShapeError(f"pooling padding {list(geo.pads[::2])} must be at most half the "
                         f"kernel {list(geo.kernel)}", hint="use a larger kernel or less padding")
    return (x[0],) + geo.out


@register("maxpool2d", shape=_pool_shape)
def maxpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    padded = pad(xp, x, geo.pads, -float("inf"))
    kernels = fused_kernels(xp)
    if kernels is not None and x.dtype.kind == "f":  # the compiled twin: one pass, int32 offsets
        padded = xp.ascontiguousarray(padded)
        best = xp.empty(x.shape[:2] + geo.out, dtype=x.dtype)
        argmax = xp.empty(best.shape, dtype=xp.int32)
        kernels.maxpool_forward(padded, best, argmax, geo.kernel, geo.stride)
        return best, (argmax, geo, kernels)
    view = window_view(xp, padded, geo)
    best = view[..., 0, 0].copy()
    index = _index_dtype(xp, geo)
    argmax = xp.zeros(best.shape, dtype=index)  # offset number of each window's max
    for k, (i, j) in enumerate(offsets(geo)[1:], start=1):
        candidate = view[..., i, j]
        better = candidate > best  # strict: the first maximum wins ties, as argmax does
        # offsets only grow, so the last offset that improved is the largest such k:
        # a maximum is several times faster than the masked store argmax[better] = k
        xp.maximum(argmax, xp.multiply(better, k, dtype=index), out=argmax)
        xp.maximum(best, candidate, out=best)
    return best, (argmax, geo, None)


@maxpool2d.vjp
def _(xp, g, ctx, inputs, attrs):
    argmax, geo, kernels = ctx  # the compiled kernels, where the forward used them
    shape = inputs[0].shape
    if kernels is not None:
        top, bottom, left, right = geo.pads
        out = xp.zeros(shape[:2] + (shape[2] + top + bottom, shape[3] + left + right), dtype=g.dtype)
        kernels.maxpool_backward(out, xp.ascontiguousarray(g), argmax, geo.kernel, geo.stride)
        return (out[:, :, top:top + shape[2], left:left + shape[3]],)
    kw = geo.kernel[1]
    return (col2im(xp, lambda i, j: g * (argmax == i * kw + j), shape, geo, g.dtype),)


@register("avgpool2d", shape=_pool_shape)
def avgpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    view = window_view(xp, pad(xp, x, geo.pads), geo)
    total = view[..., 0, 0].copy()
    for i, j in offsets(geo)[1:]:
        total += view[..., i, j]
    total *= 1 / (geo.kernel[0] * geo.kernel[1])
    return total, geo


@avgpool2d.vjp
def _(xp, g, geo, inputs, attrs):
    share = g * (1 / (geo.kernel[0] * geo.kernel[1]))  # every pixel of a window alike
    return (col2im(xp, lambda i, j: share, inputs[0].shape, geo, g.dtype),)
