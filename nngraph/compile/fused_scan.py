"""Scan bodies that the accelerated computations recognise: a single LSTM, GRU, MGU or tanh (Elman) layer whose only
recurrence is its own `h -> h delay 1`, with no loss reading its pre-activation, and no dropout but the layer's own
(its mask, one per sequence, goes to the kernels). The lowering
records such a body's `Pattern`; at run time `fused_implementation` runs it as the whole-sequence entries of
`backend.accel` (one compiled call where the kernels apply, float32 and a batch their small GEMM serves; else
the entries' step-loop twins). Any other body runs the generic scan (`compile.scan_step`); both compute the
same numbers up to rounding (tests/property and tests/recurrent compare them).

The kernels take the layer's parameters as they are (an LSTM's gate columns are reordered inside), keep what
their backward needs, and split the batch over the kernel threads. An LSTM fed by one dense connection
multiplies that input inside its per-step GEMM too, so its (steps * batch, 4H) projection is never written.

The kernels read steps first to last. A reverse body (a bidirectional layer's backward direction) gives them
its inputs with the steps' blocks in reverse order and reverses its outputs back: one copy of the input
projection (or of the input) and one of the outputs each way, the cost measured in docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from numpy import float32

from nngraph.backend import accel
from nngraph.backend.accel import kernel_threads, matmul_tn
from nngraph.backend.twins import lstm_slot_params
from nngraph.compile import interpret
from nngraph.compile.plan import PARAM
from nngraph.ops.dense import column_sums


@dataclass(frozen=True)
class Pattern:
    cell: str  # lstm | gru | mgu | elman
    value: str  # the layer's value slot (its dropped value under dropout)
    recurrent: str  # its own recurrent weight
    sequence: str  # the prologue's output: the layer's input projection and bias, all steps
    initial: str  # the state before the first step (its last block is h_(-1))
    blocks: int
    cell_initial: str | None = None  # an LSTM's c before the first step
    dense: tuple | None = None  # a prologue that is one dense input: (source slot, weight slot, bias slot or None)
    mask: str | None = None  # the layer's dropout mask (batch, H), one row per sequence for every step


def pattern_of(model, members, body, directed=lambda name: name) -> Pattern | None:
    """The body's pattern, where it is one the kernels run; `directed` names a parameter in the body's
    direction (a bidirectional layer's backward one)."""
    if len(members) != 1 or len(body.sequences) != 1:
        return None
    unit = model.unit(members[0])
    cell = unit.cell or ("elman" if unit.activation == "tanh" else None)
    dropout = _own_dropout(body, unit.name)
    others = [i for i in body.step if i.op.name not in _STEP_OPS[cell] and i is not dropout] \
        if cell in _STEP_OPS else [None]
    value = dropout.output if dropout else unit.name
    own = [c for c in body.carries if c.name == unit.name]
    inner = [e for e in model.incoming(unit.name) if e.source == unit.name]
    if others or not own or own[0].depth != 1 or own[0].value != value or len(inner) != 1 or \
            inner[0].kind != "dense" or body.outputs[0] != value:
        return None
    recurrent = PARAM + directed(f"{unit.name}->{unit.name}@1.weight")
    return Pattern(cell, value, recurrent, body.sequences[0], own[0].initial, own[0].blocks,
                   _cell_initial(body, unit.name) if cell == "lstm" else None, _one_dense_input(body),
                   dropout.inputs[1] if dropout else None)


def _cell_initial(body, name: str) -> str:
    return next(c.initial for c in body.carries if c.name == f"{name}:cell")


# the step ops of each pattern: anything else (another recurrent edge, a dropout but the layer's own) is not one
_STEP_OPS = {"lstm": {"matmul", "add", "lstm_gates", "columns"}, "gru": {"matmul", "gru_gates"},
             "mgu": {"matmul", "mgu_gates"}, "elman": {"matmul", "add", "tanh"}}


def _own_dropout(body, name: str):
    """The step's one dropout, where it drops the layer's value h with a mask from outside the step."""
    dropouts = [i for i in body.step if i.op.name == "dropout"]
    if len(dropouts) == 1 and dropouts[0].inputs[0] == name and dropouts[0].inputs[1] in body.reads:
        return dropouts[0]
    return None


def _one_dense_input(body):
    (ins,) = body.prologue if len(body.prologue) == 1 and body.prologue[0].op.name in ("dense", "matmul") \
        else (None,)
    if ins is None:
        return None
    return ins.inputs[0], ins.inputs[1], ins.inputs[2] if len(ins.inputs) > 2 else None


def fused_implementation(xp, body, values: dict, needs: dict):
    """(outputs, trace) of the whole-sequence entries for this body, or None where it has no pattern.
    `needs`: which of the body's outer slots need a gradient."""
    pattern = body.pattern
    if pattern is None:
        return None
    initial = values[pattern.initial]
    batch = initial.shape[0] // pattern.blocks
    entry = _Entries(xp, initial.dtype, batch, pattern.cell)
    return _FORWARD[pattern.cell](xp, entry, body, pattern, values, batch, needs)


class _Entries:
    """The door's forward and backward entries of one cell, for these arrays."""

    def __init__(self, xp, dtype, batch: int, cell: str):
        self.forward = accel.get(f"{cell}_sequence_forward", xp, dtype=dtype, batch=batch)
        self.backward = accel.get(f"{cell}_sequence_backward", xp, dtype=dtype, batch=batch)


def steps_reversed(xp, a, batch: int):
    """A copy of time-major rows with the order of the steps' blocks reversed (its own inverse)."""
    return xp.ascontiguousarray(a.reshape((-1, batch) + a.shape[1:])[::-1].reshape(a.shape))


def _in_order(xp, a, batch: int, reverse: bool):
    """Rows in the order the body runs its steps."""
    return steps_reversed(xp, a, batch) if reverse else a


def _with_initial(xp, values, pattern, batch, rows: int):
    """A (1 + steps) * batch buffer whose first block is h_(-1), the last block of the initial state."""
    initial = values[pattern.initial]
    out = xp.empty((batch + rows, initial.shape[1]), dtype=initial.dtype)
    out[:batch] = initial[len(initial) - batch:]
    return out


@dataclass
class _Trace:
    entries: _Entries
    body: object
    pattern: Pattern
    values: dict
    batch: int
    h: object  # (1 + steps) * batch rows: h_(-1) .. h_(T-1)
    saved: tuple  # what the cell's backward kernel reads
    prologue: list | None  # the prologue's ctxs (None: an LSTM's fused input, never projected)
    needs: dict

    def in_order(self, xp, a):
        return _in_order(xp, a, self.batch, self.body.reverse)

    def vjp(self, xp, gs, inputs):
        g_h = None if gs[0] is None else self.in_order(xp, gs[0])
        rows = len(self.h) - self.batch
        dh = xp.zeros_like(self.h)
        if g_h is not None:
            dh[self.batch:] = g_h
        grads = _BACKWARD[self.pattern.cell](xp, self, dh, rows)
        initial = self.values[self.pattern.initial]
        g_initial = xp.zeros_like(initial)
        g_initial[len(initial) - self.batch:] = dh[:self.batch]
        grads[self.pattern.initial] = g_initial
        return tuple(grads.get(slot) for slot in self.body.reads)

    def input_grads(self, xp, ga, grads: dict, recurrent_rhs=None) -> dict:
        """The gradients of the recurrent weight (h_prev^T times `recurrent_rhs`, by default ga) and of the
        prologue's inputs, given ga, the gradient of the prologue's output. A dense prologue's weight
        gradient is taken in the same pass over ga as the recurrent one; any other prologue runs its
        vjps."""
        rows, dense, values = len(ga), self.pattern.dense, self.values
        h_prev = self.h[:rows]
        if dense is None:
            (grads[self.pattern.recurrent],) = matmul_tn(xp, [h_prev], ga if recurrent_rhs is None else recurrent_rhs)
            pending = interpret.backward(xp, self.body.prologue, values, self.prologue,
                                         {self.pattern.sequence: self.in_order(xp, ga)})
            grads.update({slot: g for slot, g in pending.items() if slot in self.body.reads})
            return grads
        source, weight, bias = dense
        x = self.in_order(xp, values[source])
        if recurrent_rhs is None:
            grads[weight], grads[self.pattern.recurrent] = matmul_tn(xp, [x.reshape(rows, -1), h_prev], ga)
        else:
            (grads[weight],) = matmul_tn(xp, [x.reshape(rows, -1)], ga)
            (grads[self.pattern.recurrent],) = matmul_tn(xp, [h_prev], recurrent_rhs)
        if bias and bias not in grads:
            grads[bias] = column_sums(xp, ga)
        if self.needs.get(source):
            grads[source] = self.in_order(xp, (ga @ values[weight].T).reshape(x.shape))
        return grads


def _mask(xp, values: dict, pattern: Pattern):
    """The layer's dropout mask as the kernels read it (contiguous, the state's dtype), or None."""
    if pattern.mask is None:
        return None
    return xp.ascontiguousarray(values[pattern.mask], dtype=values[pattern.initial].dtype)


def _elman_forward(xp, entries, body, pattern, values, batch, needs):
    prologue = interpret.forward(xp, body.prologue, values)
    pre = _in_order(xp, values[pattern.sequence], batch, body.reverse)
    h = _with_initial(xp, values, pattern, batch, len(pre))
    mask = _mask(xp, values, pattern)
    raw = None if mask is None else xp.empty_like(pre)  # the tanh's values, which its vjp reads
    entries.forward(pre, values[pattern.recurrent], h, batch, kernel_threads(), mask, raw)
    trace = _Trace(entries, body, pattern, values, batch, h, (mask, raw), prologue, needs)
    return (trace.in_order(xp, h[batch:]),), trace


def _elman_backward(xp, trace: _Trace, dh, rows: int) -> dict:
    ga = xp.empty((rows, dh.shape[1]), dtype=dh.dtype)
    weight = trace.values[trace.pattern.recurrent]
    trace.entries.backward(trace.h, dh, ga, weight, trace.batch, kernel_threads(), *trace.saved)
    return trace.input_grads(xp, ga, {})


def _gated_forward(xp, entries, body, pattern, values, batch, needs):
    """A GRU (3 gate blocks: r, z, n) or MGU (2: f, n)."""
    prologue = interpret.forward(xp, body.prologue, values)
    pre = _in_order(xp, values[pattern.sequence], batch, body.reverse)
    blocks = _GATE_BLOCKS[pattern.cell]
    rows, width = len(pre), pre.shape[1] // blocks
    h = _with_initial(xp, values, pattern, batch, rows)
    hu, gates, candidate = (xp.empty((rows, k * width), dtype=pre.dtype) for k in (blocks, blocks - 1, 1))
    entries.forward(pre, values[pattern.recurrent], h, hu, gates, candidate, batch, kernel_threads(),
                    _mask(xp, values, pattern))
    trace = _Trace(entries, body, pattern, values, batch, h, (hu, gates, candidate), prologue, needs)
    return (trace.in_order(xp, h[batch:]),), trace


def _gated_backward(xp, trace: _Trace, dh, rows: int) -> dict:
    hu, gates, candidate = trace.saved
    ga, ghu = xp.empty_like(hu), xp.empty_like(hu)
    weight = trace.values[trace.pattern.recurrent]
    trace.entries.backward(trace.h, hu, gates, candidate, dh, ga, ghu, weight, trace.batch, kernel_threads(),
                           _mask(xp, trace.values, trace.pattern))
    return trace.input_grads(xp, ga, {}, recurrent_rhs=ghu)


def _lstm_forward(xp, entries, body, pattern, values, batch, needs):
    dense = pattern.dense
    if dense is not None:  # the input multiplied inside the per-step GEMM: never projected
        source, x_weight, bias = values[dense[0]], values[dense[1]], dense[2] and values[dense[2]]
        # the kernel reads rows in place: a one-step window's time-major view of float32 data is strided
        source = xp.ascontiguousarray(source.reshape(len(source), -1))
        source, prologue = _in_order(xp, source, batch, body.reverse), None
    else:  # the projection (bias included) in the kernel's slot order
        prologue = interpret.forward(xp, body.prologue, values)
        pre = _in_order(xp, values[pattern.sequence], batch, body.reverse)
        source, x_weight, bias = lstm_slot_params(xp, pre), None, None
    rows, width = len(source), values[pattern.recurrent].shape[0]
    h = _with_initial(xp, values, pattern, batch, rows)
    cells = xp.empty_like(h)
    cells[:batch] = values[pattern.cell_initial]
    gates, tanh_c = xp.empty((4, rows, width), dtype=h.dtype), xp.empty((rows, width), dtype=h.dtype)
    scratch = xp.empty((batch, 4 * width), dtype=h.dtype)
    entries.forward(source, x_weight, values[pattern.recurrent], h, cells, gates, tanh_c, scratch, bias,
                    kernel_threads(), _mask(xp, values, pattern))
    trace = _Trace(entries, body, pattern, values, batch, h, (cells, gates, tanh_c), prologue, needs)
    return (trace.in_order(xp, h[batch:]), trace.in_order(xp, cells[batch:])), trace


def _lstm_backward(xp, trace: _Trace, dh, rows: int) -> dict:
    cells, gates, tanh_c = trace.saved
    pattern, values = trace.pattern, trace.values
    width = dh.shape[1]
    dc = xp.zeros((trace.batch, width), dtype=dh.dtype)  # c's gradient after the last step (none: a constant)
    ga = xp.empty((rows, 4 * width), dtype=dh.dtype)
    dense = pattern.dense
    bias_grad = xp.empty(4 * width, dtype=dh.dtype) if dense is not None and dense[2] else None
    trace.entries.backward(gates, cells, tanh_c, dh, dc, ga, values[pattern.recurrent], bias_grad,
                           kernel_threads(), _mask(xp, values, pattern))
    grads = {pattern.cell_initial: dc}
    if bias_grad is not None:
        grads[dense[2]] = bias_grad  # summed by the kernel during its sweep
    return trace.input_grads(xp, ga, grads)


_GATE_BLOCKS = {"gru": 3, "mgu": 2}
_FORWARD = {"lstm": _lstm_forward, "gru": _gated_forward, "mgu": _gated_forward, "elman": _elman_forward}
_BACKWARD = {"lstm": _lstm_backward, "gru": _gated_backward, "mgu": _gated_backward, "elman": _elman_backward}
