"""The gated recurrent cells' steps, for backprop through time (a scan's step calls them).

Every connection into a cell, and its bias, gives x_proj = x_t W + b, computed for all steps at once before
the step loop (the scan's prologue). The recurrent product h_(t-1) U is a `matmul` of the step, so U's
gradient is one product over all steps after the sweep.

lstm_gates(a (N, 4H), c_prev (N, H)) -> [h, c] (N, 2H)
    a is the whole pre-activation x_proj + h_(t-1) U. Gate blocks along the last axis in the order
    i, f, g, o (as PyTorch): i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g)
    c = f * c_prev + i * g;   h = o * tanh(c)
    An op has one output, so h and c are returned concatenated: out[:, :H] is h, out[:, H:] is c.

Every other cell keeps its own recurrence beside its net input, as `NAME_gates(x_proj, hu, h_prev) -> h` with
hu = h_prev @ U (graph/vocabulary.py: CELLS):

gru_gates(x_proj (N, 3H), hu (N, 3H), h_prev (N, H)): gate blocks r, z, n, with PyTorch's formulas:
    r = sigmoid(x_r + hu_r);  z = sigmoid(x_z + hu_z)
    n = tanh(x_n + r * hu_n);  h = (1 - z) * n + z * h_prev
    Every bias lives in x_proj: PyTorch's b_hr and b_hz fold into x_r and x_z exactly; its b_hn (inside
    the r * (...) term) has no place here, so this is PyTorch's GRU with b_hn = 0.

mgu_gates(x_proj (N, 2H), hu (N, 2H), h_prev (N, H)): the minimal gated unit (Zhou et al. 2016), one gate f
    doing the work of the GRU's r and z, in the same form:
    f = sigmoid(x_f + hu_f);  n = tanh(x_n + f * hu_n);  h = (1 - f) * n + f * h_prev

The cells' steps' equations live in nngraph/backend (the compiled kernels and their numpy twins, in the
gate-slot layout twins.py describes): lstm_gates asks `accel` for the LSTM step, gru_gates and mgu_gates call
their steps' twins (the whole-sequence kernels run them over every step).
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.backend.twins import (
    gru_step_backward,
    gru_step_forward,
    lstm_slot_params,
    mgu_step_backward,
    mgu_step_forward,
)
from nngraph.errors import ShapeError
from nngraph.ops.registry import register


def _check(expected, shapes, what):
    if list(shapes) != expected:
        raise ShapeError(f"{what} needs inputs {[list(s) for s in expected]}, got {[list(s) for s in shapes]}")


def _lstm_gates_shape(shapes, attrs):
    hidden = shapes[1][0] if shapes[1] else 0
    _check([(4 * hidden,), (hidden,)], shapes, f"an lstm of {hidden} units")
    return (2 * hidden,)


def _gates_shape(gates: int, cell: str):
    """The shape rule of a `NAME_gates(x_proj, hu, h_prev)` op: x_proj and hu of `gates` * H columns."""
    def rule(shapes, attrs):
        hidden = shapes[2][0] if shapes[2] else 0
        _check([(gates * hidden,), (gates * hidden,), (hidden,)], shapes, f"a {cell} of {hidden} units")
        return (hidden,)
    return rule


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


@register("gru_gates", shape=_gates_shape(3, "gru"))
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


@register("mgu_gates", shape=_gates_shape(2, "mgu"))
def mgu_gates(xp, inputs, attrs):
    x_proj, hu, h_prev = inputs
    f, candidate, out = (xp.empty_like(h_prev) for _ in range(3))
    mgu_step_forward(xp, x_proj, hu, h_prev, f, candidate, out)
    return out, (f, candidate)


@mgu_gates.vjp
def _(xp, g, ctx, inputs, attrs):
    f, candidate = ctx
    _, hu, h_prev = inputs
    gx, ghu, gh = xp.empty_like(hu), xp.empty_like(hu), xp.zeros_like(h_prev)
    mgu_step_backward(xp, g, f, candidate, hu, h_prev, gx, ghu, gh)
    return gx, ghu, gh
