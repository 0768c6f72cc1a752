"""The gated recurrent cells, for backprop through time.

The input projection x_proj = x @ W + b of every step is computed outside (one GEMM over the whole
sequence). The BPTT executor also keeps the recurrent product h_prev @ U outside the cell, so the gradient
of U is one GEMM over all steps after the backward sweep instead of one small GEMM per step: it calls the
*gate* ops. The *cell* ops are the same step with the product inside, for one-step use and op tests.

lstm_gates(a (N, 4H), c_prev (N, H)) -> [h, c] (N, 2H)
    a is the whole pre-activation x_t W + b + h_(t-1) U. Gate blocks along the last axis in the order
    i, f, g, o (as PyTorch): i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g)
    c = f * c_prev + i * g;   h = o * tanh(c)
    An op has one output, so h and c are returned concatenated: out[:, :H] is h, out[:, H:] is c.

gru_gates(x_proj (N, 3H), hu (N, 3H), h_prev (N, H)) -> h (N, H)
    hu = h_prev @ U. Gate blocks in the order r, z, n, with PyTorch's formulas:
    r = sigmoid(x_r + hu_r);  z = sigmoid(x_z + hu_z)
    n = tanh(x_n + r * hu_n);  h = (1 - z) * n + z * h_prev
    Every bias lives in x_proj: PyTorch's b_hr and b_hz fold into x_r and x_z exactly; its b_hn (inside
    the r * (...) term) has no place here, so this is PyTorch's GRU with b_hn = 0.

lstm_cell(x_proj, h_prev, c_prev, U) and gru_cell(x_proj, h_prev, U): the gates with a = x_proj + h_prev @ U
(lstm) or hu = h_prev @ U (gru) computed inside.

lstm_step_forward / lstm_step_backward: the LSTM step as in-place kernels on preallocated buffers, in the
gate-slot layout described below; the BPTT executor calls them directly and lstm_gates wraps them, so there
is one implementation of the LSTM equations.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.activations import stable_sigmoid
from nngraph.ops.registry import register


def _check(expected, shapes, what):
    if list(shapes) != expected:
        raise ShapeError(f"{what} needs inputs {[list(s) for s in expected]}, got {[list(s) for s in shapes]}")


def _cell_shape(gates: int, has_cell: bool):
    def rule(shapes, attrs):
        h_prev = shapes[1]
        hidden = h_prev[0] if h_prev else 0
        expected = [(gates * hidden,), h_prev] + ([h_prev] if has_cell else [])
        _check(expected + [(hidden, gates * hidden)], shapes, f"a cell of {hidden} units")
        return ((2 if has_cell else 1) * hidden,)

    return rule


def _lstm_gates_shape(shapes, attrs):
    hidden = shapes[1][0] if shapes[1] else 0
    _check([(4 * hidden,), (hidden,)], shapes, f"an lstm of {hidden} units")
    return (2 * hidden,)


def _gru_gates_shape(shapes, attrs):
    hidden = shapes[2][0] if shapes[2] else 0
    _check([(3 * hidden,), (3 * hidden,), (hidden,)], shapes, f"a gru of {hidden} units")
    return (hidden,)


@register("lstm_gates", shape=_lstm_gates_shape)
def lstm_gates(xp, inputs, attrs):
    a, c_prev = inputs
    n, hidden = c_prev.shape
    gates = xp.ascontiguousarray(lstm_slot_params(xp, a).reshape(n, 4, hidden).transpose(1, 0, 2))
    out = xp.empty((n, 2 * hidden), dtype=gates.dtype)
    tanh_c = xp.empty_like(c_prev)
    lstm_step_forward(xp, gates, c_prev, out[:, hidden:], tanh_c, out[:, :hidden], xp.empty_like(c_prev))
    return out, (gates, tanh_c)


@lstm_gates.vjp
def lstm_gates_vjp(xp, g_out, ctx, inputs, attrs):
    gates, tanh_c = ctx
    c_prev = inputs[1]
    n, hidden = c_prev.shape
    dc = xp.ascontiguousarray(g_out[:, hidden:])  # in: gradient of c; out: of c_prev
    da = xp.empty((n, 4 * hidden), dtype=gates.dtype)
    lstm_step_backward(xp, gates, c_prev, tanh_c, g_out[:, :hidden], dc, da,
                       xp.empty((6, n, hidden), dtype=gates.dtype))
    return da, dc


# ---- the fused LSTM step kernels (the BPTT executor calls them with preallocated buffers) -----------
#
# Gate *slots* are the layout the kernels work in: (4, N, H), in the order i, f, o, g, so that every gate
# of a step is one contiguous (N, H) block (numpy is 3-5x slower on the strided column blocks of an
# (N, 4H) array) and the three sigmoid gates are one run. A slot holds its pre-activation with the
# sigmoid slots halved, because sigmoid(x) = 0.5 * tanh(x / 2) + 0.5: one tanh serves all four gates.
# Parameters keep PyTorch's column order i, f, g, o; `lstm_slot_params` reorders and halves a copy.

SLOT_BLOCKS = (0, 1, 3, 2)  # the parameter column block (i, f, g, o = 0..3) that each slot holds


def lstm_slot_params(xp, w):
    """A copy of w (..., 4H) with its column blocks in slot order and the sigmoid slots halved: then
    x @ result (or result itself, for a bias) is a pre-activation in slot order, as the kernels take it."""
    hidden = w.shape[-1] // 4
    out = xp.empty(w.shape, dtype=w.dtype)
    for slot, block in enumerate(SLOT_BLOCKS):  # block copies: no index arrays, and a C-contiguous result
        source, target = w[..., block * hidden:(block + 1) * hidden], out[..., slot * hidden:(slot + 1) * hidden]
        if slot < 3:
            xp.multiply(source, 0.5, out=target)
        else:
            target[...] = source
    return out


def lstm_step_forward(xp, gates, c_prev, c, tanh_c, h, scratch) -> None:
    """One step. gates (4, N, H): slot pre-activations in, gate values out (kept for the backward);
    writes c, tanh(c) and h = o * tanh(c), each (N, H); scratch (N, H) is overwritten."""
    xp.tanh(gates, out=gates)
    sigmoids = gates[:3]
    sigmoids *= 0.5
    sigmoids += 0.5
    i, f, o, g = gates
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=scratch)
    c += scratch
    xp.tanh(c, out=tanh_c)
    xp.multiply(o, tanh_c, out=h)


def lstm_step_backward(xp, gates, c_prev, tanh_c, dh, dc, da, work) -> None:
    """The vjp of one step. dh (N, H): gradient of h. dc (N, H): in, the gradient of c from later steps;
    out, the gradient of c_prev. Writes da (N, 4H), the pre-activation gradient in parameter column
    order. work (6, N, H) is overwritten."""
    hidden = dh.shape[1]
    i, f, o, g = gates
    slope, dc_total, tmp = work[:4], work[4], work[5]
    xp.multiply(gates, gates, out=slope)
    xp.subtract(gates[:3], slope[:3], out=slope[:3])  # s (1 - s) for the sigmoid gates
    xp.subtract(1, slope[3], out=slope[3])  # 1 - g^2
    xp.multiply(tanh_c, tanh_c, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    xp.add(tmp, dc, out=dc_total)
    for block, (value, other, d_slope) in enumerate(((dc_total, g, 0), (dc_total, c_prev, 1),
                                                     (dc_total, i, 3), (dh, tanh_c, 2))):
        xp.multiply(value, other, out=tmp)
        xp.multiply(tmp, slope[d_slope], out=da[:, block * hidden:(block + 1) * hidden])
    xp.multiply(dc_total, f, out=dc)


@register("gru_gates", shape=_gru_gates_shape)
def gru_gates(xp, inputs, attrs):
    x_proj, hu, h_prev = inputs
    hidden = h_prev.shape[1]
    rz = stable_sigmoid(xp, x_proj[:, :2 * hidden] + hu[:, :2 * hidden])
    r, z = rz[:, :hidden], rz[:, hidden:]
    hu_n = hu[:, 2 * hidden:]
    n = xp.tanh(x_proj[:, 2 * hidden:] + r * hu_n)
    out = h_prev - n
    out *= z
    out += n  # (1 - z) * n + z * h_prev
    return out, (rz, n)


@gru_gates.vjp
def gru_gates_vjp(xp, g, ctx, inputs, attrs):
    rz, n = ctx
    _, hu, h_prev = inputs
    hidden = h_prev.shape[1]
    r, z = rz[:, :hidden], rz[:, hidden:]
    hu_n = hu[:, 2 * hidden:]
    gx = xp.empty_like(hu)
    da_n = gx[:, 2 * hidden:]
    xp.multiply(g * (1 - z), 1 - n * n, out=da_n)
    xp.multiply(da_n * hu_n, r * (1 - r), out=gx[:, :hidden])
    xp.multiply(g * (h_prev - n), z * (1 - z), out=gx[:, hidden:2 * hidden])
    ghu = gx.copy()
    ghu[:, 2 * hidden:] *= r
    return gx, ghu, g * z


@register("lstm_cell", shape=_cell_shape(4, has_cell=True), params=(3,))
def lstm_cell(xp, inputs, attrs):
    x_proj, h_prev, c_prev, u = inputs
    return lstm_gates(xp, (x_proj + h_prev @ u, c_prev), attrs)


@lstm_cell.vjp
def _(xp, g_out, ctx, inputs, attrs):
    _, h_prev, c_prev, u = inputs
    da, dc_prev = lstm_gates_vjp(xp, g_out, ctx, (None, c_prev), attrs)
    return da, da @ u.T, dc_prev, h_prev.T @ da


@register("gru_cell", shape=_cell_shape(3, has_cell=False), params=(2,))
def gru_cell(xp, inputs, attrs):
    x_proj, h_prev, u = inputs
    hu = h_prev @ u
    out, ctx = gru_gates(xp, (x_proj, hu, h_prev), attrs)
    return out, (ctx, hu)


@gru_cell.vjp
def _(xp, g, ctx, inputs, attrs):
    gates_ctx, hu = ctx
    x_proj, h_prev, u = inputs
    gx, ghu, gh = gru_gates_vjp(xp, g, gates_ctx, (x_proj, hu, h_prev), attrs)
    return gx, gh + ghu @ u.T, h_prev.T @ ghu

