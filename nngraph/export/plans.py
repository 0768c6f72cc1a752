"""A plan's forward pass as an ONNX graph: the instructions that compute the wanted units from the given
ones, with the data laid out as `nngraph predict` reads and writes it.

Inputs and outputs are named after their units. A feedforward plan's are (batch, *shape). A recurrent
plan's are batch-major, (batch, steps, *shape), as its data comes; inside, the plan works on time-major rows
(compile/plan.py), so each input is transposed in and each output transposed out, and every state before
the first step is zeros, as when `predict` runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.compile.plan import Plan
from nngraph.export.graph import BATCH, STEPS, OnnxGraph
from nngraph.export.ops import blocks, export_instrs


@dataclass(frozen=True)
class Slice:
    """What to export of a plan: outputs (unit -> the slot that holds it), slots given as inputs besides
    the data feeds (unit -> slot: noise, a latent set by hand), and slots that hold zeros (a VAE's eps).
    The graph's inputs are the feeds its instructions read, then the given slots."""

    outputs: dict[str, str]
    given: dict[str, str] = field(default_factory=dict)
    zeros: frozenset[str] = field(default_factory=frozenset)


def plan_graph(g: OnnxGraph, plan: Plan, part: Slice) -> None:
    instrs = needed(plan.instrs[: plan.body], set(part.outputs.values()), set(part.given.values()) | part.zeros)
    read = {s for ins in instrs for s in ins.inputs} | set(part.outputs.values())
    inputs = {**{feed: feed for feed in plan.feeds if feed in read}, **part.given}
    for draw in plan.random:
        if draw.slot in part.zeros:
            g.set_zero(draw.slot, draw.shape)
    if plan.sequence:
        g.reserve(list(inputs) + list(part.outputs))
        _sequence_inputs(g, plan, inputs)
    else:
        g.reserve([unit for unit, slot in part.outputs.items() if slot != unit])
        for unit, slot in inputs.items():
            g.set(slot, g.add_input(unit, plan.shapes[unit]), plan.shapes[unit])
    export_instrs(g, instrs)
    for unit, slot in part.outputs.items():
        if plan.sequence:
            _sequence_output(g, unit, slot, plan.shapes[unit])
        else:
            g.add_output(unit, g.value(slot), plan.shapes[unit])


def needed(instrs, wanted: set[str], given: set[str]) -> list:
    """The instructions, in order, that the wanted slots depend on, stopping at the given ones."""
    want, kept = set(wanted), []
    for ins in reversed(instrs):
        outputs = ins.output if isinstance(ins.output, tuple) else (ins.output,)
        if any(o in want for o in outputs) and not all(o in given for o in outputs):
            kept.append(ins)
            want.update(s for s in ins.inputs if s)
    return kept[::-1]


def _sequence_inputs(g: OnnxGraph, plan: Plan, inputs: dict[str, str]) -> None:
    """Each input (batch, steps, *shape) as time-major rows; the batch size for the layouts; zero states."""
    for unit, slot in inputs.items():
        shape = plan.shapes[unit]
        x = g.add_input(unit, shape, (BATCH, STEPS))
        if g.root.batch is None:
            g.root.batch = g.node("Slice", [g.node("Shape", [x], "batch:shape"), g.ints([0]), g.ints([1])],
                                  "batch")
        steps_first = g.node("Transpose", [x], f"{unit}:time_major", perm=[1, 0, *range(2, 2 + len(shape))])
        g.set(slot, g.node("Reshape", [steps_first, g.ints([-1, *shape])], f"{unit}:rows"), shape)
    for state in plan.initial:
        zeros = g.node("ConstantOfShape", [g.dims(state.blocks, BATCH, *state.shape)], f"{state.feed}:zeros")
        g.set(state.feed, g.node("Reshape", [zeros, g.ints([-1, *state.shape])], state.feed), state.shape)


def _sequence_output(g: OnnxGraph, unit: str, slot: str, shape) -> None:
    steps_first = blocks(g, slot, f"{unit}:steps")
    batch_first = g.node("Transpose", [steps_first], f"{unit}:batch_major", perm=[1, 0, *range(2, 2 + len(shape))])
    g.add_output(unit, batch_first, shape, (BATCH, STEPS))
