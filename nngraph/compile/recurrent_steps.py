"""Forward and backward of the stages of a RecurrentPlan over one `Run`.

Layout: every unit's value lives in one time-major buffer of (history + steps) * batch rows and `width`
columns; step t is the contiguous block of rows [(history + t) * batch, ...), and the first `history`
blocks hold its value before the first step (the initial or carried state). A value k steps back over all
steps is therefore a view, `shifted(...)`, with no copy: time-parallel edges are one GEMM over
(steps * batch) rows, and their weight gradients too. Only loop stages go step by step; their weight
gradients wait for the end of the backward sweep and are then one GEMM per edge over all steps.

The step loop is the hot path, so it allocates nothing per step: a step writes into slices of buffers
made once per pass. An LSTM runs the step of `backend.accel` on its gate slots (one contiguous (4, batch,
width) block per step): a compiled kernel or its numpy twin. A tanh unit (the Elman default) computes its
activation in place; any other activation and the GRU call their ops from the op table. A stage that is
one LSTM, GRU or tanh layer whose only recurrence is its own runs its whole step loop through one
`accel` entry instead (a compiled kernel, or its twin, a step loop of the same work).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.backend import accel
from nngraph.backend.accel import kernel_threads, matmul_tn
from nngraph.backend.twins import lstm_slot_params
from nngraph.compile.recurrent import Edge, Stage, UnitPlan
from nngraph.ops import get_op
from nngraph.ops.dense import column_sums

GRU_GATES = get_op("gru_gates")
POOL_OPS = {"maxpool": "maxpool2d", "avgpool": "avgpool2d"}


@dataclass
class Run:
    """The values (and vjp contexts) of one forward pass over `steps` steps of `batch` sequences."""

    steps: int
    batch: int
    history: dict[str, int]
    values: dict = field(default_factory=dict)  # unit -> (history + steps) * batch rows
    cells: dict = field(default_factory=dict)  # lstm unit -> (1 + steps) * batch rows of c
    pre: dict = field(default_factory=dict)  # unit -> steps * batch rows of pre-activations (G * width)
    hu: dict = field(default_factory=dict)  # gru unit -> steps * batch rows of h_prev @ U
    ctx: dict = field(default_factory=dict)  # unit -> activation ctx, or per-step ctx list in a loop
    edge_ctx: dict = field(default_factory=dict)  # (unit, edge index) -> conv or pool ctx
    masks: dict = field(default_factory=dict)  # unit -> dropout mask
    at_rows: set = field(default_factory=set)  # units computed at the loss rows only (pre has just those rows)
    carried: bool = False  # started from a carried state (the learned initial state was not used)

    def rows(self, step: int, count: int = 1) -> slice:
        return slice(step * self.batch, (step + count) * self.batch)

    def shifted(self, buffer, unit: str, delay: int):
        """All steps of `unit`'s buffer, `delay` steps back (the first ones from its initial state)."""
        return buffer[self.rows(self.history[unit] - delay, self.steps)]

    def value(self, unit: str):
        return self.shifted(self.values[unit], unit, 0)


@dataclass
class Grads:
    """Gradients during one backward pass: of values (padded like the values), of pre-activations from
    the losses, of the cells, and of the parameters."""

    values: dict
    pre: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)  # unit -> (rows, pre-activation gradient there): zero elsewhere


# ---- forward ------------------------------------------------------------------------------------


def project(xp, run: Run, unit: UnitPlan, params: dict, edges: tuple[Edge, ...], with_bias: bool = True,
            rows=None):
    """The sum over `edges` for all steps at once, plus the bias: (steps * batch, G * width); or at `rows`
    (time-major row indices) only, for dense edges."""
    total = None
    for index, edge in enumerate(edges):
        part = _edge_forward(xp, run, unit, index, edge, params, rows)
        total = part if total is None else total + part
    if total is None:
        count = run.steps * run.batch if rows is None else len(rows)
        total = xp.zeros((count, unit.gates * unit.width), dtype=run.values[unit.name].dtype)
    if unit.bias and with_bias:
        bias = params[unit.bias]
        view = total.reshape(total.shape[0], bias.shape[0], -1) if unit.channel_bias else total
        view += bias[:, None] if unit.channel_bias else bias
    return total


def _edge_forward(xp, run: Run, unit: UnitPlan, index: int, edge: Edge, params: dict, rows=None):
    source = run.shifted(run.values[edge.source], edge.source, edge.delay)
    if edge.kind == "dense":
        return (source if rows is None else source[rows]) @ params[edge.weight]
    if edge.kind == "identity":
        return source.copy()
    image = source.reshape((len(source),) + tuple(edge.attrs["image"]))
    if edge.kind == "conv":
        out, ctx = get_op("conv2d").forward(xp, (image, params[edge.weight]), edge.attrs)
    else:
        out, ctx = get_op(POOL_OPS[edge.kind]).forward(xp, (image,), edge.attrs)
    run.edge_ctx[(unit.name, index)] = ctx
    return out.reshape(len(out), -1)


def parallel_forward(xp, run: Run, unit: UnitPlan, params: dict, rng=None, rows=None) -> None:
    """A unit outside any loop: every step at once, or only `rows` (time-major row indices) where it
    has dense inputs alone and nothing but a loss reads it (its other rows stay zero)."""
    if rows is not None and all(edge.kind == "dense" for edge in unit.outer) and not unit.channel_bias:
        run.at_rows.add(unit.name)
        z = run.pre[unit.name] = project(xp, run, unit, params, unit.outer, rows=rows)
    else:
        rows, z = None, project(xp, run, unit, params, unit.outer)
        run.pre[unit.name] = z
    out, run.ctx[unit.name] = get_op(unit.activation).forward(
        xp, (z.reshape((len(z),) + unit.shape),), unit.activation_args)
    out = out.reshape(len(z), -1)
    if unit.dropout and rng is not None:
        keep = 1.0 - unit.dropout
        mask = (rng.random(out.shape) < keep).astype(out.dtype) * out.dtype.type(1.0 / keep)
        run.masks[unit.name] = mask = xp.asarray(mask)
        out = out * mask
    if rows is None:
        run.value(unit.name)[...] = out
    else:
        run.value(unit.name)[rows] = out


def loop_forward(xp, run: Run, stage: Stage, params: dict) -> None:
    """A loop stage: outer edges for all steps, then the recurrence step by step."""
    units, batch = stage.units, run.batch
    own = _own_loop_unit(stage)
    if own is not None:
        SEQUENCE_FORWARD[own.cell](xp, run, own, params)
        return
    for unit in units:
        _start_loop_unit(xp, run, unit, params)
    # each inner edge as (source buffer, its row offset, weight in the unit's layout): resolved once
    inner = {u.name: [(run.values[e.source], (run.history[e.source] - e.delay) * batch,
                       lstm_slot_params(xp, params[e.weight]) if u.cell == "lstm" else params[e.weight])
                      for e in u.inner] for u in units}
    scratch = {u.name: xp.empty((batch, u.gates * u.width), dtype=run.values[u.name].dtype) for u in units}
    dtype = run.values[units[0].name].dtype  # the implementations, asked for once a pass:
    lstm_step, product = (accel.get("lstm_step_forward", xp, dtype=dtype),
                          accel.get("small_gemm", xp, dtype=dtype, rows=batch))
    for t in range(run.steps):
        for unit in units:
            recurrent = _inner_sum(product, inner[unit.name], t * batch, batch, scratch[unit.name])
            _step_forward(xp, run, unit, t, recurrent, params, lstm_step)


def _whole_loop(name: str, xp, run: Run, unit: UnitPlan):
    """The implementation of the whole-sequence entry `name` for this unit's arrays."""
    return accel.get(name, xp, dtype=run.values[unit.name].dtype, batch=run.batch)


def _elman_sequence_forward(xp, run: Run, unit: UnitPlan, params: dict) -> None:
    """An Elman layer's whole step loop in one call, after its inputs and bias for all steps."""
    _start_loop_unit(xp, run, unit, params)
    _whole_loop("elman_sequence_forward", xp, run, unit)(
        run.pre[unit.name], params[unit.inner[0].weight], _from_initial(run, run.values, unit), run.batch,
        kernel_threads())


def _gru_sequence_forward(xp, run: Run, unit: UnitPlan, params: dict) -> None:
    """A GRU layer's whole step loop in one call, after its inputs and bias for all steps; keeps h_prev @ U
    (run.hu), the gates r, z and the candidate for the backward."""
    _start_loop_unit(xp, run, unit, params)
    rows, dtype = run.steps * run.batch, run.values[unit.name].dtype
    run.ctx[unit.name] = rz, candidate = (xp.empty((rows, 2 * unit.width), dtype=dtype),
                                          xp.empty((rows, unit.width), dtype=dtype))
    _whole_loop("gru_sequence_forward", xp, run, unit)(
        run.pre[unit.name], params[unit.own], _from_initial(run, run.values, unit), run.hu[unit.name], rz,
        candidate, run.batch, kernel_threads())


def _lstm_sequence_forward(xp, run: Run, unit: UnitPlan, params: dict) -> None:
    """An LSTM layer's whole step loop in one call, which takes the parameters as they are and reorders
    them into slots itself. The bias goes into the per-step GEMM, and a layer with one dense
    input edge multiplies that input in per step too, so no (steps * batch, 4 * width) projection is
    written and read back; other inputs are projected for all steps first (in slot order)."""
    _loop_buffers(xp, run, unit)
    (edge,) = unit.outer if len(unit.outer) == 1 and unit.outer[0].kind == "dense" else (None,)
    if edge is not None:
        inputs, input_weight = run.shifted(run.values[edge.source], edge.source, edge.delay), params[edge.weight]
    else:
        outer = {e.weight: lstm_slot_params(xp, params[e.weight]) for e in unit.outer if e.weight}
        inputs = run.pre[unit.name] = project(xp, run, unit, outer, unit.outer, with_bias=False)
        input_weight = None
    gates, tanh_c, _ = run.ctx[unit.name]
    scratch = xp.empty((run.batch, 4 * unit.width), dtype=gates.dtype)
    _whole_loop("lstm_sequence_forward", xp, run, unit)(
        inputs, input_weight, params[unit.inner[0].weight], _from_initial(run, run.values, unit),
        run.cells[unit.name], gates, tanh_c, scratch, params[unit.bias] if unit.bias else None, kernel_threads())


def _own_loop_unit(stage: Stage, grads: Grads | None = None) -> UnitPlan | None:
    """The unit, where this stage's whole step loop is one whole-sequence entry of `accel`: an LSTM, GRU
    or tanh (Elman) layer whose only recurrence is its own (`_only_own_recurrence`), with no loss fused
    into its pre-activations; else None."""
    if len(stage.units) != 1:
        return None
    unit = stage.units[0]
    if not _only_own_recurrence(unit) or (grads is not None and unit.name in grads.pre):
        return None
    return unit


def _only_own_recurrence(unit: UnitPlan) -> bool:
    """A GRU with no recurrent edge but its own (the U term), or an LSTM or tanh layer whose one recurrent
    edge is its own dense h_(t-1) -> h_t (an `lstm` layer's implicit edge, an Elman layer's)."""
    if unit.cell == "gru":
        return not unit.inner
    if unit.cell != "lstm" and (unit.cell is not None or unit.activation != "tanh") or len(unit.inner) != 1:
        return False
    own = unit.inner[0]
    return own.source == unit.name and own.delay == 1 and own.kind == "dense"


def _from_initial(run: Run, buffers: dict, unit: UnitPlan):
    """`unit`'s rows of `buffers` from the step before the first (its initial or carried state) on."""
    return buffers[unit.name][run.rows(run.history[unit.name] - 1, run.steps + 1)]


def _start_loop_unit(xp, run: Run, unit: UnitPlan, params: dict) -> None:
    """Outer edges and bias for all steps into `run.pre` (an LSTM's with its parameters in slot order,
    see ops.recurrent), and the unit's step buffers."""
    if unit.cell == "lstm":
        names = [e.weight for e in unit.outer] + ([unit.bias] if unit.bias else [])
        params = {name: lstm_slot_params(xp, params[name]) for name in names}
    run.pre[unit.name] = project(xp, run, unit, params, unit.outer)
    _loop_buffers(xp, run, unit)


def _loop_buffers(xp, run: Run, unit: UnitPlan) -> None:
    """An LSTM's gate values, one (4, batch, width) slot block per step, tanh(c) and scratch; a GRU's
    h_prev @ U; the per-step vjp contexts of other units."""
    rows, width, dtype = run.steps * run.batch, unit.width, run.values[unit.name].dtype
    if unit.cell == "lstm":
        run.ctx[unit.name] = (xp.empty((4, rows, width), dtype=dtype), xp.empty((rows, width), dtype=dtype),
                              xp.empty((run.batch, width), dtype=dtype))
    else:
        run.ctx[unit.name] = []
    if unit.cell == "gru":
        run.hu[unit.name] = xp.empty((rows, 3 * width), dtype=dtype)


def _inner_sum(product, edges: list, step_row: int, batch: int, out):
    """A step's sum over inner edges (source rows times weight, by `product`, the small GEMM's entry), in
    `out`; None without inner edges."""
    for index, (source, offset, weight) in enumerate(edges):
        product(source[offset + step_row:offset + step_row + batch], weight, out, index > 0)
    return out if edges else None


def _step_forward(xp, run: Run, unit: UnitPlan, t: int, recurrent, params: dict, lstm_step) -> None:
    batch, at, rows = run.batch, (run.history[unit.name] + t) * run.batch, run.rows(t)
    value = run.values[unit.name]
    if unit.cell == "lstm":
        gates, tanh_c, scratch = run.ctx[unit.name]
        cells = run.cells[unit.name]
        lstm_step(run.pre[unit.name][rows], recurrent, cells[rows], gates[:, rows], cells[run.rows(t + 1)],
                  tanh_c[rows], value[at:at + batch], scratch)
        return
    a = run.pre[unit.name][rows]
    if recurrent is not None:
        a += recurrent
    if unit.cell == "gru":
        h_prev = value[at - batch:at]
        hu = run.hu[unit.name][rows]
        xp.matmul(h_prev, params[unit.own], out=hu)
        value[at:at + batch], ctx = GRU_GATES.forward(xp, (a, hu, h_prev), {})
    elif unit.activation == "tanh":  # the Elman default, in place: its vjp reads only the output
        ctx = xp.tanh(a, out=value[at:at + batch])
    else:
        value[at:at + batch], ctx = get_op(unit.activation).forward(xp, (a,), unit.activation_args)
    run.ctx[unit.name].append(ctx)


# ---- backward -----------------------------------------------------------------------------------


def parallel_backward(xp, run: Run, grads: Grads, unit: UnitPlan, params: dict, needs) -> None:
    if unit.name in grads.rows:
        _rows_backward(xp, run, grads, unit, params, needs)
        return
    g = run.shifted(grads.values[unit.name], unit.name, 0)
    if unit.name in run.masks:
        g = g * run.masks[unit.name]
    z = run.pre[unit.name]
    shaped = (len(z),) + unit.shape
    (ga,) = get_op(unit.activation).vjp(xp, g.reshape(shaped), run.ctx[unit.name], (z.reshape(shaped),),
                                        unit.activation_args)
    ga = ga.reshape(len(z), -1)
    if unit.name in grads.pre:
        ga = ga + grads.pre[unit.name]
    edges_backward(xp, run, grads, unit, ga, params, needs)


def _rows_backward(xp, run: Run, grads: Grads, unit: UnitPlan, params: dict, needs) -> None:
    """A unit whose only gradient is a loss's at some rows (a last-step target): its dense edges at those
    rows alone, instead of GEMMs over every step that are zero but for them."""
    rows, ga = grads.rows[unit.name]
    if all(edge.kind == "dense" for edge in unit.outer) and not unit.channel_bias:
        edges_backward(xp, run, grads, unit, ga, params, needs, rows=rows)
        return
    full = xp.zeros((run.steps * run.batch,) + ga.shape[1:], dtype=ga.dtype)
    full[rows] = ga
    edges_backward(xp, run, grads, unit, full, params, needs)


def loop_backward(xp, run: Run, grads: Grads, stage: Stage, params: dict, needs) -> None:
    """The reverse sweep over the steps; then every weight gradient of the stage, one GEMM per edge."""
    batch = run.batch
    ga_all = {u.name: xp.empty((run.steps * batch, u.gates * u.width), dtype=run.values[u.name].dtype)
              for u in stage.units}
    own = _own_loop_unit(stage, grads)
    if own is not None:
        SEQUENCE_BACKWARD[own.cell](xp, run, grads, own, params, needs, ga_all[own.name])
        return
    ghu_all = {u.name: xp.empty_like(run.hu[u.name]) for u in stage.units if u.cell == "gru"}
    # each inner edge as (source gradient buffer, its row offset, contiguous W^T, scratch), resolved once
    inner = {u.name: [(grads.values[e.source], (run.history[e.source] - e.delay) * batch,
                       xp.ascontiguousarray(params[e.weight].T),
                       xp.empty((batch, run.values[e.source].shape[1]), dtype=ga_all[u.name].dtype))
                      for e in u.inner] for u in stage.units}
    # a GRU's contiguous U^T; an LSTM's work space for its step kernel
    extra = {u.name: xp.ascontiguousarray(params[u.own].T) if u.cell == "gru" else
             xp.empty((6, batch, u.width), dtype=ga_all[u.name].dtype) for u in stage.units if u.cell}
    dtype = run.values[stage.units[0].name].dtype
    lstm_step, product = (accel.get("lstm_step_backward", xp, dtype=dtype),
                          accel.get("small_gemm", xp, dtype=dtype, rows=batch))
    for t in reversed(range(run.steps)):
        rows = run.rows(t)
        for unit in reversed(stage.units):
            ga = ga_all[unit.name][rows]
            _step_backward(xp, run, grads, unit, t, ga, extra.get(unit.name), ghu_all, lstm_step)
            if unit.name in grads.pre:
                ga += grads.pre[unit.name][rows]
            for target, offset, weight_t, scratch in inner[unit.name]:
                back = offset + t * batch
                product(ga, weight_t, target[back:back + batch], True, scratch)
    _stage_weight_grads(xp, run, grads, stage, params, needs, ga_all, ghu_all)


def _elman_sequence_backward(xp, run: Run, grads: Grads, unit: UnitPlan, params: dict, needs, ga) -> None:
    """The reverse sweep of `_elman_sequence_forward` in one call; then bias and weight gradients."""
    _whole_loop("elman_sequence_backward", xp, run, unit)(
        _from_initial(run, run.values, unit), _from_initial(run, grads.values, unit), ga,
        params[unit.inner[0].weight], run.batch, kernel_threads())
    edges_backward(xp, run, grads, unit, ga, params, needs, inner=unit.inner)


def _gru_sequence_backward(xp, run: Run, grads: Grads, unit: UnitPlan, params: dict, needs, ga) -> None:
    """The reverse sweep of `_gru_sequence_forward` in one call; then bias and weight gradients, U's from
    the gradient of h_prev @ U."""
    rz, candidate = run.ctx[unit.name]
    h, ghu = _from_initial(run, run.values, unit), xp.empty_like(run.hu[unit.name])
    _whole_loop("gru_sequence_backward", xp, run, unit)(
        h, run.hu[unit.name], rz, candidate, _from_initial(run, grads.values, unit), ga, ghu, params[unit.own],
        run.batch, kernel_threads())
    edges_backward(xp, run, grads, unit, ga, params, needs)
    (grads.params[unit.own],) = matmul_tn(xp, [h[:run.steps * run.batch]], ghu)


def _lstm_sequence_backward(xp, run: Run, grads: Grads, unit: UnitPlan, params: dict, needs, ga) -> None:
    """The reverse sweep of `_lstm_sequence_forward` in one call, which also sums the bias gradient; then
    the weight gradients, one product over ga."""
    gates, tanh_c, _ = run.ctx[unit.name]
    bias_grad = xp.empty(4 * unit.width, dtype=ga.dtype) if unit.bias else None
    _whole_loop("lstm_sequence_backward", xp, run, unit)(
        gates, run.cells[unit.name], tanh_c, _from_initial(run, grads.values, unit), grads.cells[unit.name], ga,
        params[unit.inner[0].weight], bias_grad, kernel_threads())
    if unit.bias:
        grads.params[unit.bias] = bias_grad
    edges_backward(xp, run, grads, unit, ga, params, needs, inner=unit.inner, with_bias=False)


def _stage_weight_grads(xp, run: Run, grads: Grads, stage: Stage, params: dict, needs, ga_all, ghu_all):
    for unit in stage.units:
        edges_backward(xp, run, grads, unit, ga_all[unit.name], params, needs, inner=unit.inner)
        if unit.cell == "gru":
            h_prev = run.shifted(run.values[unit.name], unit.name, 1)
            (grads.params[unit.own],) = matmul_tn(xp, [h_prev], ghu_all[unit.name])


def _step_backward(xp, run: Run, grads: Grads, unit: UnitPlan, t: int, ga, extra, ghu_all: dict,
                   lstm_step) -> None:
    """Writes step t's pre-activation gradient into ga; passes the gradients of earlier values back."""
    batch, at, rows = run.batch, (run.history[unit.name] + t) * run.batch, run.rows(t)
    g = grads.values[unit.name][at:at + batch]
    if unit.cell == "lstm":
        gates, tanh_c, _ = run.ctx[unit.name]
        lstm_step(gates[:, rows], run.cells[unit.name][rows], tanh_c[rows], g, grads.cells[unit.name], ga, extra)
        return
    ctx = run.ctx[unit.name][t]
    a = run.pre[unit.name][rows]
    if unit.cell == "gru":
        hu = run.hu[unit.name][rows]
        ga[...], ghu, gh = GRU_GATES.vjp(xp, g, ctx, (a, hu, run.values[unit.name][at - batch:at]), {})
        ghu_all[unit.name][rows] = ghu
        grads.values[unit.name][at - batch:at] += gh + ghu @ extra
    elif unit.activation == "tanh":  # g * (1 - h^2), written in place
        xp.multiply(ctx, ctx, out=ga)
        xp.subtract(1, ga, out=ga)
        ga *= g
    else:
        ga[...] = get_op(unit.activation).vjp(xp, g, ctx, (a,), unit.activation_args)[0]


def edges_backward(xp, run: Run, grads: Grads, unit: UnitPlan, ga, params: dict, needs, inner=(),
                   with_bias: bool = True, rows=None) -> None:
    """Bias and edges of `unit` given its pre-activation gradient over all steps, or at `rows` (time-major
    row indices, dense edges only) where it is zero elsewhere: the weight gradients of its dense edges,
    outer and `inner` (its recurrent ones, whose sources' gradients the step loop passed back), in one
    product over ga; the gradients of its outer edges' sources."""
    if unit.bias and with_bias:
        grads.params[unit.bias] = (ga.reshape(len(ga), params[unit.bias].shape[0], -1).sum(axis=(0, 2))
                                   if unit.channel_bias else column_sums(xp, ga))
    dense = [edge for edge in unit.outer if edge.kind == "dense"] + list(inner)
    sources = [run.shifted(run.values[edge.source], edge.source, edge.delay) for edge in dense]
    sources = sources if rows is None else [source[rows] for source in sources]
    for edge, grad in zip(dense, matmul_tn(xp, sources, ga)):
        grads.params[edge.weight] = grad
    for index, edge in enumerate(unit.outer):
        needed = needs(edge.source)
        if needed or edge.kind == "conv":
            g_source = _edge_backward(xp, run, unit, index, edge, ga, params, grads, needed)
            if needed and g_source is not None:
                target = run.shifted(grads.values[edge.source], edge.source, edge.delay)
                target[slice(None) if rows is None else rows] += g_source


def _edge_backward(xp, run, unit, index, edge, ga, params, grads, needed):
    """The gradient of an outer edge's source (a conv edge's weight gradient too)."""
    if edge.kind == "dense":
        return ga @ params[edge.weight].T
    if edge.kind == "identity":
        return ga
    source = run.shifted(run.values[edge.source], edge.source, edge.delay)
    image = source.reshape((len(source),) + tuple(edge.attrs["image"]))
    ctx, g = run.edge_ctx[(unit.name, index)], ga.reshape((len(ga),) + unit.shape)
    if edge.kind == "conv":
        gx, grads.params[edge.weight] = get_op("conv2d").vjp(
            xp, g, ctx, (image, params[edge.weight]), dict(edge.attrs, needs_input_grad=needed))
    else:
        (gx,) = get_op(POOL_OPS[edge.kind]).vjp(xp, g, ctx, (image,), edge.attrs)
    return None if gx is None else gx.reshape(len(gx), -1)


SEQUENCE_FORWARD = {"lstm": _lstm_sequence_forward, "gru": _gru_sequence_forward, None: _elman_sequence_forward}
SEQUENCE_BACKWARD = {"lstm": _lstm_sequence_backward, "gru": _gru_sequence_backward, None: _elman_sequence_backward}
