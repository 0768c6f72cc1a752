"""Structural checks on a model graph: each pass reports into a Collector and returns nothing."""

from __future__ import annotations

import math

import networkx as nx

from nngraph.errors import Collector
from nngraph.graph.ir import ModelGraph


def validate_structure(model: ModelGraph, errors: Collector) -> None:
    for check in (check_inputs_receive_nothing, check_symmetric_links, check_duplicate_edges,
                  check_delay0_acyclic, check_reachable, check_unused, check_learned_initial, check_batchnorm,
                  check_feedforward_only_links,
                  check_bidirectional, check_boltzmann_machine, check_recurrent_units):
        check(model, errors)


def require(check, model: ModelGraph) -> None:
    """Run one check of this module and raise what it finds: how an executor given a graph that did not come
    through `check_spec` (the Python API) refuses it with the check's own words."""
    errors = Collector()
    check(model, errors)
    errors.raise_if_any()


def check_boltzmann_machine(model: ModelGraph, errors: Collector) -> None:
    """What the energy executor (compile/energy.py) and its samplers run: a machine whose units are joined by
    symmetric links only, bernoulli hidden units, and no link between two gaussian groups (the energy of two
    linked gaussian units is unbounded below once their weight exceeds 1)."""
    if not model.is_boltzmann:
        return
    linked = {frozenset((e.source, e.target)) for e in model.edges if e.symmetric}
    for edge in model.edges:
        if not edge.symmetric and not edge.implicit:
            symmetric = f"`{edge.source} <-> {edge.target}`"
            errors.error(f"{edge.source} -> {edge.target} is a directed connection in Boltzmann machine "
                         f"'{model.name}'", edge.span,
                         f"remove it: {symmetric} links them already, both ways"
                         if frozenset((edge.source, edge.target)) in linked else
                         f"a Boltzmann machine's units are joined by symmetric links only: {symmetric}")
    for unit in model.units:
        if unit.role == "hidden" and unit.stochastic == "gaussian":
            errors.error(f"hidden unit '{unit.name}' is gaussian; Boltzmann machines take bernoulli hidden units",
                         unit.span, f"declare it `hidden {unit.name}[...] bernoulli`; gaussian visible units "
                         "model real data")
    for edge in model.edges:
        ends = {model.unit(edge.source).stochastic, model.unit(edge.target).stochastic}
        if edge.symmetric and ends == {"gaussian"}:
            errors.error(f"link {edge.source} <-> {edge.target} joins two gaussian groups: its energy has no lower "
                         "bound", edge.span, "make one side bernoulli")


def check_recurrent_units(model: ModelGraph, errors: Collector) -> None:
    """Backprop through time (compile/loops.py) runs layers, cells, inputs and outputs step by step: no noise
    draws, reparameterised samples or Boltzmann units. (A Boltzmann machine with a delayed connection is
    refused for the connection, by `check_boltzmann_machine`.)"""
    if not model.is_recurrent or model.is_boltzmann:
        return
    for unit in model.units:
        if unit.role in ("noise", "sample", "visible", "hidden"):
            errors.error(f"unit '{unit.name}' ({unit.role}) cannot be part of a recurrent model trained by "
                         "backprop through time", unit.span,
                         "recurrent models take `input`, `layer` and `output` units only")


def loop_units(model: ModelGraph) -> set[str]:
    """The units on a cycle of the whole graph, delayed links included: a recurrent plan computes them step by
    step (compile/loops.py), and only they carry a state from step to step."""
    whole = nx.DiGraph()
    whole.add_nodes_from(model.graph.nodes)
    whole.add_edges_from((e.source, e.target) for e in model.edges if not e.symmetric)
    return {name for comp in nx.strongly_connected_components(whole) for name in comp
            if len(comp) > 1 or whole.has_edge(name, name)}


def check_batchnorm(model: ModelGraph, errors: Collector) -> None:
    """Batch statistics over the rows of a recurrent model would mix the steps of a sequence, and the padding
    of ragged ones, into every step's value: refused where written, with the normalisation that works there."""
    if not model.is_recurrent:
        return
    for unit in model.units:
        if unit.norm == "batchnorm":
            errors.error(f"batchnorm on '{unit.name}' in a recurrent model", unit.span,
                         "use layernorm: it normalises each step of each sequence on its own")


def check_one_value_layernorm(model: ModelGraph, errors: Collector) -> None:
    """A layernorm normalises each example over all its values: over one value it is always 0, and the unit's
    value its shift alone, whatever its inputs. Warned of where written (after shape inference)."""
    for unit in model.units:
        if unit.norm == "layernorm" and unit.name in model.shapes and math.prod(model.shapes[unit.name]) == 1:
            errors.warn(f"layernorm on '{unit.name}', a unit of one value, makes its value a constant: each "
                        "example is normalised over its own values, and one value less its mean is 0", unit.span,
                        f"remove layernorm from '{unit.name}', or give it more values")


# links whose op mixes what a recurrent model's rows are not: a spread over the rows would mix the steps of a
# sequence and its padding; the autoregressive mask orders one example's values, which would also have to run
# through its steps, which no executor does
FEEDFORWARD_ONLY_LINKS = {
    "minibatch_std": "minibatch_std belongs in a gan's discriminator of whole examples",
    "autoregressive": "an autoregressive link orders the values of one example: a feedforward model's",
}


def check_feedforward_only_links(model: ModelGraph, errors: Collector) -> None:
    """The links of FEEDFORWARD_ONLY_LINKS, refused in recurrent models where written."""
    if not model.is_recurrent:
        return
    for edge in model.edges:
        if edge.kind in FEEDFORWARD_ONLY_LINKS:
            errors.error(f"{edge.kind} link {edge.source} -> {edge.target} in a recurrent model", edge.span,
                         FEEDFORWARD_ONLY_LINKS[edge.kind])


def check_bidirectional(model: ModelGraph, errors: Collector) -> None:
    """A bidirectional layer runs its own recurrence forward and backward over the whole sequence: it must
    have one (a cell, or its own delayed link), and nothing else may be on its loop or read its past (its
    backward direction's past is the future)."""
    loops = None
    for unit in model.units:
        if not unit.bidirectional:
            continue
        own = [e for e in model.incoming(unit.name) if e.source == unit.name and e.delay]
        if not own:
            errors.error(f"bidirectional unit '{unit.name}' has no recurrence to run both ways", unit.span,
                         f"make it a cell (`lstm`, `gru`, `mgu`) or add `{unit.name} -> {unit.name} delay 1`")
            continue
        loops = loop_units(model) if loops is None else loops
        others = [e for e in model.edges if e.delay and (e.source == unit.name) != (e.target == unit.name)]
        others += [e for e in model.incoming(unit.name) if e.delay == 0 and e.source in loops]
        if others:
            edge = others[0]
            errors.error(f"bidirectional unit '{unit.name}' must be a loop of its own: {edge.source} -> "
                         f"{edge.target} joins it to another", edge.span,
                         "only its own recurrence may be delayed; feed it from units outside any loop")


def check_learned_initial(model: ModelGraph, errors: Collector) -> None:
    loops = None
    for unit in model.units:
        if not unit.learned_initial:
            continue
        loops = loop_units(model) if loops is None else loops
        if unit.name not in loops:
            errors.error(f"'{unit.name}' is on no recurrent loop: it has no state to learn", unit.span,
                         f"`initial=learned` is for units whose past they read again (a cell, or `{unit.name} -> "
                         f"{unit.name} delay 1`)")


def check_inputs_receive_nothing(model: ModelGraph, errors: Collector) -> None:
    for edge in model.edges:
        target = model.unit(edge.target)
        if target.is_input and not edge.implicit:
            errors.error(f"'{edge.target}' is an {target.role}; nothing can connect into it", edge.span,
                         "inputs get their values from data (or, for noise, from a random draw)")


def check_symmetric_links(model: ModelGraph, errors: Collector) -> None:
    for edge in model.edges:
        if not edge.symmetric:
            continue
        for end in {edge.source, edge.target}:
            unit = model.unit(end)
            if not unit.is_stochastic:
                errors.error(f"symmetric link touches deterministic unit '{end}' ({unit.role})", edge.span,
                             "symmetric links join stochastic units: declare them `visible` or `hidden`")


def check_duplicate_edges(model: ModelGraph, errors: Collector) -> None:
    seen = {}
    for edge in model.edges:
        ends = tuple(sorted((edge.source, edge.target))) if edge.symmetric else (edge.source, edge.target)
        key = (ends, edge.delay, edge.symmetric, edge.kind == "identity")  # W x + x is two links, not one twice
        if key in seen:
            first = seen[key]
            errors.error(f"connection {edge.source} -> {edge.target} is written twice", edge.span,
                         f"first at line {first.span.line}; to scale a connection use one link")
        else:
            seen[key] = edge


def same_step_graph(model: ModelGraph) -> nx.DiGraph:
    """The directed delay-0 part: what must be computed before what within one step."""
    g = nx.DiGraph()
    g.add_nodes_from(model.graph.nodes)
    g.add_edges_from((e.source, e.target, {"edge": e}) for e in model.edges if e.delay == 0 and not e.symmetric)
    return g


def check_delay0_acyclic(model: ModelGraph, errors: Collector) -> None:
    g = same_step_graph(model)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
    first = g.edges[cycle[0][0], cycle[0][1]]["edge"]
    errors.error(f"cycle of same-step connections: {path}", first.span,
                 "give one connection in the cycle a delay (`a -> b delay 1`) to make it recurrent")


def check_reachable(model: ModelGraph, errors: Collector) -> None:
    """Every unit must be driven by data: from an input along directed edges, or via symmetric links."""
    g = nx.Graph() if model.is_boltzmann else nx.DiGraph()
    g.add_nodes_from(model.graph.nodes)
    g.add_edges_from((e.source, e.target) for e in model.edges if not e.implicit)
    sources = [u.name for u in model.units if u.is_input or u.role == "visible"]
    reached = set(sources)
    for s in sources:
        reached |= nx.descendants(g, s) if g.is_directed() else nx.node_connected_component(g, s)
    if not sources:
        errors.error(f"model '{model.name}' has no input", model.span,
                     "declare one: `input x[4]` (or `visible v[16]` for a Boltzmann machine)")
        return
    link = "<->" if model.is_boltzmann else "->"  # the hint names the model's own first input and link
    for unit in model.units:
        if unit.name not in reached:
            errors.error(f"unit '{unit.name}' is not reachable from any input", unit.span,
                         f"connect it: `{sources[0]} {link} {unit.name}`")


def check_unused(model: ModelGraph, errors: Collector) -> None:
    for unit in model.units:
        if unit.role in ("output", "visible", "hidden") or model.graph.out_degree(unit.name):
            continue
        if any(e.symmetric for e in model.incoming(unit.name)):
            continue
        errors.warn(f"unit '{unit.name}' feeds nothing and is not an output", unit.span,
                    f"declare it `output {unit.name}` or connect it onward")
