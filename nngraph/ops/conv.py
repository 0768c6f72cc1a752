"""2-D convolution (cross-correlation, as in every framework) by im2col and one GEMM.

x (N, C, H, W), W (F, C, kh, kw), b (F,) or None -> (N, F, Ho, Wo).
attrs: stride (int or pair, default 1), padding (int, pair, "valid" or "same";
"same" needs stride 1; default 0), needs_input_grad (default True; False makes the
vjp skip the GEMM and col2im for x and return None for it, for a data input).
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import col2im, geometry, pad, window_view


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
    geo = _geometry(x.shape[2:], w.shape, attrs)
    n, (ho, wo), f = x.shape[0], geo.out, w.shape[0]
    # windows ordered (N, Ho, Wo, C, kh, kw) so each row of `cols` is one patch
    cols = window_view(xp, pad(xp, x, geo.pads), geo).transpose(0, 2, 3, 1, 4, 5)
    cols = cols.reshape(n * ho * wo, -1)
    out = cols @ w.reshape(f, -1).T
    if len(inputs) > 2 and inputs[2] is not None:
        out += inputs[2]
    # (N*Ho*Wo, F) -> (N, F, Ho, Wo): the transpose is copied once so that
    # the next op reads contiguous memory
    out = xp.ascontiguousarray(out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2))
    return out, (cols, geo)


def _input_grad(xp, g2, w, x_shape, geo):
    f = w.shape[0]
    gcols = (g2 @ w.reshape(f, -1)).reshape((x_shape[0],) + geo.out + w.shape[1:])
    gcols = gcols.transpose(0, 3, 1, 2, 4, 5)  # (N, C, Ho, Wo, kh, kw), as col2im wants
    return col2im(xp, lambda i, j: gcols[..., i, j], x_shape, geo, g2.dtype)


@conv2d.vjp
def _(xp, g, ctx, inputs, attrs):
    cols, geo = ctx
    x, w = inputs[0], inputs[1]
    f = w.shape[0]
    g2 = g.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*Ho*Wo, F)
    gw = (g2.T @ cols).reshape(w.shape)
    gx = _input_grad(xp, g2, w, x.shape, geo) if attrs.get("needs_input_grad", True) else None
    if len(inputs) == 2:
        return gx, gw
    return gx, gw, None if inputs[2] is None else g.sum(axis=(0, 2, 3))
