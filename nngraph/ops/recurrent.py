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

The step's equations live in one place, nngraph/backend (the compiled kernels and their numpy twins, in
the gate-slot layout twins.py describes): lstm_gates asks `accel` for the LSTM step, gru_gates calls the
GRU step's twin.
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.backend.twins import gru_step_backward, gru_step_forward, lstm_slot_params
from nngraph.errors import ShapeError
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
    gates = xp.empty((4, n, hidden), dtype=a.dtype)
    c, tanh_c, h = (xp.empty_like(c_prev) for _ in range(3))
    step = accel.get("lstm_step_forward", xp, dtype=a.dtype)
    step(lstm_slot_params(xp, a), None, xp.ascontiguousarray(c_prev), gates, c, tanh_c, h, xp.empty_like(c_prev))
    return xp.concatenate([h, c], axis=1), (gates, tanh_c)


@lstm_gates.vjp
def lstm_gates_vjp(xp, g_out, ctx, inputs, attrs):
    gates, tanh_c = ctx
    c_prev = inputs[1]
    n, hidden = c_prev.shape
    dc = xp.ascontiguousarray(g_out[:, hidden:])  # in: gradient of c; out: of c_prev
    da = xp.empty((n, 4 * hidden), dtype=gates.dtype)
    step = accel.get("lstm_step_backward", xp, dtype=gates.dtype)
    step(gates, xp.ascontiguousarray(c_prev), tanh_c, xp.ascontiguousarray(g_out[:, :hidden]), dc, da,
         xp.empty((6, n, hidden), dtype=gates.dtype))
    return da, dc


@register("gru_gates", shape=_gru_gates_shape)
def gru_gates(xp, inputs, attrs):
    x_proj, hu, h_prev = inputs
    n, hidden = h_prev.shape
    rz, candidate, out = (xp.empty((n, width * hidden), dtype=hu.dtype) for width in (2, 1, 1))
    gru_step_forward(xp, x_proj, hu, h_prev, rz, candidate, out)
    return out, (rz, candidate)


@gru_gates.vjp
def gru_gates_vjp(xp, g, ctx, inputs, attrs):
    rz, candidate = ctx
    _, hu, h_prev = inputs
    gx, ghu, gh = xp.empty_like(hu), xp.empty_like(hu), xp.zeros_like(h_prev)
    gru_step_backward(xp, g, rz, candidate, hu, h_prev, gx, ghu, gh)
    return gx, ghu, gh


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

