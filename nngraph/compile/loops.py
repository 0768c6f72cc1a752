"""A recurrent model's plan: the feedforward lowering over time-major rows, each loop a `scan`.

The units split into the strongly connected components of the whole graph (delayed edges included), in
topological order. A unit on a cycle (every cycle has a delayed edge: the same-step graph is acyclic) belongs
to a *loop*, lowered to one `scan` instruction; every other unit is computed for all steps at once, time folded
into the rows, exactly as in a feedforward plan. A connection from k steps back reads `delayed(value,
initial)` (ops/sequence.py); a loop's own past values are the scan's carries.

Inside a scan, each loop unit's connections from outside the loop (and its bias) form the prologue, one op over
all steps; the step sums that with the connections from inside the loop (the recurrent products), then applies
the cell or activation. A gated cell's own recurrence (the implicit `h -> h delay 1`) is an ordinary term of an
LSTM's pre-activation; for a GRU it is the `hu` that the reset gate scales.

Losses read the window's loss rows (`take_rows`); a unit that only a loss reads, through its logits (a
classifier on the last step), is computed at those rows alone. Parameters carry the feedforward names:
`x->h.weight` (fan_in, G * H), `h->h@1.weight`, `h.bias` (G * H), G the cell's gates (vocabulary.CELLS) or 1; with
`learn_initial`, `h.initial` (and an LSTM's `h.initial_cell`) is the loop unit's state before the first step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import networkx as nx

from nngraph.compile.lower import (
    Builder,
    activate,
    dropout,
    loss_op,
    net_input,
    reads_logits,
    unit_bias_param,
    weight_name,
)
from nngraph.compile.plan import ROWS, InitialState, Instr, Plan
from nngraph.compile.scan import Carry, ScanBody
from nngraph.graph.ir import ModelGraph, UnitSpec
from nngraph.graph.shapes import GATES
from nngraph.graph.training import LossTerm
from nngraph.graph.validate import check_recurrent_units, require, same_step_graph
from nngraph.ops import get_op


def lower_loops(b: Builder, model: ModelGraph, losses: tuple[LossTerm, ...], learn_initial: bool) -> Plan:
    require(check_recurrent_units, model)  # what `check` refuses, for graphs made in Python
    history = {u.name: max((e.delay for e in model.outgoing(u.name)), default=0) for u in model.units}
    plan = Plan(model.name, b.instrs, b.params, [u.name for u in model.units if u.role == "input"], b.random,
                [u.name for u in model.units if u.role == "output"], b.aliases, shapes=dict(model.shapes),
                sequence=True)
    components = list(_components(model))
    loops = {name for members, loop in components if loop for name in members}
    plan.at_rows = _row_sparse_units(model, losses, loops, b.training)
    learned = {name for name in loops if learn_initial or model.unit(name).learned_initial}
    _initial_states(b, plan, model, history, learned)
    reads = _OuterReads(b, history, plan.at_rows)
    b.read = reads.read
    for members, loop in components:
        if loop and model.unit(members[0]).bidirectional:
            _lower_both_ways(b, model, members[0], history, reads)
        elif loop:
            _lower_loop(b, model, members, history, reads, _logit_units(model, losses))
        else:
            unit = model.unit(members[0])
            activate(b, unit, net_input(b, unit, model.incoming(unit.name), unit_bias_param(b, unit)))
    return plan


def _components(model: ModelGraph):
    """(members in same-step order, is_loop) for each strongly connected component, sources first; the
    input units are left out (they are the plan's feeds)."""
    declared = {u.name: i for i, u in enumerate(model.units)}
    order = list(nx.lexicographical_topological_sort(same_step_graph(model), key=declared.__getitem__))
    whole = nx.DiGraph()
    whole.add_nodes_from(order)
    whole.add_edges_from((e.source, e.target) for e in model.edges if not e.symmetric)
    condensed = nx.condensation(whole)
    rank = {name: i for i, name in enumerate(order)}
    first = {c: min(rank[m] for m in condensed.nodes[c]["members"]) for c in condensed}
    for comp in nx.lexicographical_topological_sort(condensed, key=first.__getitem__):
        members = sorted(condensed.nodes[comp]["members"], key=rank.__getitem__)
        if model.unit(members[0]).role != "input":
            yield members, len(members) > 1 or whole.has_edge(members[0], members[0])


def _row_sparse_units(model: ModelGraph, losses, loops: set, training: bool) -> set[str]:
    """Units computed at the loss rows alone: outside any loop, no edge leaves them, exactly one loss reads
    them, through its logits, none compares with them, and (in training) no dropout draws a mask per row."""
    read = [t.unit for t in losses] + [t.target for t in losses if t.target]
    return {t.unit for t in losses if t.kind != "kl" and reads_logits(loss_op(t, model.unit(t.unit)), model.unit(t.unit))
            and t.unit not in loops and not model.outgoing(t.unit) and read.count(t.unit) == 1
            and not (training and model.unit(t.unit).dropout)}


def _logit_units(model: ModelGraph, losses) -> set[str]:
    return {t.unit for t in losses if t.kind != "kl" and reads_logits(loss_op(t, model.unit(t.unit)), model.unit(t.unit))}


def _initial_states(b: Builder, plan: Plan, model: ModelGraph, history: dict, learned: set) -> None:
    """Every unit that a later step reads has a state before the first step: zeros, a carried state, or
    (loop units, with `learn_initial`) a parameter added to the zeros. An LSTM in a loop also carries c. A
    bidirectional layer has one per direction, never carried."""
    for unit in model.units:
        for direction in _directions(unit):
            d = Builder(_direction_view(model, unit), b.training, b.params, b.random, direction=direction.names)
            d.instrs, shape = b.instrs, d.model.shapes[unit.name]
            if history[unit.name]:
                _initial(d, plan, unit, history[unit.name], shape, unit.name in learned, "", direction)
            if unit.cell == "lstm":
                _initial(d, plan, unit, 1, shape, unit.name in learned, "_cell", direction)


def _initial(b: Builder, plan: Plan, unit: UnitSpec, blocks: int, shape, learned: bool, kind: str,
             direction: _Direction) -> None:
    slot = f"{unit.name}{direction.state}:initial{kind}"
    feed = slot + ":zeros" if learned else slot
    if learned:
        param = b.param(f"{unit.name}.initial{kind}", (math.prod(shape),), "zeros")
        b.emit("bias_add", (feed, param), slot)
    plan.initial.append(InitialState(unit.name + direction.state + (":cell" if kind else ""), slot, feed, blocks,
                                     tuple(shape), carried=not unit.bidirectional))


@dataclass(frozen=True)
class _Direction:
    """How one direction of a loop names what it makes: the scan's outer outputs (`tag`), its state slots
    (`state`) and its parameters and draws (`names`, see `Builder.directed`)."""

    tag: str = ""
    reverse: bool = False
    state: str = ""
    names: str = ""


_ONE_WAY = (_Direction(),)
_BOTH_WAYS = (_Direction(":forward"), _Direction(":reverse", True, ":reverse", ".reverse"))


def _directions(unit: UnitSpec) -> tuple[_Direction, ...]:
    return _BOTH_WAYS if unit.bidirectional else _ONE_WAY


def _direction_view(model: ModelGraph, unit: UnitSpec) -> ModelGraph:
    """The model as one direction of a bidirectional layer sees it: the layer [H] wide, not [2H]."""
    if not unit.bidirectional:
        return model
    shape = model.shapes[unit.name]
    return replace(model, shapes={**model.shapes, unit.name: (shape[0] // 2,) + shape[1:]})


class _OuterReads:
    """How the plan outside the loops reads an edge's source: its value, or a copy `delay` steps back (made
    once per source and delay), at the loss rows for a unit computed there alone."""

    def __init__(self, b: Builder, history: dict, at_rows: set):
        self.b, self.history, self.at_rows = b, history, at_rows
        self.delayed: dict[tuple[str, int], str] = {}

    def read(self, edge) -> str:
        slot = self.b.value(edge.source) if edge.delay == 0 else self._delayed(edge.source, edge.delay)
        if edge.target in self.at_rows:
            return self.b.emit("take_rows", (slot, ROWS), f"{weight_name(edge)}:rows")
        return slot

    def _delayed(self, source: str, k: int) -> str:
        key = (source, k)
        if key not in self.delayed:
            self.delayed[key] = self.b.emit("delayed", (self.b.value(source), f"{source}:initial"), f"{source}@{k}",
                                            k=k, depth=self.history[source])
        return self.delayed[key]


def _lower_both_ways(b: Builder, model: ModelGraph, name: str, history: dict, reads: _OuterReads) -> None:
    """A bidirectional layer: a forward and a reverse scan over the same steps, each with its own parameters,
    their values side by side (forward first, as PyTorch's)."""
    unit = model.unit(name)
    view = _direction_view(model, unit)
    halves = [_lower_loop(b, view, [name], history, reads, set(), d) for d in _directions(unit)]
    b.aliases[name] = b.emit("concat", halves, name)


def _lower_loop(b: Builder, model: ModelGraph, members: list[str], history: dict, reads: _OuterReads,
                logits: set, direction: _Direction = _ONE_WAY[0]) -> str:
    """One loop of units as a scan instruction (see compile/scan.py); returns the slot of its first unit's
    value."""
    inside = set(members)
    prologue = Builder(model, b.training, b.params, b.random, reads.read, scope="pro:", direction=direction.names)
    step = Builder(model, b.training, b.params, b.random, scope="", direction=direction.names)
    owner = Builder(model, b.training, b.params, b.random, direction=direction.names)  # the loop's biases
    step.read = lambda e: step.value(e.source) if e.delay == 0 else f"{e.source}@{e.delay}"
    sequences = []
    for name in members:
        unit = model.unit(name)
        outer = [e for e in model.incoming(name) if e.source not in inside]
        inner = [e for e in model.incoming(name) if e.source in inside and not (_gated(unit) and e.implicit)]
        bias = unit_bias_param(owner, unit)
        extra = ()
        if outer:
            extra, bias = (net_input(prologue, unit, outer, bias),), None
            sequences.append(extra[0])
        _step_unit(step, unit, net_input(step, unit, inner, bias, extra), model)
    carries = _carries(model, members, step, history, direction.state)
    outputs = _outputs(model, members, step, logits)
    for name in members:
        b.aliases[name] = step.value(name) + direction.tag
        b.aliases[name + ":z"] = step.value(name + ":z") + direction.tag
    body = ScanBody(tuple(prologue.instrs), tuple(step.instrs), tuple(sequences), carries, tuple(outputs),
                    _reads(prologue.instrs + step.instrs, outputs, sequences, carries), reverse=direction.reverse)
    shapes = list(outputs.values())
    from nngraph.compile.fused_scan import fused_implementation, pattern_of

    body = replace(body, pattern=pattern_of(model, members, body, step.directed))
    b.instrs.append(Instr(get_op("scan"), body.reads, tuple(s + direction.tag for s in body.outputs),
                          {"body": body, "shapes": shapes, "fused": fused_implementation}))
    return b.aliases[members[0]]


def _step_unit(step: Builder, unit: UnitSpec, z: str, model: ModelGraph) -> None:
    """A loop unit's value at one step from its net input z: the cell, or the activation; variational
    dropout (one mask per sequence)."""
    name = unit.name
    if unit.cell == "lstm":
        width = model.shapes[name][0]
        hc = step.emit("lstm_gates", (z, f"{name}:cell@1"), f"{name}:gates")
        h = step.emit("columns", (hc,), name, start=0, stop=width)
        step.emit("columns", (hc,), f"{name}:cell", start=width, stop=2 * width)
    elif _gated(unit):
        own = next(e for e in model.incoming(name) if e.implicit)
        width, columns = model.shapes[name][0], GATES[unit.cell] * model.shapes[name][0]
        u = step.param(weight_name(own) + ".weight", (width, columns), "glorot", width, columns)
        hu = step.emit("matmul", (f"{name}@1", u), f"{name}:hu")
        h = step.emit(f"{unit.cell}_gates", (z, hu, f"{name}@1"), name)
    else:
        activate(step, unit, z, per_sequence=True)
        return
    step.aliases[name + ":z"] = z
    step.aliases[name] = dropout(step, unit, h, per_sequence=True)


def _gated(unit: UnitSpec) -> bool:
    """A cell that reads its own recurrence beside its net input (every cell but the LSTM)."""
    return unit.cell is not None and unit.cell != "lstm"


def _carries(model: ModelGraph, members: list[str], step: Builder, history: dict, state: str = "") -> tuple[Carry, ...]:
    carries = []
    for name in members:
        depth = max((e.delay for m in members for e in model.incoming(m) if e.source == name), default=0)
        if depth:
            carries.append(Carry(step.value(name), name, f"{name}{state}:initial", history[name], depth))
        if model.unit(name).cell == "lstm":
            carries.append(Carry(f"{name}:cell", f"{name}:cell", f"{name}{state}:initial_cell", 1, 1))
    return tuple(carries)


def _outputs(model: ModelGraph, members: list[str], step: Builder, logits: set) -> dict[str, tuple]:
    """The step slots the scan stacks, with their per-step shapes: every loop unit's value, the
    pre-activation a loss reads as logits, an LSTM's c (for a carried state)."""
    slots = {}
    for name in members:
        shape = model.shapes[name]
        slots.setdefault(step.value(name), shape)
        if name in logits:
            slots.setdefault(step.value(name + ":z"), shape)
        if model.unit(name).cell == "lstm":
            slots[f"{name}:cell"] = shape
    return slots


def _reads(instrs, outputs, sequences, carries) -> tuple[str, ...]:
    """The outer slots a body reads, in first-use order: the scan instruction's inputs."""
    inner = {s for ins in instrs for s in (ins.output if isinstance(ins.output, tuple) else (ins.output,))}
    inner |= set(outputs) | set(sequences) | {c.past(k) for c in carries for k in range(1, c.depth + 1)}
    reads = [s for ins in instrs for s in ins.inputs if s and s not in inner]
    return tuple(dict.fromkeys(reads + [c.initial for c in carries]))
