"""The twins of the whole-sequence kernels (an LSTM, GRU, MGU or Elman layer whose only recurrence is its own):
step loops with the kernels' arguments and layouts (`csrc/sequences.c` documents them).

`mask` (n, H) or None: a dropout mask of the layer's units, one row per sequence for every step (already
scaled by 1 / (1 - rate)). The LSTM, GRU and MGU take one: each step's h is stored masked, which is what the next
step and the layer's readers see, and the backward sweep masks each step's gradient before the cell's vjp.
Their cells' vjps read the gates and the previous (masked) h, never the step's own output, so nothing else
changes. The Elman layer's vjp reads its own output: with a mask it keeps the unmasked values in `raw` (T*n, H)
as well.

Each step goes through `accel` for its product ("small_gemm", asked for once a call) and, for the LSTM,
its element-wise step ("lstm_step_forward"/"lstm_step_backward"): on the twins path that is numpy
throughout, and where only the whole loop does not apply (float64, a batch the small GEMM does not serve,
a CPU without AVX2) the compiled step kernels still do their part. Each sequence is independent, so
`threads` is accepted and not needed.
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


def _steps(rows: int, n: int) -> range:
    return range(rows // n)


def _masked(rows, mask):
    """rows *= mask in place (a step's block of h or of its gradient); rows as they were without one."""
    if mask is not None:
        rows *= mask
    return rows


def _product(xp, like, n: int):
    """The small GEMM's entry for n rows of `like`'s dtype."""
    return accel.get("small_gemm", xp, dtype=like.dtype, rows=n)


def lstm_sequence_forward(xp, pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads=1,
                          mask=None) -> None:
    """Every step of an LSTM layer: per step, scratch = (x_t @ x_weight) + bias + h_(t-1) @ weight, then
    the step (and h_t *= mask). x_weight None: pre is already the input's product, in slot order."""
    n, dtype = scratch.shape[0], scratch.dtype
    step = accel.get("lstm_step_forward", xp, dtype=dtype)
    weight = lstm_slot_params(xp, weight)
    if x_weight is not None:  # every step's input product at once: one GEMM, the same sums
        pre = pre @ lstm_slot_params(xp, x_weight)
    bias = None if bias is None else lstm_slot_params(xp, bias)
    work, product = xp.empty((n, weight.shape[0]), dtype=dtype), _product(xp, scratch, n)
    for t in _steps(len(pre), n):
        now, after = slice(t * n, (t + 1) * n), slice((t + 1) * n, (t + 2) * n)
        product(h[now], weight, scratch, False)
        if bias is not None:
            scratch += bias
        step(pre[now], scratch, c[now], gates[:, now], c[after], tanh_c[now], h[after], work)
        _masked(h[after], mask)


def lstm_sequence_backward(xp, gates, c, tanh_c, dh, dc, da, weight, bias_grad, threads=1, mask=None) -> None:
    """The reverse sweep: per step from the last, dh_t *= mask, the step's vjp into da's rows, then
    dh_(t-1) += da_t @ weight.T; bias_grad (or None) receives the sum of da's rows."""
    n, width = dc.shape
    step = accel.get("lstm_step_backward", xp, dtype=dc.dtype)
    weight_t = xp.ascontiguousarray(weight.T)
    work, scratch = xp.empty((6, n, width), dtype=dc.dtype), xp.empty((n, width), dtype=dc.dtype)
    product = _product(xp, dc, n)
    for t in reversed(_steps(len(tanh_c), n)):
        now, after = slice(t * n, (t + 1) * n), slice((t + 1) * n, (t + 2) * n)
        step(gates[:, now], c[now], tanh_c[now], _masked(dh[after], mask), dc, da[now], work)
        product(da[now], weight_t, dh[now], True, scratch)
    if bias_grad is not None:
        bias_grad[...] = da.sum(axis=0, dtype=xp.float64)


def elman_sequence_forward(xp, pre, weight, h, n, threads=1, mask=None, raw=None) -> None:
    """Every step of a tanh layer: h_t = tanh(h_(t-1) @ weight + pre_t). With a mask, raw (T*n, H) keeps
    the tanh's values and h_t is them masked."""
    product = _product(xp, h, n)
    for t in _steps(len(pre), n):
        out = h[(t + 1) * n:(t + 2) * n] if mask is None else raw[t * n:(t + 1) * n]
        product(h[t * n:(t + 1) * n], weight, out, False)
        out += pre[t * n:(t + 1) * n]
        xp.tanh(out, out=out)
        if mask is not None:
            xp.multiply(out, mask, out=h[(t + 1) * n:(t + 2) * n])


def elman_sequence_backward(xp, h, dh, da, weight, n, threads=1, mask=None, raw=None) -> None:
    """The reverse sweep: da_t = dh_t * (1 - h_t^2), then dh_(t-1) += da_t @ weight.T. With a mask,
    dh_t *= mask first and the tanh's values are raw's."""
    weight_t, product = xp.ascontiguousarray(weight.T), _product(xp, da, n)
    scratch = xp.empty((n, weight.shape[0]), dtype=da.dtype)
    for t in reversed(_steps(len(da), n)):
        now, after = slice(t * n, (t + 1) * n), slice((t + 1) * n, (t + 2) * n)
        ga, value = da[now], h[after] if mask is None else raw[now]
        xp.multiply(value, value, out=ga)
        xp.subtract(1, ga, out=ga)
        ga *= _masked(dh[after], mask)
        product(ga, weight_t, dh[now], True, scratch)


def gru_sequence_forward(xp, pre, weight, h, hu, rz, nn, n, threads=1, mask=None) -> None:
    """Every step of a GRU layer: hu_t = h_(t-1) @ weight, then the step's gates, candidate and h_t (and
    h_t *= mask)."""
    _gated_forward(xp, gru_step_forward, pre, weight, h, hu, rz, nn, n, mask)


def gru_sequence_backward(xp, h, hu, rz, nn, dh, gx, ghu, weight, n, threads=1, mask=None) -> None:
    """The reverse sweep: dh_t *= mask, the step's vjp into gx's and ghu's rows, then dh_(t-1) += dh_t * z +
    ghu_t @ weight.T."""
    _gated_backward(xp, gru_step_backward, h, hu, rz, nn, dh, gx, ghu, weight, n, mask)


def mgu_sequence_forward(xp, pre, weight, h, hu, f, nn, n, threads=1, mask=None) -> None:
    """Every step of an MGU layer, as gru_sequence_forward with its one gate f (N, H) in place of r and z."""
    _gated_forward(xp, mgu_step_forward, pre, weight, h, hu, f, nn, n, mask)


def mgu_sequence_backward(xp, h, hu, f, nn, dh, gx, ghu, weight, n, threads=1, mask=None) -> None:
    """The reverse sweep of an MGU layer: dh_(t-1) += dh_t * f + ghu_t @ weight.T."""
    _gated_backward(xp, mgu_step_backward, h, hu, f, nn, dh, gx, ghu, weight, n, mask)


def _gated_forward(xp, step, pre, weight, h, hu, gates, nn, n, mask) -> None:
    """The step loop of a cell that keeps its recurrence beside its input (a GRU or MGU): per step, hu_t =
    h_(t-1) @ weight, then `step` writes the gates, the candidate and h_t."""
    product = _product(xp, h, n)
    for t in _steps(len(pre), n):
        now, after = slice(t * n, (t + 1) * n), slice((t + 1) * n, (t + 2) * n)
        product(h[now], weight, hu[now], False)
        step(xp, pre[now], hu[now], h[now], gates[now], nn[now], h[after])
        _masked(h[after], mask)


def _gated_backward(xp, step, h, hu, gates, nn, dh, gx, ghu, weight, n, mask) -> None:
    weight_t, product = xp.ascontiguousarray(weight.T), _product(xp, gx, n)
    scratch = xp.empty((n, weight.shape[0]), dtype=gx.dtype)
    for t in reversed(_steps(len(hu), n)):
        now, after = slice(t * n, (t + 1) * n), slice((t + 1) * n, (t + 2) * n)
        step(xp, _masked(dh[after], mask), gates[now], nn[now], hu[now], h[now], gx[now], ghu[now], dh[now])
        product(ghu[now], weight_t, dh[now], True, scratch)
