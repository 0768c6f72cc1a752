"""Max and average pooling over (N, C, H, W); attrs: kernel, stride (defaults to kernel).

Windows may overlap (stride < kernel); the vjp then sums over every window a pixel
belongs to. Both loop over the kh * kw kernel offsets, each step a whole-batch
elementwise op (see windows.py for why).
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import col2im, geometry, offsets, window_view


def _geometry(hw, attrs):
    kernel = attrs["kernel"]
    return geometry(hw, kernel, attrs.get("stride") or kernel)


def _pool_shape(shapes, attrs):
    (x,) = shapes
    if len(x) != 3:
        raise ShapeError(f"pooling needs an input [channels, height, width], got {list(x)}")
    return (x[0],) + _geometry(x[1:], attrs).out


@register("maxpool2d", shape=_pool_shape)
def maxpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    view = window_view(xp, x, geo)
    best = view[..., 0, 0].copy()
    argmax = xp.zeros(best.shape, dtype=xp.int32)  # offset number of each window's max
    for k, (i, j) in enumerate(offsets(geo)[1:], start=1):
        candidate = view[..., i, j]
        better = candidate > best  # strict: the first maximum wins ties, as argmax does
        # offsets only grow, so the last offset that improved is the largest such k:
        # a maximum is several times faster than the masked store argmax[better] = k
        xp.maximum(argmax, xp.multiply(better, k, dtype=xp.int32), out=argmax)
        xp.maximum(best, candidate, out=best)
    return best, (argmax, geo)


@maxpool2d.vjp
def _(xp, g, ctx, inputs, attrs):
    argmax, geo = ctx
    kw = geo.kernel[1]
    return (col2im(xp, lambda i, j: g * (argmax == i * kw + j), inputs[0].shape, geo, g.dtype),)


@register("avgpool2d", shape=_pool_shape)
def avgpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    view = window_view(xp, x, geo)
    total = view[..., 0, 0].copy()
    for i, j in offsets(geo)[1:]:
        total += view[..., i, j]
    total *= 1 / (geo.kernel[0] * geo.kernel[1])
    return total, geo


@avgpool2d.vjp
def _(xp, g, geo, inputs, attrs):
    share = g * (1 / (geo.kernel[0] * geo.kernel[1]))  # every pixel of a window alike
    return (col2im(xp, lambda i, j: share, inputs[0].shape, geo, g.dtype),)
