"""One time step of the gated recurrent cells, for backprop through time.

The input projection x_proj = x @ W + b of every step is computed outside (one
GEMM over the whole sequence); a cell adds the recurrent term and applies the gates.

lstm_cell(x_proj (N, 4H), h_prev (N, H), c_prev (N, H), U (H, 4H)) -> [h, c] (N, 2H)
    Gate blocks along the last axis in the order i, f, g, o (as PyTorch):
    a = x_proj + h_prev @ U;  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
    c = f * c_prev + i * g;   h = o * tanh(c)
    An op has one output, so h and c are returned concatenated: out[:, :H] is h,
    out[:, H:] is c.

gru_cell(x_proj (N, 3H), h_prev (N, H), U (H, 3H)) -> h (N, H)
    Gate blocks in the order r, z, n, with PyTorch's formulas:
    r = sigmoid(x_r + h_prev @ U_r);  z = sigmoid(x_z + h_prev @ U_z)
    n = tanh(x_n + r * (h_prev @ U_n));  h = (1 - z) * n + z * h_prev
    Every bias lives in x_proj: PyTorch's b_hr and b_hz fold into x_r and x_z
    exactly; its b_hn (inside the r * (...) term) has no place here, so this is
    PyTorch's GRU with b_hn = 0.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.activations import stable_sigmoid
from nngraph.ops.registry import register


def _cell_shape(gates: int, has_cell: bool):
    def rule(shapes, attrs):
        h_prev = shapes[1]
        hidden = h_prev[0] if h_prev else 0
        expected = [(gates * hidden,), h_prev] + ([h_prev] if has_cell else [])
        expected.append((hidden, gates * hidden))
        if list(shapes) != expected:
            raise ShapeError(f"a cell of {hidden} units needs inputs "
                             f"{[list(s) for s in expected]}, got {[list(s) for s in shapes]}")
        return ((2 if has_cell else 1) * hidden,)

    return rule


@register("lstm_cell", shape=_cell_shape(4, has_cell=True), params=(3,))
def lstm_cell(xp, inputs, attrs):
    x_proj, h_prev, c_prev, u = inputs
    hidden = h_prev.shape[1]
    a = x_proj + h_prev @ u
    gates = stable_sigmoid(xp, a)  # right for i, f, o; the g block is replaced next
    a_g = slice(2 * hidden, 3 * hidden)
    gates[:, a_g] = xp.tanh(a[:, a_g])
    i, f, g, o = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
    out = xp.empty((h_prev.shape[0], 2 * hidden), dtype=gates.dtype)
    c = out[:, hidden:]
    xp.multiply(f, c_prev, out=c)
    c += i * g
    tanh_c = xp.tanh(c)
    xp.multiply(o, tanh_c, out=out[:, :hidden])
    return out, (gates, tanh_c)


@lstm_cell.vjp
def _(xp, g_out, ctx, inputs, attrs):
    gates, tanh_c = ctx
    _, h_prev, c_prev, u = inputs
    hidden = h_prev.shape[1]
    i, f, g, o = (gates[:, k * hidden:(k + 1) * hidden] for k in range(4))
    gh, gc = g_out[:, :hidden], g_out[:, hidden:]
    dc = gc + gh * o * (1 - tanh_c * tanh_c)
    da = xp.concatenate([
        dc * g * i * (1 - i),
        dc * c_prev * f * (1 - f),
        dc * i * (1 - g * g),
        gh * tanh_c * o * (1 - o),
    ], axis=1)
    return da, da @ u.T, dc * f, h_prev.T @ da


@register("gru_cell", shape=_cell_shape(3, has_cell=False), params=(2,))
def gru_cell(xp, inputs, attrs):
    x_proj, h_prev, u = inputs
    hidden = h_prev.shape[1]
    hu = h_prev @ u
    rz = stable_sigmoid(xp, x_proj[:, :2 * hidden] + hu[:, :2 * hidden])
    r, z = rz[:, :hidden], rz[:, hidden:]
    hu_n = hu[:, 2 * hidden:]
    n = xp.tanh(x_proj[:, 2 * hidden:] + r * hu_n)
    out = h_prev - n
    out *= z
    out += n  # (1 - z) * n + z * h_prev
    return out, (rz, n, hu_n)


@gru_cell.vjp
def _(xp, g, ctx, inputs, attrs):
    rz, n, hu_n = ctx
    _, h_prev, u = inputs
    hidden = h_prev.shape[1]
    r, z = rz[:, :hidden], rz[:, hidden:]
    da_n = g * (1 - z) * (1 - n * n)
    da_r = da_n * hu_n * r * (1 - r)
    da_z = g * (h_prev - n) * z * (1 - z)
    gx = xp.concatenate([da_r, da_z, da_n], axis=1)
    ghu = xp.concatenate([da_r, da_z, da_n * r], axis=1)
    return gx, g * z + ghu @ u.T, h_prev.T @ ghu
