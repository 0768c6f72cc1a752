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

A `reverse` scan (JAX's `reverse=True`) runs its steps from the last to the first over the same rows: step t
still reads block t of its sequences and writes block t of its outputs, but its carries come from step t + k,
and the state before the first step is the one after the last. A bidirectional layer is a forward and a
reverse scan over the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.compile.plan import Instr
from nngraph.compile.scan_step import StepProgram
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
    reverse: bool = False  # the steps run last to first (a bidirectional layer's backward direction)
    pattern: object = field(default=None, compare=False)  # what a fused implementation needs, or None
    compiled: list = field(default_factory=list, compare=False, repr=False)  # its StepProgram, once run


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
    return trace.vjp(xp, gs, inputs)  # the generic trace and the fused ones each know their vjp


def batch_of(body: ScanBody, values: dict) -> int:
    carry = body.carries[0]
    return values[carry.initial].shape[0] // carry.blocks


def _forward(xp, body: ScanBody, values: dict):
    if not body.compiled:
        body.compiled.append(StepProgram(body))
    return body.compiled[0].forward(xp, values)


