"""2-D convolution (cross-correlation, as in every framework): backend.accel's "conv2d_forward" and
"conv2d_vjp" (compiled for float32 on the vector paths, one example's columns at a time split over the
kernel threads; else the numpy twins, im2col and batched GEMMs).

x (N, C, H, W), W (F, C, kh, kw), b (F,) or None -> (N, F, Ho, Wo).
attrs: stride (int or pair, default 1), padding (int, pair, "valid" or "same";
"same" needs stride 1; default 0), needs_input_grad (default True; False makes the
vjp skip the GEMM and col2im for x and return None for it, for a data input),
needs_weight_grad (default True; False makes it return None for W and b: a VAE
refining its posterior's moments needs no parameter's gradient).

What the forward keeps for the vjp is its implementation's (the twin's columns, nothing for the compiled
one, which makes them again). The twins' speed notes are at backend/twins.py's `conv2d_forward`.

"conv2d_rectified" is conv2d with its unit's rectifier (relu, or leaky_relu with a slope >= 0) applied as
the output is written, and the rectifier's vjp applied to the gradient as the vjp reads it: no separate
pass over the pre-activation either way, and the pre-activation is never kept (its gradient comes from the
output, a > 0 where z > 0). compile/fuse.py's `for_host` makes it where nothing else reads the
pre-activation. attrs: conv2d's, `activation` and its `parameter` (leaky_relu's slope; 0 for relu).
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import geometry


def _geometry(x_hw, w_shape, attrs):
    return geometry(x_hw, w_shape[2:], attrs.get("stride", 1), attrs.get("padding", 0))


def _conv_shape(shapes, attrs):
    x, w = shapes[0], shapes[1]
    bias = shapes[2] if len(shapes) > 2 else None
    if len(x) != 3 or len(w) != 4:
        raise ShapeError(f"conv2d needs an input [channels, height, width] and a weight "
                         f"[filters, channels, kh, kw], got {list(x)} and {list(w)}")
    if x[0] != w[1]:
        raise ShapeError(f"conv2d weight {list(w)} expects {w[1]} input channels, got {x[0]}")
    if bias is not None and bias != (w[0],):
        raise ShapeError(f"a conv2d bias must be [{w[0]}], got {list(bias)}")
    return (w[0],) + _geometry(x[1:], w, attrs).out


CONV_OPS = ("conv2d", "conv2d_rectified", "conv2d_activation")  # every op whose work is a convolution's


def _forward(xp, inputs, attrs, activation=None):
    """(out, the vjp's ctx): the convolution, and `activation` (with attrs' parameter) where one is given."""
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    geo = _geometry(x.shape[2:], w.shape, attrs)
    forward = accel.get("conv2d_forward", xp, dtype=x.dtype)
    rectified = (activation, attrs["parameter"]) if activation else ()
    out, saved = forward(x, w, bias, geo, attrs.get("needs_input_grad", True), *rectified)
    return out, (geo, saved, out if activation else None)


def _vjp(xp, g, ctx, inputs, attrs, activation=None):
    (geo, saved, a), x, w = ctx, inputs[0], inputs[1]
    with_bias = len(inputs) > 2 and inputs[2] is not None
    weight_grad = attrs.get("needs_weight_grad", True)
    rectified = (activation, attrs["parameter"], a) if activation else ()
    gx, gw, gb = accel.get("conv2d_vjp", xp, dtype=g.dtype)(
        g, saved, x, w, geo, attrs.get("needs_input_grad", True), weight_grad, with_bias and weight_grad, *rectified)
    return (gx, gw) if len(inputs) == 2 else (gx, gw, gb)


@register("conv2d", shape=_conv_shape, params=(1, 2))
def conv2d(xp, inputs, attrs):
    return _forward(xp, inputs, attrs)


@conv2d.vjp
def _(xp, g, ctx, inputs, attrs):
    return _vjp(xp, g, ctx, inputs, attrs)


@register("conv2d_rectified", shape=_conv_shape, params=(1, 2))
def conv2d_rectified(xp, inputs, attrs):
    return _forward(xp, inputs, attrs, attrs["activation"])


@conv2d_rectified.vjp
def _(xp, g, ctx, inputs, attrs):
    return _vjp(xp, g, ctx, inputs, attrs, attrs["activation"])
