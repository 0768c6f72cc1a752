"""The `scan` op: a loop over time steps that carries its step as a sub-program, in the spirit of JAX's
`lax.scan`. Recurrence needs no executor of its own: a recurrent model's plan is an ordinary plan in which
each loop of units (a strongly connected component of the model graph) is one `scan` instruction.

A scan's body (`ScanBody`, in the instruction's attrs) has two instruction lists over named slots:

- the **prologue** runs once over every step at once (steps * batch rows, time-major): what the loop units
  take from outside the loop (their input projections, biases), one GEMM for all steps;
- the **step** runs once per step on one block of batch rows: the recurrent products, cells and
  activations. It reads the prologue's outputs one block at a time (`sequences`), the values of loop units
  k steps back (`carries`: slots `NAME@k`, from the carried initial state at the first steps), and outer
  slots (parameters, variational dropout masks) as they are.

Its outputs are step slots stacked over the steps. The forward pass runs the prologue, then the step T
times through the one interpreter (`compile.interpret`); the vjp runs the step's vjps in reverse, T times,
handing each carried value's gradient back to the step that produced it (or to the initial state), then
the prologue's vjps once. A body the accelerated implementations recognise (a single LSTM, GRU or tanh
layer whose only recurrence is its own, see `compile.fused_scan`) runs as one compiled call instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.compile import interpret
from nngraph.compile.plan import Instr
from nngraph.ops.registry import register


@dataclass(frozen=True)
class Carry:
    """A step slot that later steps read k steps back, as slots `NAME@1` .. `NAME@depth`."""

    value: str  # the step slot computed each step (a unit's value, or an LSTM's `NAME:cell`)
    name: str  # the unit (or `NAME:cell`) whose past the step reads
    initial: str  # the outer slot holding the `blocks` steps before the first, oldest first
    blocks: int
    depth: int  # how far back the step reads (<= blocks)

    def past(self, k: int) -> str:
        return f"{self.name}@{k}"


@dataclass(frozen=True)
class ScanBody:
    prologue: tuple[Instr, ...]
    step: tuple[Instr, ...]
    sequences: tuple[str, ...]  # prologue outputs the step reads a block at a time
    carries: tuple[Carry, ...]
    outputs: tuple[str, ...]  # step slots stacked over the steps
    reads: tuple[str, ...]  # the outer slots the body reads: the scan instruction's inputs, in order
    pattern: object = field(default=None, compare=False)  # what a fused implementation needs, or None


@dataclass
class _Trace:
    """What the forward pass keeps for the vjp."""

    values: dict  # outer and prologue slots
    prologue: list  # prologue ctxs
    steps: list = field(default_factory=list)  # (step values, step ctxs) per step
    batch: int = 0


def _shape(shapes, attrs):  # the outputs' per-step shapes are the units' (see the lowering)
    return tuple(attrs["shapes"])


@register("scan", shape=_shape)
def scan(xp, inputs, attrs):
    body: ScanBody = attrs["body"]
    values = dict(zip(body.reads, inputs))
    fused = attrs.get("fused")
    if fused is not None:
        run = fused(xp, body, values, dict(zip(body.reads, attrs.get("needs", ()))))
        if run is not None:
            return run
    return _forward(xp, body, values)


@scan.vjp
def _(xp, gs, trace, inputs, attrs):
    if not isinstance(trace, _Trace):  # a fused implementation's trace carries its own vjp
        return trace.vjp(xp, gs, inputs)
    return _vjp(xp, attrs["body"], gs, trace)


def batch_of(body: ScanBody, values: dict) -> int:
    carry = body.carries[0]
    return values[carry.initial].shape[0] // carry.blocks


def _forward(xp, body: ScanBody, values: dict):
    trace = _Trace(values, interpret.forward(xp, body.prologue, values))
    batch = trace.batch = batch_of(body, values)
    steps = values[body.sequences[0]].shape[0] // batch
    constants = {slot: values[slot] for slot in body.reads}
    past = {c.value: [_block(values[c.initial], c.blocks - k, batch) for k in range(1, c.depth + 1)]
            for c in body.carries}
    stacked = {}
    for t in range(steps):
        step = dict(constants)
        step.update({s: _block(values[s], t, batch) for s in body.sequences})
        for c in body.carries:
            step.update({c.past(k): past[c.value][k - 1] for k in range(1, c.depth + 1)})
        trace.steps.append((step, interpret.forward(xp, body.step, step)))
        for c in body.carries:
            past[c.value] = [step[c.value]] + past[c.value][:-1]
        for name in body.outputs:
            if name not in stacked:
                stacked[name] = xp.empty((steps * batch,) + step[name].shape[1:], dtype=step[name].dtype)
            stacked[name][t * batch:(t + 1) * batch] = step[name]
    return tuple(stacked[name] for name in body.outputs), trace


def _block(a, t: int, batch: int):
    return a[t * batch:(t + 1) * batch]


def _vjp(xp, body: ScanBody, gs, trace: _Trace):
    batch, values = trace.batch, trace.values
    outer: dict = {}  # gradients of outer and prologue slots
    arriving: dict = {}  # (carried slot, step) -> the gradient later steps sent back to its value there
    for t in reversed(range(len(trace.steps))):
        step, ctxs = trace.steps[t]
        pending = {name: _block(g, t, batch) for name, g in zip(body.outputs, gs) if g is not None}
        for c in body.carries:
            _add(pending, c.value, arriving.pop((c.value, t), None))
        interpret.backward(xp, body.step, step, ctxs, pending)
        _send_back(xp, body, pending, arriving, outer, values, t, batch)
        for slot, g in pending.items():
            if slot in body.sequences:
                _block(_full(xp, outer, slot, values[slot]), t, batch)[...] += g
            else:
                _add(outer, slot, g)
    interpret.backward(xp, body.prologue, values, trace.prologue, outer)
    return tuple(outer.get(slot) for slot in body.reads)


def _send_back(xp, body, pending, arriving, outer, values, t: int, batch: int) -> None:
    """The gradients of the carried slots read at step t: to the step that computed them, or to the
    initial state's blocks."""
    for c in body.carries:
        for k in range(1, c.depth + 1):
            g = pending.pop(c.past(k), None)
            if g is None:
                continue
            if t - k >= 0:
                _add(arriving, (c.value, t - k), g)
            else:
                initial = _full(xp, outer, c.initial, values[c.initial])
                _block(initial, c.blocks + t - k, batch)[...] += g


def _add(table: dict, key, g) -> None:
    if g is not None:
        table[key] = table[key] + g if key in table else g


def _full(xp, table: dict, slot: str, like):
    if slot not in table:
        table[slot] = xp.zeros_like(like)
    return table[slot]
