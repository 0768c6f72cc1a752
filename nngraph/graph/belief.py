"""A deep belief net's stack (method `dbn`, Hinton, Osindero and Teh 2006): which units of a feedforward model
are pretrained greedily as restricted Boltzmann machines, and the machine each pair of them is.

A model is a stack when it is one chain `x -> h1 -> ... -> hL -> y`: one input, then sigmoid layers (each
with its bias, no normalisation), each fed by one dense same-step link from the unit below and feeding only
the unit above, and an output on top. Pair (below, above) of the chain is an RBM whose weight matrix is the
dense link's and whose hidden biases are the upper layer's biases, so pretraining and fine-tuning move the
same numbers. The output's link is not pretrained: it starts random and is learned by fine-tuning.
"""

from __future__ import annotations

import math

import networkx as nx

from nngraph.errors import ValidationError
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec

EXAMPLE = "e.g. `input x[784]`, `layer h1[500] sigmoid`, `layer h2[500] sigmoid`, `output y[10] softmax` and " \
          "`x -> h1 -> h2 -> y`"


def belief_stack(model: ModelGraph) -> tuple[str, ...]:
    """The chain's units from the input up to the top layer (the output excluded), or a ValidationError
    where the model is not a stack, at the unit or link that breaks it."""
    inputs = model.units_with_role("input", "noise")
    if len(inputs) != 1 or inputs[0].role != "input":
        raise ValidationError(f"dbn pretrains a stack over one input; model '{model.name}' has "
                              f"{len(inputs)} input units" if len(inputs) != 1 else
                              f"dbn pretrains on data; '{inputs[0].name}' is a noise unit",
                              model.span, EXAMPLE)
    chain = [inputs[0].name]
    while True:
        link = _link_up(model, chain[-1])
        above = model.unit(link.target)
        if above.role == "output":
            break
        _check_layer(model, above)
        chain.append(above.name)
    if len(chain) == 1:
        raise ValidationError(f"dbn: '{chain[0]}' feeds the output '{link.target}' directly; there is no layer "
                              "to pretrain", link.span, "put at least one sigmoid layer between them")
    if model.outgoing(link.target):
        extra = model.outgoing(link.target)[0]
        raise ValidationError(f"dbn: the output '{link.target}' must be the top of the stack, but it feeds "
                              f"'{extra.target}'", extra.span, EXAMPLE)
    return tuple(chain)


def _link_up(model: ModelGraph, name: str) -> EdgeSpec:
    """The one dense same-step link out of `name` into a unit fed by nothing else."""
    links = model.outgoing(name)
    if len(links) != 1:
        where = links[1].span if links else model.unit(name).span
        raise ValidationError(f"dbn: '{name}' feeds {len(links)} units; each unit of a stack feeds only the one "
                              "above it", where, EXAMPLE)
    link = links[0]
    if link.kind != "dense" or link.delay or link.symmetric:
        article = "an" if link.kind[0] in "aeiou" else "a"  # an identity, an autoregressive link
        what = (f"{article} {link.kind} link" if link.kind != "dense" else
                "a delayed link" if link.delay else "symmetric")
        raise ValidationError(f"dbn: {link.source} -> {link.target} is {what}; the links of a stack are dense "
                              "same-step links (each one an RBM's weight matrix)", link.span, EXAMPLE)
    fed = model.incoming(link.target)
    if len(fed) != 1:
        other = next(e for e in fed if e is not link)
        raise ValidationError(f"dbn: '{link.target}' is fed by {len(fed)} links; each unit of a stack reads only "
                              "the unit below it", other.span, EXAMPLE)
    return link


def _check_layer(model: ModelGraph, unit: UnitSpec) -> None:
    """A stack layer is a pretrained RBM's hidden units: sigmoid (their probability of being on), with a
    bias, and nothing between the net input and the sigmoid."""
    if unit.role != "layer":
        raise ValidationError(f"dbn: '{unit.name}' is a {unit.role} unit; a stack is built of layers",
                              unit.span, EXAMPLE)
    if unit.activation != "sigmoid" or unit.cell:
        raise ValidationError(f"dbn: layer '{unit.name}' is {unit.cell or unit.activation}; a stack's layers are "
                              "sigmoid (a pretrained RBM's hidden probabilities)", unit.span,
                              f"declare `layer {unit.name}[...] sigmoid`")
    if not unit.bias or unit.norm:
        what = "has no bias" if not unit.bias else f"is normalised ({unit.norm})"
        raise ValidationError(f"dbn: layer '{unit.name}' {what}; a stack layer's net input is an RBM's: "
                              "weights and a bias", unit.span, f"declare `layer {unit.name}[...] sigmoid`")


def layer_machine(model: ModelGraph, below: str, above: str, label: str | None = None) -> ModelGraph:
    """The restricted Boltzmann machine that pair (below, above) of the stack is pretrained as: bernoulli
    visible units named and sized as `below` (flattened), bernoulli hidden units as `above`. With `label` (the
    output's name: `dbn(labels=true)`'s top pair) the output's classes join the visible units after `below`'s,
    one softmax group for the sampler (compile/gibbs.py `LabelledGibbs`), with their own link to `above`."""
    graph = nx.MultiDiGraph()
    for name, role in ((below, "visible"), *(((label, "visible"),) if label else ()), (above, "hidden")):
        unit = model.unit(name)
        size = math.prod(model.shapes[name])
        graph.add_node(name, unit=UnitSpec(name, role, (size,), stochastic="bernoulli", span=unit.span))
    for source in (below, label) if label else (below,):
        link = model.outgoing(below)[0]
        graph.add_edge(source, above, edge=EdgeSpec(source, above, "symmetric", symmetric=True, span=link.span))
    shapes = {name: (math.prod(model.shapes[name]),) for name in filter(None, (below, label, above))}
    return ModelGraph(f"{model.name}.{above}", graph, model.span, shapes)


def label_output(model: ModelGraph, stack: tuple[str, ...], span) -> str:
    """`dbn(labels=true)`: the output whose classes join the top RBM, or a ValidationError at `span` (the
    method) unless it is a softmax over one axis."""
    output = model.outgoing(stack[-1])[0].target
    unit = model.unit(output)
    if unit.activation != "softmax" or len(model.shapes[output]) != 1:
        found = unit.activation if unit.activation != "softmax" else f"shaped {list(model.shapes[output])}"
        raise ValidationError(f"dbn(labels=true): the label units are the classes of the output '{output}', "
                              f"which is {found}, not a softmax over classes", span,
                              f"declare `output {output}[CLASSES] softmax` with `loss cross_entropy({output})`")
    return output
