"""What each training method exports: the forward pass that is its product, by method name.

- `backprop`: the model's evaluation plan, data in, output units out (recurrent models too); `dbn` the same,
  its network as pretrained and fine-tuned;
- `cd`, `pcd` (and `boltzmann` on a restricted machine): the hidden features, sigmoid((v W + c) / T), what
  `nngraph predict` gives; a general Boltzmann machine has no forward pass and is refused, naming the link;
- `vae`: `--part autoencoder` (the default: data in, reconstruction out, the latent at its mean, as
  `predict`), `encoder` (data in, each latent's mean and log-variance out), `decoder` (latent in; an
  autoregressive decoder reads the data too, and gives each value's mean given the latent and the values before
  it: one step of drawing in order);
- `gan`: `--part generator` (the default: noise in, samples out) or `discriminator` (what `predict` runs; one
  with a `minibatch_std` link is refused: its examples depend on their batch).

A method without an entry (a new one) is an export error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nngraph.errors import BuildError, plural
from nngraph.export.graph import OnnxGraph
from nngraph.export.plans import Slice, plan_graph

PARTS = {"vae": ("autoencoder", "encoder", "decoder"), "gan": ("generator", "discriminator")}


@dataclass
class Product:
    model: str  # the model exported: the ONNX graph's name
    params: dict[str, np.ndarray]
    build: Callable[[OnnxGraph], None]
    buffers: dict[str, np.ndarray] = field(default_factory=dict)  # non-trainable state the plan reads
    part: str | None = None  # which part, where the method makes several
    metadata: dict[str, str] = field(default_factory=dict)  # the ONNX model's metadata_props


def product(method_name: str, method, part: str | None, span=None) -> Product:
    """The export of a trained method; `part` picks one where the method makes several."""
    make = PRODUCTS.get(method_name)
    if make is None:
        raise BuildError(f"method '{method_name}' has no ONNX export yet", span,
                         f"the methods that export: {', '.join(sorted(PRODUCTS))}")
    parts = PARTS.get(method_name, ())
    if part is not None and part not in parts:
        offered = f"it exports {' or '.join(parts)}" if parts else "it exports one graph: leave --part out"
        raise BuildError(f"method '{method_name}' has no part '{part}' to export", span, offered)
    part = part or (parts[0] if parts else None)
    made = make(method, part)
    made.part = part
    return made


def _params(holder) -> dict[str, np.ndarray]:
    """A Program's or an EnergyModel's parameters, on the host."""
    return {name: holder.backend.to_numpy(view).copy() for name, view in holder.params.items()}


def forward_pass(model: str, program, given: dict | None = None, outputs=None, zeros=frozenset()) -> Product:
    """A program's evaluation plan from its data (and `given` slots) to its output units (or `outputs`)."""
    plan = program.eval_plan
    units = outputs or plan.outputs
    part = Slice({u: plan.slot(u) for u in units}, given or {}, frozenset(zeros))
    buffers = {name: program.backend.to_numpy(value) for name, value in program.buffers.items()}
    return Product(model, _params(program), lambda g: plan_graph(g, plan, part), buffers)


def _backprop(method, part) -> Product:
    """A character model also carries its vocabulary: the character of each one-hot column, in order."""
    made = forward_pass(method.model.name, method.program)
    vocabulary = getattr(method, "vocabulary", None)
    if vocabulary is not None:
        made.metadata["vocabulary"] = json.dumps(vocabulary.characters)
    return made


def _vae(method, part) -> Product:
    """The latent at its mean: every eps is zero (what `Vae.predict` does)."""
    plan, model = method.program.eval_plan, method.model
    samples = model.units_with_role("sample")
    eps = {r.slot for r in plan.random if r.kind == "normal" and r.slot not in plan.shapes}
    if part == "encoder":
        moments = [p for s in samples for p in s.sample_params]
        return forward_pass(model.name, method.program, outputs=moments, zeros=eps)
    if part == "decoder":
        return forward_pass(model.name, method.program, given={s.name: plan.slot(s.name) for s in samples})
    return forward_pass(model.name, method.program, zeros=eps)


def _gan(method, part) -> Product:
    """The generator reads its noise units as inputs, drawn by the caller."""
    if part == "discriminator":
        _refuse_minibatch_std(method.disc_model)
        return forward_pass(method.disc_model.name, method.disc)
    plan = method.gen.eval_plan
    noise = {r.slot: r.slot for r in plan.random if r.slot in plan.shapes}
    return forward_pass(method.gen_model.name, method.gen, given=noise)


def _refuse_minibatch_std(model) -> None:
    """Its value for one example depends on the rows beside it in a batch, in groups that ONNX Runtime's batch
    would cut differently: no graph computes what `predict` does."""
    for edge in model.edges:
        if edge.kind == "minibatch_std":
            raise BuildError(f"discriminator '{model.name}' has a minibatch_std link ({edge.source} -> "
                             f"{edge.target}), which has no ONNX export", edge.span,
                             "each example's value depends on its batch; export the generator "
                             "(`--part generator`), which runs without it")


def _energy(method, part) -> Product:
    machine = method.machine
    _refuse_general(method.model, machine)
    return Product(method.model.name, _params(machine),
                   lambda g: hidden_features(g, machine, float(method.temperature)))


def _refuse_general(model, machine) -> None:
    """A link between two visible or two hidden groups makes the hidden units depend on each other."""
    within = {(link.first.name, link.second.name) for link in machine.links
              if link.first.visible == link.second.visible}
    edges = [e for e in model.edges if e.symmetric and (e.source, e.target) in within]
    if edges:
        links = ", ".join(f"{e.source} <-> {e.target}" for e in edges)
        raise BuildError(
            f"model '{model.name}' is a general Boltzmann machine: {plural(len(edges), 'link')} within the visible "
            f"or the hidden units ({links}), so its hidden units have no forward pass to export (their means "
            "given the data take sampling or mean-field sweeps)", edges[0].span,
            "ONNX export covers restricted machines (links between visible and hidden units only), whose hidden "
            "features are sigmoid(v W + c)")


def hidden_features(g: OnnxGraph, machine, temperature: float) -> None:
    """Each hidden group's probabilities given the visible groups (inputs, named after them)."""
    visible = {}
    for group in machine.visible_groups:
        x = g.add_input(group.name, group.shape)
        visible[group.name] = x if len(group.shape) == 1 else g.node("Flatten", [x], f"{group.name}:flat", axis=1)
    for group in (grp for grp in machine.groups if not grp.visible):
        z = _net_input(g, machine, group, visible)
        if temperature != 1.0:
            z = g.node("Div", [z, g.initializer("temperature", np.float32(temperature))], f"{group.name}:z/T")
        p = g.node("Sigmoid", [z], group.name if len(group.shape) == 1 else f"{group.name}:flat")
        if len(group.shape) > 1:
            p = g.node("Reshape", [p, g.ints([0, *group.shape])], group.name)
        g.add_output(group.name, p, group.shape)


def _net_input(g: OnnxGraph, machine, group, visible: dict) -> str:
    """v W + c over every link into the hidden group, each weight oriented [visible, hidden]."""
    terms = []
    for link in machine.links:
        if group not in (link.first, link.second):
            continue
        weight = g.params[link.name] if link.second is group else g.params[link.name].T
        other = link.first if link.second is group else link.second
        terms.append((visible[other.name], g.initializer(link.name, weight)))
    bias = g.initializer(f"{group.name}.bias", g.params[f"{group.name}.bias"])
    if len(terms) == 1:
        return g.node("Gemm", [*terms[0], bias], f"{group.name}:z")
    products = [g.node("MatMul", list(t), f"{group.name}:z:{i}") for i, t in enumerate(terms)]
    return g.node("Add", [g.node("Sum", products, f"{group.name}:sum"), bias], f"{group.name}:z")


PRODUCTS: dict[str, Callable] = {"backprop": _backprop, "cd": _energy, "pcd": _energy, "boltzmann": _energy,
                                 "vae": _vae, "gan": _gan, "dbn": _backprop,
                                 # an agent's network, observations to every output (the policy, the critic, Q)
                                 "ppo": _backprop, "a2c": _backprop, "reinforce": _backprop, "dqn": _backprop}
