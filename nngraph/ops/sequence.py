"""Ops over sequences laid out time-major: step t of a batch of b sequences is the block of rows
[t * b, (t + 1) * b) of a (steps * b, ...) array, so a time-parallel computation is an ordinary op over
steps * b rows.

delayed(value, initial; k, depth): `value` k steps back. `initial` holds the `depth` blocks before the first
    step, oldest first (the initial or carried state; depth >= k); the result has value's shape, its first k
    blocks taken from the end of `initial`.
take_rows(x, rows): x[rows] for an index array `rows` (the loss rows of a window); rows None: x itself.
columns(x; start, stop): x[:, start:stop], e.g. the h and the c of an lstm_gates result.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register, same_shape


def _steps_back(initial, value, k: int, depth: int):
    """(rows of `value` the result copies, rows of `initial` it copies): as slices, for forward and vjp."""
    batch = initial.shape[0] // depth
    shift = min(k * batch, value.shape[0])  # a window shorter than the delay reads only initial rows
    start = (depth - k) * batch
    return batch, shift, slice(start, start + shift)


@register("delayed", shape=same_shape)
def delayed(xp, inputs, attrs):
    value, initial = inputs
    _, shift, from_initial = _steps_back(initial, value, attrs["k"], attrs["depth"])
    out = xp.empty_like(value)
    out[:shift] = initial[from_initial]
    out[shift:] = value[: value.shape[0] - shift]
    return out, None


@delayed.vjp
def _(xp, g, ctx, inputs, attrs):
    value, initial = inputs
    _, shift, from_initial = _steps_back(initial, value, attrs["k"], attrs["depth"])
    g_value = xp.zeros_like(value)
    g_value[: value.shape[0] - shift] = g[shift:]
    g_initial = xp.zeros_like(initial)
    g_initial[from_initial] = g[:shift]
    return g_value, g_initial


def _take_rows_shape(shapes, attrs):
    return shapes[0]


@register("take_rows", shape=_take_rows_shape, params=(1,),
          rows=lambda inputs: inputs[0].shape[0] if inputs[1] is None else len(inputs[1]))
def take_rows(xp, inputs, attrs):
    x, rows = inputs
    return (x if rows is None else x[rows]), x.shape[0]


@take_rows.vjp
def _(xp, g, count, inputs, attrs):
    rows = inputs[1]
    if rows is None:
        return g, None
    full = xp.zeros((count,) + g.shape[1:], dtype=g.dtype)
    full[rows] = g  # loss rows are distinct: no two add into one
    return full, None


def _columns_shape(shapes, attrs):
    (x,) = shapes
    if len(x) != 1 or not 0 <= attrs["start"] < attrs["stop"] <= x[0]:
        raise ShapeError(f"columns [{attrs['start']}, {attrs['stop']}) of a unit of shape {list(x)}")
    return (attrs["stop"] - attrs["start"],)


@register("columns", shape=_columns_shape)
def columns(xp, inputs, attrs):
    return inputs[0][:, attrs["start"]:attrs["stop"]], inputs[0].shape


@columns.vjp
def _(xp, g, shape, inputs, attrs):
    full = xp.zeros(shape, dtype=g.dtype)
    full[:, attrs["start"]:attrs["stop"]] = g
    return (full,)
