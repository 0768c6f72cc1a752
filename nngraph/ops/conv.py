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


@register("conv2d", shape=_conv_shape, params=(1, 2))
def conv2d(xp, inputs, attrs):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    geo = _geometry(x.shape[2:], w.shape, attrs)
    forward = accel.get("conv2d_forward", xp, dtype=x.dtype)
    out, saved = forward(x, w, bias, geo, attrs.get("needs_input_grad", True))
    return out, (geo, saved)


@conv2d.vjp
def _(xp, g, ctx, inputs, attrs):
    (geo, saved), x, w = ctx, inputs[0], inputs[1]
    with_bias = len(inputs) > 2 and inputs[2] is not None
    weight_grad = attrs.get("needs_weight_grad", True)
    gx, gw, gb = accel.get("conv2d_vjp", xp, dtype=g.dtype)(
        g, saved, x, w, geo, attrs.get("needs_input_grad", True), weight_grad, with_bias and weight_grad)
    return (gx, gw) if len(inputs) == 2 else (gx, gw, gb)
