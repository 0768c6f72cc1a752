"""Checked recurrent model graph -> RecurrentPlan: stages over time, computed once per model.

A recurrent model is a graph with delayed edges. Its units split into **stages**, the strongly connected
components of the whole graph (delayed edges included) in topological order:

- a *loop* stage holds units on a cycle (every cycle has a delayed edge, since the same-step graph is
  acyclic): only these are computed step by step;
- every other unit is a *parallel* stage: all its steps at once, time folded into the batch, so the input
  projection of a layer is one GEMM over (steps * batch, features).

Each unit's incoming edges split the same way: *outer* edges come from earlier stages (any delay) and are
computed for all steps before the unit's stage runs; *inner* edges come from the unit's own loop stage and
are applied step by step, in the same-step topological order of the stage's units. A gated cell's own
recurrence (the implicit `h -> h delay 1`) is inner: for an LSTM an ordinary term of the pre-activation,
for a GRU the `hu` that its reset gate scales.

Parameters carry the feedforward compiler's names: `x->h.weight` (fan_in, G * H), `h->h@1.weight`
(H, G * H), `h.bias` (G * H), G = 4 (lstm), 3 (gru) or 1. With `learn_initial`, every loop unit that
feeds a delayed edge also gets `h.initial` (its value before the first step; zero otherwise), and an LSTM
`h.initial_cell`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from nngraph.compile.lower import loss_op, reads_logits, scored_unit, weight_name
from nngraph.compile.plan import ParamSpec
from nngraph.errors import BuildError
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.graph.shapes import GATES, conv_geometry, unit_bias
from nngraph.graph.training import LossTerm
from nngraph.graph.validate import same_step_graph

LOOP_EDGE_KINDS = ("dense",)
PARALLEL_EDGE_KINDS = ("dense", "conv", "maxpool", "avgpool", "identity")


@dataclass(frozen=True)
class Edge:
    """One incoming connection as the executor applies it: source value `delay` steps back, through
    `kind` (dense: times `weight`)."""

    source: str
    delay: int
    kind: str
    weight: str | None = None  # parameter name
    attrs: dict = field(default_factory=dict, hash=False)  # conv/pool geometry, source image shape


@dataclass(frozen=True)
class UnitPlan:
    name: str
    shape: tuple[int, ...]
    width: int  # prod(shape): buffers are (rows, width)
    cell: str | None  # None | lstm | gru
    activation: str
    activation_args: dict
    bias: str | None  # parameter name
    channel_bias: bool  # one bias per channel (a conv-only unit)
    outer: tuple[Edge, ...]
    inner: tuple[Edge, ...]
    own: str | None  # a GRU's recurrent weight (the `hu` term)
    dropout: float
    history: int  # steps of its past that later steps or a carried state read (its largest outgoing delay)

    @property
    def gates(self) -> int:
        return GATES[self.cell]


@dataclass(frozen=True)
class Stage:
    units: tuple[UnitPlan, ...]
    loop: bool


@dataclass(frozen=True)
class LossPlan:
    label: str
    unit: str
    op: str  # the loss op (fused ops read the unit's pre-activation)
    logits: bool
    weight: float
    target: str | None  # a unit whose value is the target; None: the data's targets


@dataclass
class RecurrentPlan:
    model: str
    feeds: list[str]  # input units, declaration order
    stages: list[Stage]
    params: dict[str, ParamSpec]
    losses: list[LossPlan]
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]]
    history: dict[str, int]  # every unit's history, inputs included
    initial: dict[str, str] = field(default_factory=dict)  # unit -> its learned initial-state parameter
    scored: str | None = None  # the unit compared with the data's targets (metrics read it)

    def unit(self, name: str) -> UnitPlan:
        return next(u for s in self.stages for u in s.units if u.name == name)


def lower_recurrent(model: ModelGraph, losses: tuple[LossTerm, ...] = (), learn_initial: bool = False
                    ) -> RecurrentPlan:
    """The plan of a recurrent model: stages, parameters and losses."""
    _refuse_unsupported(model)
    order = _same_step_order(model)
    history = {u.name: max((e.delay for e in model.outgoing(u.name)), default=0) for u in model.units}
    params: dict[str, ParamSpec] = {}
    stages = []
    for members, loop in _components(model, order):
        units = tuple(_lower_unit(model, model.unit(n), members if loop else (), history, params)
                      for n in members)
        stages.append(Stage(units, loop))
    plan = RecurrentPlan(model.name, [u.name for u in model.units if u.role == "input"],
                         [s for s in stages if s.units], params, [_lower_loss(model, t) for t in losses],
                         [u.name for u in model.units if u.role == "output"], dict(model.shapes), history)
    plan.scored = scored_unit(losses, plan.outputs)
    if learn_initial:
        _add_initial_states(plan)
    return plan


def _refuse_unsupported(model: ModelGraph) -> None:
    for unit in model.units:
        if unit.role in ("noise", "sample", "visible", "hidden"):
            raise BuildError(f"unit '{unit.name}' ({unit.role}) cannot be part of a recurrent model "
                             "trained by backprop through time", unit.span)


def _same_step_order(model: ModelGraph) -> list[str]:
    declared = {u.name: i for i, u in enumerate(model.units)}
    return list(nx.lexicographical_topological_sort(same_step_graph(model), key=declared.__getitem__))


def _components(model: ModelGraph, order: list[str]):
    """(members in same-step order, is_loop) for each strongly connected component, sources first."""
    whole = nx.DiGraph()
    whole.add_nodes_from(order)
    whole.add_edges_from((e.source, e.target) for e in model.edges if not e.symmetric)
    condensed = nx.condensation(whole)
    rank = {name: i for i, name in enumerate(order)}
    first = {c: min(rank[m] for m in condensed.nodes[c]["members"]) for c in condensed}
    for comp in nx.lexicographical_topological_sort(condensed, key=first.__getitem__):
        members = sorted(condensed.nodes[comp]["members"], key=rank.__getitem__)
        loop = len(members) > 1 or whole.has_edge(members[0], members[0])
        if model.unit(members[0]).role != "input":
            yield members, loop


def _lower_unit(model: ModelGraph, unit: UnitSpec, loop_members, history, params) -> UnitPlan:
    shape = model.shapes[unit.name]
    gates = GATES[unit.cell]
    if unit.dropout and loop_members:
        raise BuildError(f"dropout on '{unit.name}', a unit inside a recurrent loop, is not supported",
                         unit.span, "put the dropout on a unit after the loop")
    outer, inner, own = [], [], None
    for edge in sorted(model.incoming(unit.name), key=lambda e: (e.source, e.delay)):
        inside = edge.source in loop_members
        allowed = LOOP_EDGE_KINDS if inside or loop_members else PARALLEL_EDGE_KINDS
        if edge.kind not in allowed:
            raise BuildError(f"a {edge.kind} connection into '{unit.name}' is not supported "
                             f"{'inside a recurrent loop' if loop_members else 'in a recurrent model'}",
                             edge.span, "recurrent units take dense connections")
        lowered = _lower_edge(model, edge, unit, gates, params)
        if edge.implicit and unit.cell == "gru":
            own = lowered.weight
        else:
            (inner if inside else outer).append(lowered)
    bias, channel = _bias(model, unit, params)
    return UnitPlan(unit.name, shape, math.prod(shape), unit.cell, unit.activation,
                    dict(unit.activation_args), bias, channel, tuple(outer), tuple(inner), own,
                    unit.dropout, history[unit.name])


def _lower_edge(model: ModelGraph, edge: EdgeSpec, unit: UnitSpec, gates: int, params) -> Edge:
    src, dst = model.shapes[edge.source], model.shapes[edge.target]
    init = "he" if unit.activation in ("relu", "leaky_relu", "elu") else "glorot"
    name = weight_name(edge) + ".weight"
    if edge.kind == "dense":
        fan_in, fan_out = math.prod(src), math.prod(dst) * gates
        params[name] = ParamSpec(name, (fan_in, fan_out), init, fan_in, fan_out)
        return Edge(edge.source, edge.delay, "dense", name)
    if edge.kind == "identity":
        return Edge(edge.source, edge.delay, "identity")
    kernel, stride, padding = conv_geometry(edge, src)
    attrs = {"kernel": list(kernel), "stride": list(stride), "padding": list(padding), "image": src}
    if edge.kind == "conv":
        fan_in, fan_out = src[0] * kernel[0] * kernel[1], dst[0] * kernel[0] * kernel[1]
        params[name] = ParamSpec(name, (dst[0], src[0], *kernel), init, fan_in, fan_out)
        return Edge(edge.source, edge.delay, "conv", name, attrs)
    return Edge(edge.source, edge.delay, edge.kind, None, attrs)


def _bias(model, unit, params) -> tuple[str | None, bool]:
    bias = unit_bias(model, unit.name)
    if bias is None:
        return None, False
    name = f"{unit.name}.bias"
    params[name] = ParamSpec(name, (bias[0],), "zeros")
    return name, bias[1]


def _lower_loss(model: ModelGraph, term: LossTerm) -> LossPlan:
    unit = model.unit(term.unit)
    if term.kind == "kl":
        raise BuildError("kl(...) has no meaning in a recurrent model", term.span)
    op = loss_op(term, unit)
    label = term.label
    return LossPlan(label, term.unit, op, reads_logits(op, unit), term.weight, term.target)


def _add_initial_states(plan: RecurrentPlan) -> None:
    for stage in plan.stages:
        for unit in stage.units if stage.loop else ():
            if unit.history:
                plan.initial[unit.name] = f"{unit.name}.initial"
                plan.params[plan.initial[unit.name]] = ParamSpec(plan.initial[unit.name], (unit.width,), "zeros")
            if unit.cell == "lstm":
                name = f"{unit.name}.initial_cell"
                plan.initial[unit.name + ":cell"] = name
                plan.params[name] = ParamSpec(name, (unit.width,), "zeros")
