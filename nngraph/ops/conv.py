"""2-D convolution (cross-correlation, as in every framework) by im2col and a batched GEMM.

x (N, C, H, W), W (F, C, kh, kw), b (F,) or None -> (N, F, Ho, Wo).
attrs: stride (int or pair, default 1), padding (int, pair, "valid" or "same";
"same" needs stride 1; default 0), needs_input_grad (default True; False makes the
vjp skip the GEMM and col2im for x and return None for it, for a data input),
needs_weight_grad (default True; False makes it return None for W and b: a VAE
refining its posterior's moments needs no parameter's gradient).

Speed notes (LeNet at one thread, see benchmarks/conv_ops.py): the forward's columns
are kept in the ctx for the vjp (the numpy backend keeps freed memory in the heap,
see backend/memory.py, so a fresh array per step costs no page faults). Where the vjp
also needs the input's gradient it works with the batch innermost (see
`_both_grads`), and the forward builds its columns that way too: one GEMM and a
transpose of the output. Otherwise the forward runs one GEMM per example on
(C*kh*kw, Ho*Wo) columns, which yields the (N, F, Ho, Wo) output directly.
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.errors import ShapeError
from nngraph.ops.registry import register
from nngraph.ops.windows import cols_shape, geometry, im2col, pad, scratch


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
    n, f = x.shape[0], w.shape[0]
    w2 = w.reshape(f, -1)
    # the columns are kept for the vjp, in the layout it works in: batch innermost where it also needs
    # the input's gradient (see `_both_grads`), else one block per example
    batch_last = attrs.get("needs_input_grad", True)
    cols = xp.empty(cols_shape(x.shape, geo, batch_last), dtype=x.dtype)
    im2col(xp, pad(xp, x, geo.pads), geo, cols, batch_last)
    if batch_last:  # one GEMM, (F, Ho*Wo*N), then back to (N, F, Ho, Wo)
        out = xp.ascontiguousarray((w2 @ cols).reshape((f,) + geo.out + (n,)).transpose(3, 0, 1, 2))
    else:  # one GEMM per example, batched: already the output's layout
        out = xp.matmul(w2, cols).reshape((n, f) + geo.out)
    if len(inputs) > 2 and inputs[2] is not None:
        out += inputs[2][:, None, None]
    return out, (geo, cols, batch_last)


def _weight_grad(xp, g, cols, w):
    """dW alone, for a data input, from the forward's per-example columns."""
    g3 = g.reshape(g.shape[0], g.shape[1], -1)  # (N, F, Ho*Wo)
    # cols @ g^T, not g @ cols^T: OpenBLAS runs the product with cols as the
    # untransposed left operand about 2x faster at LeNet's sizes
    return xp.matmul(cols, g3.transpose(0, 2, 1)).sum(axis=0).T.reshape(w.shape)


def _both_grads(xp, g, cols, x, w, geo, input_grad: bool = True, weight_grad: bool = True):
    """(dx or None, dW or None) from batch-innermost columns: with the batch as the innermost axis of every
    temporary, each product is one GEMM and col2im's strided adds run over Wo * N contiguous numbers
    instead of Wo (3x faster on LeNet's second conv)."""
    f, n = w.shape[0], x.shape[0]
    w2 = w.reshape(f, -1)
    with scratch(xp, cols.shape, x.dtype) as gcols, scratch(xp, (f, cols.shape[1]), g.dtype) as g_t:
        xp.copyto(g_t.reshape(f, *geo.out, n), g.transpose(1, 2, 3, 0))
        gw = (cols @ g_t.T).T.reshape(w.shape) if weight_grad else None
        if not input_grad:
            return None, gw
        xp.matmul(w2.T, g_t, out=gcols)
        pieces = gcols.reshape(w.shape[1:] + geo.out + (n,))  # (C, kh, kw, Ho, Wo, N)
        # contiguous (N, C, H, W): the next vjp (pooling, relu) runs several times slower on a transposed view
        gx = accel.get("col2im_batch_last", xp, dtype=g.dtype)(pieces, x.shape, geo.kernel, geo.stride, geo.pads)
    return gx, gw


@conv2d.vjp
def _(xp, g, ctx, inputs, attrs):
    (geo, cols, batch_last), x, w = ctx, inputs[0], inputs[1]
    input_grad, weight_grad = attrs.get("needs_input_grad", True), attrs.get("needs_weight_grad", True)
    if input_grad and not batch_last:  # the forward was told otherwise: the columns again, batch innermost
        cols = im2col(xp, pad(xp, x, geo.pads), geo, xp.empty(cols_shape(x.shape, geo, True), dtype=x.dtype),
                      batch_last=True)
        batch_last = True
    if batch_last:
        gx, gw = _both_grads(xp, g, cols, x, w, geo, input_grad, weight_grad)
    else:
        gx, gw = None, _weight_grad(xp, g, cols, w) if weight_grad else None
    if len(inputs) == 2:
        return gx, gw
    return gx, gw, None if inputs[2] is None or not weight_grad else g.sum(axis=(0, 2, 3))
