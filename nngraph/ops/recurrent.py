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
    hidden = c_prev.shape[1]
    gates = stable_sigmoid(xp, a)  # right for i, f, o; the g block is replaced next
    a_g = slice(2 * hidden, 3 * hidden)
    gates[:, a_g] = xp.tanh(a[:, a_g])
    i, f, g, o = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
    out = xp.empty((c_prev.shape[0], 2 * hidden), dtype=gates.dtype)
    c = out[:, hidden:]
    xp.multiply(f, c_prev, out=c)
    c += i * g
    tanh_c = xp.tanh(c)
    xp.multiply(o, tanh_c, out=out[:, :hidden])
    return out, (gates, tanh_c)


@lstm_gates.vjp
def lstm_gates_vjp(xp, g_out, ctx, inputs, attrs):
    gates, tanh_c = ctx
    c_prev = inputs[1]
    hidden = c_prev.shape[1]
    i, f, g, o = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
    gh, gc = g_out[:, :hidden], g_out[:, hidden:]
    dc = gc + gh * o * (1 - tanh_c * tanh_c)
    da = xp.empty_like(gates)
    xp.multiply(dc * g, i * (1 - i), out=da[:, :hidden])
    xp.multiply(dc * c_prev, f * (1 - f), out=da[:, hidden:2 * hidden])
    xp.multiply(dc * i, 1 - g * g, out=da[:, 2 * hidden:3 * hidden])
    xp.multiply(gh * tanh_c, o * (1 - o), out=da[:, 3 * hidden:])
    return da, dc * f


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

