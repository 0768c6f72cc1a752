"""AST model -> graph IR: interpret each unit's attributes and each link's modifiers."""

from __future__ import annotations

import dataclasses

import networkx as nx

from nngraph.errors import Collector, NngraphError, ValidationError, did_you_mean
from nngraph.graph import vocabulary as V
from nngraph.graph.expand import Flat, flatten, hint_if_kept
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.spec import ast
from nngraph.spec.format import spoken
from nngraph.spec.values import bind_options, expect_number, literal

UNIT_WORDS = (
    *V.ACTIVATIONS, *V.CELLS, *V.NORMS, *V.STOCHASTIC, *V.NOISE_DISTRIBUTIONS, *V.UNIT_FLAGS, *V.UNIT_SETTINGS,
)


def build_model(model: ast.Model, blocks: dict[str, ast.Block], errors: Collector) -> ModelGraph:
    flat = flatten(model, blocks, errors)
    graph = nx.MultiDiGraph(name=model.name)
    _add_units(graph, flat, errors)
    for conn, env in flat.connections:
        _add_connection(graph, conn, env, flat, errors)
    _add_cell_recurrence(graph, errors)
    # whole-model errors (no input, a memory estimate) point at the name
    return ModelGraph(model.name, graph, model.name_span if model.name_span.line else model.span)


def _add_cell_recurrence(graph, errors: Collector) -> None:
    """A gated cell (lstm, gru) carries its own recurrence: h(t-1) feeds its gates."""
    for name, data in list(graph.nodes(data=True)):
        unit = data["unit"]
        if unit.cell:
            written = [d["edge"] for _, t, d in graph.out_edges(name, data=True) if t == name and d["edge"].delay == 1]
            if written:
                errors.error(f"{unit.cell} unit '{name}' already carries its own recurrence", written[0].span,
                             f"remove `{name} -> {name} delay 1`; h(t-1) feeds the {unit.cell}'s gates")
                continue
            graph.add_edge(name, name, edge=EdgeSpec(name, name, "dense", (), 1, implicit=True, span=unit.span))


# ---- units ---------------------------------------------------------------------------------


def _add_units(graph, flat: Flat, errors: Collector) -> None:
    added = []  # the declarations the graph holds: a second one of a name is refused, not read as the first
    for unit in flat.units:
        if unit.name in graph:
            first = graph.nodes[unit.name]["unit"].span
            errors.error(f"unit '{unit.name}' is declared twice", unit.span,
                         f"first declared at line {first.line}")
            continue
        try:
            spec = unit_spec(unit, flat.env.get(unit.name, {}))
            graph.add_node(unit.name, unit=dataclasses.replace(spec, repeat=_copied_by(unit.name, flat)))
            added.append(unit)
        except NngraphError as e:
            errors.add(e)
    for unit in added:
        spec = graph.nodes[unit.name]["unit"]
        if spec.role == "sample":
            _add_sample_edges(graph, spec, unit, errors)


def _copied_by(name: str, flat: Flat) -> tuple:
    """The `repeat=` copies a unit lies in, outermost first: its own name, or an instance it is inside."""
    parts = name.split(".")
    prefixes = (".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return tuple(flat.copies[p] for p in prefixes if p in flat.copies)


RESERVED = (*V.ROLES, "use", "delay", "model", "block", "train")


def unit_spec(unit: ast.Unit, env: dict) -> UnitSpec:
    if unit.name.split(".")[-1] in RESERVED:
        raise ValidationError(f"'{unit.name.split('.')[-1]}' is a reserved word and cannot name a unit",
                              unit.span, "a connection could never start from it; pick another name")
    fields = {"name": unit.name, "role": unit.role, "span": unit.span}
    fields["declared_shape"] = _shape(unit, env)
    settings_given = set()
    for attr in unit.attrs:
        _refuse_ignored(attr, unit)
        if isinstance(attr, ast.Setting):
            _refuse_repeat(attr, settings_given, unit)
        _apply_attr(fields, attr, env, unit)
    _apply_role_defaults(fields, unit, env)
    return UnitSpec(**fields)


# What each role does with its attributes: a word a role would silently ignore is refused where it is written.
# Roles not listed (layer, output) take every unit word but the input-only ones. Boltzmann kinds, noise
# distributions and activations on Boltzmann units have errors of their own (_apply_role_defaults).
_ROLE_WORDS = {
    "input": {"sequence", "max_length"},  # an input's past, read through a delay, starts at zero
    "noise": {*V.NOISE_DISTRIBUTIONS, *V.STOCHASTIC},
    "visible": {*V.STOCHASTIC, *V.NOISE_DISTRIBUTIONS, *V.ACTIVATIONS},
    "hidden": {*V.STOCHASTIC, *V.NOISE_DISTRIBUTIONS, *V.ACTIVATIONS},
    "sample": {*V.STOCHASTIC, *V.NOISE_DISTRIBUTIONS, "prior"},
}
_INPUT_ONLY = {"sequence", "max_length"}
_SAMPLE_ONLY = {"prior"}
_ROLE_HINTS = {
    "input": "an input passes its data on unchanged: put `{word}` on the unit it feeds",
    "noise": "a noise input passes its draw on unchanged: put `{word}` on the unit it feeds",
    "visible": "Boltzmann units take a kind (bernoulli, gaussian) and always have a bias",
    "hidden": "Boltzmann units take a kind (bernoulli, gaussian) and always have a bias",
    "sample": "a sample unit is mean + exp(logvar / 2) * eps and nothing more: put `{word}` on the unit it feeds",
}


def _refuse_ignored(attr, unit: ast.Unit) -> None:
    """An attribute the unit's role would ignore (`input x[64] relu`, `dropout=` on a sample unit) is an error,
    not a silent no-op; unknown words are left to `_apply_attr`'s did-you-mean."""
    name = attr.name
    if name not in UNIT_WORDS or name == "repeat":
        return
    if name in _SAMPLE_ONLY and unit.role != "sample":
        raise ValidationError(f"'{name}' is a sample unit's; '{unit.name}' is a {unit.role}", attr.span,
                              "the prior belongs to a latent: `sample z ~ normal(mu, logvar) prior=mixture(50)`")
    allowed = _ROLE_WORDS.get(unit.role)
    if allowed is None:
        if name in _INPUT_ONLY:
            raise ValidationError(f"'{name}' marks a data input; '{unit.name}' is a {unit.role}", attr.span,
                                  "a model is recurrent through its delays and cells; its inputs take `sequence`")
        return
    if name not in allowed:
        word = f"{name}=..." if isinstance(attr, ast.Setting) else name
        hint = "it has no bias to remove" if name in ("nobias", "bias") and unit.role in ("input", "noise") \
            else _ROLE_HINTS[unit.role].format(word=word)
        raise ValidationError(f"{unit.role} unit '{unit.name}' takes no '{name}'", attr.span, hint)


def _shape(unit: ast.Unit, env: dict):
    if unit.shape is None:
        return None
    dims = []
    for d in unit.shape:
        value = literal(d, env) if isinstance(d, ast.Ref) else d
        span = d.span if isinstance(d, ast.Ref) else unit.span
        if isinstance(d, ast.Ref) and d.name not in env:
            raise ValidationError(f"unknown size '{d.name}' in the shape of '{unit.name}'", span,
                                  "sizes are whole numbers, or parameters of the enclosing block")
        dims.append(expect_number(value, span, f"shape of '{unit.name}'", integer=True, low=1))
    return tuple(dims)


def _refuse_repeat(attr: ast.Setting, given: set, unit: ast.Unit) -> None:
    """`dropout=0.3 dropout=0.2`: which one was meant is not ours to guess (the last would win unseen)."""
    if attr.name in given:
        raise ValidationError(f"unit '{unit.name}' sets {attr.name} twice", attr.span,
                              f"keep one {attr.name}=...")
    given.add(attr.name)


def _set_once(fields, key, value, attr_span, unit):
    if fields.get(key) not in (None, value):
        raise ValidationError(f"unit '{unit.name}' has two {key}s: {fields[key]} and {value}", attr_span)
    fields[key] = value


def _apply_attr(fields: dict, attr, env: dict, unit: ast.Unit) -> None:
    name = attr.name
    if isinstance(attr, ast.Call) and name in V.ACTIVATIONS:
        options = bind_options(attr, V.ACTIVATIONS[name], "activation", env)
        _expect_numbers(attr, options, V.ACTIVATIONS[name])
        _set_once(fields, "activation", name, attr.span, unit)
        fields["activation_args"] = tuple(sorted(options.items()))
    elif name in V.NORMS and isinstance(attr, (ast.Call, ast.Flag)):
        _apply_norm(fields, attr, env, unit)
    elif isinstance(attr, ast.Flag):
        _apply_flag(fields, attr, unit)
    elif isinstance(attr, ast.Setting) and name == "prior":
        fields["prior_components"] = _prior_components(literal(attr.value, env), attr.value.span, env)
    elif isinstance(attr, ast.Setting) and name in V.UNIT_SETTINGS:
        _apply_setting(fields, attr, literal(attr.value, env))
    else:
        raise ValidationError(f"unknown unit attribute '{name}'", attr.span, did_you_mean(name, UNIT_WORDS))


def _expect_numbers(call: ast.Call, options: dict, defaults: dict) -> None:
    """An activation's options are numbers, each refused at its argument: `leaky_relu(slope=inf)` (a name, as
    is `nan`), `slope="x"` or `slope=[1, 2]` passed check and reached numpy's multiply ('UFuncTypeError', exit
    70), and `slope=true` trained with a slope of 1."""
    written = {**dict(zip(defaults, call.args)), **{kw.name: kw.value for kw in call.kwargs}}
    for key, value in options.items():
        node = written.get(key)
        expect_number(value, node.span if node is not None else call.span, f"{call.name} {key}")


def _apply_norm(fields: dict, attr, env: dict, unit: ast.Unit) -> None:
    call = attr if isinstance(attr, ast.Call) else ast.Call(attr.name, (), (), attr.span)
    options = bind_options(call, V.NORMS[attr.name], "normalisation", env)
    for key, value in options.items():
        high = 1 if key == "momentum" else None
        expect_number(value, attr.span, f"{attr.name} {key}", low=0, low_open=True, high=high)
    _set_once(fields, "norm", attr.name, attr.span, unit)
    fields["norm_args"] = tuple(sorted(options.items()))


def _apply_flag(fields: dict, attr: ast.Flag, unit: ast.Unit) -> None:
    name = attr.name
    if name in V.ACTIVATIONS:
        _set_once(fields, "activation", "identity" if name == "linear" else name, attr.span, unit)
    elif name in V.CELLS:
        _set_once(fields, "cell", name, attr.span, unit)
    elif name in V.STOCHASTIC:
        _set_once(fields, "stochastic", name, attr.span, unit)
    elif name in V.NOISE_DISTRIBUTIONS:
        _set_once(fields, "distribution", name, attr.span, unit)
    elif name == "sequence":
        fields["sequence"] = True
    elif name == "nobias":
        fields["bias"] = False
    elif name == "bidirectional":
        fields["bidirectional"] = True
    else:
        hint = did_you_mean(name, UNIT_WORDS)
        if name in V.UNIT_SETTINGS:
            hint = f"'{name}' needs a value: {name}=..."
        raise ValidationError(f"unknown unit attribute '{name}'", attr.span, hint)


def _apply_setting(fields: dict, attr: ast.Setting, value) -> None:
    span = attr.value.span if attr.value is not None else attr.span
    if attr.name == "dropout":
        fields["dropout"] = expect_number(value, span, "dropout", low=0, high=1, high_open=True)
    elif attr.name == "max_length":
        fields["max_length"] = expect_number(value, span, "max_length", integer=True, low=1)
        fields["sequence"] = True
    elif attr.name == "bias":
        if not isinstance(value, bool):
            raise ValidationError(f"bias: expected true or false, got {spoken(value)}", span)
        fields["bias"] = value
    elif attr.name == "initial":
        if value not in V.INITIAL_STATES:
            raise ValidationError(f"initial: expected zeros or learned, got {spoken(value)}", span,
                                  "`initial=learned` makes a recurrent unit's state before the first step a parameter")
        fields["learned_initial"] = value == "learned"


def _prior_components(value, span, env: dict) -> int:
    """`prior=normal` -> 0, `prior=mixture(K)` -> K."""
    name = value.name if isinstance(value, ast.Call) else value
    if not isinstance(name, str) or name not in V.PRIORS:
        raise ValidationError(f"prior: expected normal or mixture(components), got {spoken(value)}", span,
                              did_you_mean(name, V.PRIORS) if isinstance(name, str) else None)
    if not isinstance(value, ast.Call):
        if name == "mixture":
            raise ValidationError("prior mixture needs its number of components", span, "e.g. `prior=mixture(50)`")
        return 0
    options = bind_options(value, V.PRIORS[name], "prior", env)
    if name == "normal":
        return 0
    return expect_number(options["components"], span, "mixture components", integer=True, low=1)


def _apply_role_defaults(fields: dict, unit: ast.Unit, env: dict) -> None:
    role, span = unit.role, unit.span
    kind = fields.get("stochastic")
    if role in ("visible", "hidden"):
        fields["stochastic"] = kind or "bernoulli"
        if fields.get("activation") not in (None, "identity", "sigmoid"):
            raise ValidationError(f"{role} unit '{unit.name}' is stochastic; it takes a kind "
                                  f"(bernoulli, gaussian), not an activation", span)
        fields.pop("activation", None)
    elif kind:
        raise ValidationError(f"'{kind}' is a kind of Boltzmann unit; '{unit.name}' is a {role} unit",
                              span, f"declare it as `visible {unit.name}` or `hidden {unit.name}`")
    if fields.get("distribution") and role != "noise":
        raise ValidationError(f"'{fields['distribution']}' is for noise inputs; '{unit.name}' is a {role}",
                              span)
    if role == "noise":
        fields["distribution"] = fields.get("distribution") or "normal"
    if unit.sampler is not None and role != "sample":
        raise ValidationError(f"only `sample` units take `~ distribution(...)`; '{unit.name}' is a {role}",
                              unit.sampler.span)
    if role == "sample":
        _apply_sampler(fields, unit, env)
    if role in ("input", "noise", "visible", "hidden") and fields["declared_shape"] is None:
        raise ValidationError(f"{role} unit '{unit.name}' needs a shape", span,
                              f"for example `{role} {unit.name}[16]`")
    if fields.get("cell") and role not in ("layer", "output"):
        raise ValidationError(f"a {fields['cell']} cell must be a layer or output unit", span)
    if fields.get("bidirectional") and role != "layer":
        raise ValidationError(f"a bidirectional unit must be a layer; '{unit.name}' is declared `{role}`", span,
                              "feed an output from it: `layer h[32] lstm bidirectional` ... `h -> y`")
    if fields.get("cell") and fields.get("norm"):
        raise ValidationError(f"a {fields['cell']} cell takes no {fields['norm']}", span,
                              "its net input feeds gates; normalise the unit it feeds, or the one feeding it")
    for key in ("activation", "cell", "stochastic", "distribution", "norm"):
        if fields.get(key) is None:
            fields.pop(key, None)


def _apply_sampler(fields, unit: ast.Unit, env):
    sampler = unit.sampler
    if sampler is None:
        raise ValidationError(f"sample unit '{unit.name}' needs a distribution", unit.span,
                              f"for example `sample {unit.name} ~ normal(mu, logvar)`")
    if sampler.name not in V.SAMPLERS:
        raise ValidationError(f"unknown distribution '{sampler.name}'", sampler.span,
                              did_you_mean(sampler.name, V.SAMPLERS))
    options = bind_options(sampler, {"mean": None, "logvar": None}, "distribution")
    refs = {**dict(zip(("mean", "logvar"), sampler.args)), **{k.name: k.value for k in sampler.kwargs}}
    for key in ("mean", "logvar"):
        if not isinstance(refs.get(key), ast.Ref) or not isinstance(options[key], str):
            raise ValidationError(f"normal(...) needs the {key} unit by name", sampler.span,
                                  f"`sample {unit.name} ~ normal(mu, logvar)`")
    fields["distribution"] = sampler.name
    fields["sample_params"] = (options["mean"], options["logvar"])


def _add_sample_edges(graph, spec: UnitSpec, unit: ast.Unit, errors: Collector) -> None:
    for param in spec.sample_params:
        if param not in graph:
            errors.error(f"unknown unit '{param}' in the distribution of '{spec.name}'", unit.sampler.span,
                         hint_if_kept(errors, param, graph))
            continue
        graph.add_edge(param, spec.name, edge=EdgeSpec(param, spec.name, "sample", span=unit.sampler.span))


# ---- connections ----------------------------------------------------------------------------


def _add_connection(graph, conn: ast.Connection, env: dict, flat: Flat, errors: Collector) -> None:
    source_ref = conn.source
    for link in conn.links:
        try:
            source = _resolve(source_ref, graph, flat, errors, end=1)
            target = _resolve(link.target, graph, flat, errors, end=0)
            edge = edge_spec(source, target, link, env, port=target in flat.ports)
            if edge.kind == "tied":
                edge = _resolve_tied(edge, link, graph, flat, errors)
            graph.add_edge(source, target, edge=edge)
        except NngraphError as e:
            errors.add(e)
        except _AlreadyReported:
            pass
        source_ref = link.target


def _resolve_tied(edge: EdgeSpec, link: ast.Link, graph, flat: Flat, errors: Collector) -> EdgeSpec:
    """`tied(a, b)`: both names given, resolved as a link `a -> b` would resolve them (a stack or an instance
    by its exit and entry)."""
    source, target = edge.tied_to
    if not (isinstance(source, str) and isinstance(target, str)):
        raise ValidationError("tied(...) names the dense link whose weight it uses transposed", edge.span,
                              "e.g. `h -> r tied(x, h)`: r receives h through the transpose of x -> h's weight")
    span = next(m.span for m in link.mods if getattr(m, "name", None) == "tied")
    ends = (_resolve(ast.Ref(source, span), graph, flat, errors, end=1),
            _resolve(ast.Ref(target, span), graph, flat, errors, end=0))
    return dataclasses.replace(edge, options=(("source", ends[0]), ("target", ends[1])))


class _AlreadyReported(Exception):
    """The unit exists but failed to build; its own error says why."""


def _resolve(ref: ast.Ref, graph, flat: Flat, errors: Collector, end: int) -> str:
    if ref.name in flat.refused:
        raise _AlreadyReported
    if ref.name in flat.alias:
        name = flat.alias[ref.name][end]
        if name not in graph:
            raise _AlreadyReported
        return name
    raise ValidationError(f"unknown unit '{ref.name}'", ref.span, hint_if_kept(errors, ref.name, graph))


def edge_spec(source: str, target: str, link: ast.Link, env: dict, port: bool = False) -> EdgeSpec:
    kind, options, delay = ("identity" if port else "dense"), {}, 0
    kinds_seen = []
    for mod in link.mods:
        if isinstance(mod, ast.Delay):
            if mod.steps < 1:
                raise ValidationError("delay must be at least 1", mod.span,
                                      "leave the delay out for a same-step connection")
            delay = mod.steps
            continue
        if mod.name not in V.EDGE_KINDS:
            raise ValidationError(f"unknown connection kind '{mod.name}'", mod.span,
                                  did_you_mean(mod.name, V.EDGE_KINDS))
        call = mod if isinstance(mod, ast.Call) else ast.Call(mod.name, (), (), mod.span)
        kind, options = mod.name, bind_options(call, V.EDGE_KINDS[mod.name], "connection", env)
        kinds_seen.append(mod)
    if len(kinds_seen) > 1:
        raise ValidationError("a connection has one kind", kinds_seen[1].span,
                              "chain units to combine them: `a -> b conv(...) -> c maxpool(2)`")
    symmetric = link.arrow == "<->"
    if symmetric:
        if delay:
            raise ValidationError("a symmetric link has no delay", link.span,
                                  "Boltzmann links act both ways at once; use `->` for recurrence")
        if kind != "dense":
            raise ValidationError(f"a symmetric link is a weight matrix of its own; it cannot be {kind}", link.span)
        kind = "symmetric"
    return EdgeSpec(source, target, kind, tuple(sorted(options.items())), delay, symmetric, span=link.span)
