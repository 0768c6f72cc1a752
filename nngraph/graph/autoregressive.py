"""Which units of a VAE read the data other than through its latent, and the rule that keeps them ordered.

A VAE's decoder may read the data it reconstructs (PixelVAE, VLAE: an autoregressive likelihood) only through
`autoregressive` links, whose mask lets value i read the values before i. Then output value i depends on the
latent and on the data's values j < i alone: p(x | z) = prod_i p(x_i | z, x_<i) is a normalised likelihood, the
ELBO a bound on log p(x), and sampling draws the values one by one in order (train/vae.py). Any other way in
(a dense link, a norm or a softmax mixing an example's values) would let value i see itself: refused here.
"""

from __future__ import annotations

import networkx as nx

from nngraph.errors import ValidationError
from nngraph.graph.ir import ModelGraph

MIXING_ACTIVATIONS = ("softmax",)  # activations whose value i reads the other values of the unit


def _without_latent(model: ModelGraph) -> nx.DiGraph:
    """The model's links, less those into sample units: the paths of data that do not pass through a latent."""
    g = nx.DiGraph()
    g.add_nodes_from(u.name for u in model.units)
    g.add_edges_from((e.source, e.target) for e in model.edges if model.unit(e.target).role != "sample")
    return g


def ordered_units(model: ModelGraph, data: str, output: str) -> set[str]:
    """The units between the data input and the output that carry the data on to the output without passing
    through a latent: the data itself, the output if it reads the data, and the units on such a path."""
    g = _without_latent(model)
    if data not in g or output not in g:
        return set()
    reached = nx.descendants(g, data) | {data}
    return reached & (nx.ancestors(g, output) | {output})


def reads_data_in_order(model: ModelGraph, data: str, output: str) -> bool:
    """Whether the output reads the data other than through the latent (through autoregressive links)."""
    return output in ordered_units(model, data, output)


def check_ordered_decoder(model: ModelGraph, data: str, output: str) -> None:
    """A VAE's output reads the data it reconstructs only through autoregressive links, and no unit on the way
    mixes an example's values (a norm, a softmax); else a ValidationError at the offending link or unit."""
    ordered = ordered_units(model, data, output)
    for edge in model.edges:
        if edge.source in ordered and edge.target in ordered and edge.kind != "autoregressive":
            raise ValidationError(
                f"the decoder output '{output}' reads the data '{data}' it reconstructs through {edge.kind} link "
                f"{edge.source} -> {edge.target}", edge.span,
                "a vae's decoder may read the data only through `autoregressive` links (value i reads the values "
                f"before i), or the ELBO is no bound: e.g. `{data} -> {output} autoregressive`")
    for name in sorted(ordered - {data}):
        unit = model.unit(name)
        if unit.norm or unit.activation in MIXING_ACTIVATIONS:
            raise ValidationError(
                f"unit '{name}' carries the data '{data}' in order to '{output}', but its "
                f"{unit.norm or unit.activation} mixes the values of an example", unit.span,
                "value i would read the values after i: leave it out of the units between an autoregressive "
                "link and the output")
