"""Max and average pooling over (N, C, H, W).

attrs: kernel, stride (defaults to kernel), padding (int or pair, default 0: max
pooling pads with -inf, so a pad never wins; average pooling pads with zeros and
still divides by the whole window, as torch's default count_include_pad does).

Windows may overlap (stride < kernel); the vjp then sums over every window a pixel
belongs to. Both poolings are entries of nngraph.backend.accel: a compiled kernel
(one pass forward and backward, the N * C images split over the kernel threads) or
its numpy twin, which loops over the kh * kw kernel offsets, each step a whole-batch
elementwise op (see windows.py for why).
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import geometry, pad


def _geometry(hw, attrs):
    kernel = attrs["kernel"]
    return geometry(hw, kernel, attrs.get("stride") or kernel, attrs.get("padding", 0))


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


def _unpadded(grad, x_shape, geo):
    """The padded input's gradient cropped to the input's (a view)."""
    (height, width), (top, _, left, _) = x_shape[2:], geo.pads
    return grad[:, :, top:top + height, left:left + width]


@register("maxpool2d", shape=_pool_shape)
def maxpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    padded = pad(xp, x, geo.pads, -float("inf"))
    forward = accel.get("maxpool_forward", xp, dtype=x.dtype, kernel=geo.kernel, stride=geo.stride)
    best, argmax = forward(padded, geo.kernel, geo.stride)
    return best, (argmax, geo, padded.shape)


@maxpool2d.vjp
def _(xp, g, ctx, inputs, attrs):
    argmax, geo, padded_shape = ctx
    grad = accel.get("maxpool_backward", xp, dtype=g.dtype)(g, argmax, padded_shape, geo.kernel, geo.stride)
    return (_unpadded(grad, inputs[0].shape, geo),)


@register("avgpool2d", shape=_pool_shape)
def avgpool2d(xp, inputs, attrs):
    (x,) = inputs
    geo = _geometry(x.shape[2:], attrs)
    padded = pad(xp, x, geo.pads)
    return accel.get("avgpool_forward", xp, dtype=x.dtype)(padded, geo.kernel, geo.stride), (geo, padded.shape)


@avgpool2d.vjp
def _(xp, g, ctx, inputs, attrs):
    geo, padded_shape = ctx
    grad = accel.get("avgpool_backward", xp, dtype=g.dtype)(g, padded_shape, geo.kernel, geo.stride)
    return (_unpadded(grad, inputs[0].shape, geo),)
