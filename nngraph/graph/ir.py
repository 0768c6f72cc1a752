"""The graph IR: plain frozen data on networkx nodes and edges.

A model is a `networkx.MultiDiGraph`: each node is a unit group (attribute "unit": `UnitSpec`), each edge a
connection (attribute "edge": `EdgeSpec`). A symmetric Boltzmann link is stored once, from the unit written first
to the other, with `symmetric=True`. Passes are functions over this graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from nngraph.errors import Span
from nngraph.spec.ast import NOWHERE

Shape = tuple[int, ...]
# one `repeat=` a unit was copied by: (the stack's name, this copy's index from 1, the number of copies)
Copy = tuple[str, int, int]


@dataclass(frozen=True)
class UnitSpec:
    name: str
    role: str  # input | output | layer | visible | hidden | noise | sample
    declared_shape: Shape | None = None
    activation: str = "identity"
    activation_args: tuple[tuple[str, float], ...] = ()
    cell: str | None = None  # lstm | gru: a gated recurrent cell with its own recurrence
    stochastic: str | None = None  # bernoulli | gaussian (Boltzmann units)
    distribution: str | None = None  # noise inputs: normal | uniform; sample units: normal
    sample_params: tuple[str, ...] = ()  # sample units: (mean unit, log-variance unit)
    prior_components: int = 0  # sample units: 0 for the N(0, I) prior, K for a learned mixture of K Gaussians
    sequence: bool = False
    max_length: int | None = None
    dropout: float = 0.0
    bias: bool = True
    norm: str | None = None  # batchnorm | layernorm: the net input normalised before the activation
    norm_args: tuple[tuple[str, float], ...] = ()
    learned_initial: bool = False
    # a recurrent layer run forward and backward in time; its value is both directions' states side by side
    # (PyTorch's convention), so its shape is twice the declared [H] of one direction
    bidirectional: bool = False  # `initial=learned`: a loop unit's state before the first step is a parameter
    span: Span = field(default=NOWHERE, compare=False)
    # where the unit came from, outermost first, so a drawing can show a stack as one box: `h_2` of
    # `layer h repeat=3` has (("h", 2, 3),); unit `a` of `use r = blk() repeat=4` in `r_3.a` has (("r", 3, 4),).
    # Provenance like `span`: left out of equality and hashing.
    repeat: tuple[Copy, ...] = field(default=(), compare=False)

    @property
    def is_input(self) -> bool:
        return self.role in ("input", "noise")

    @property
    def is_stochastic(self) -> bool:
        return self.stochastic is not None

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


@dataclass(frozen=True)
class EdgeSpec:
    source: str
    target: str
    kind: str = "dense"  # dense | identity | tied | conv | deconv | maxpool | avgpool | upsample | pixelshuffle
    #                      | minibatch_std | autoregressive
    #                      | symmetric | sample
    options: tuple[tuple[str, object], ...] = ()
    delay: int = 0
    symmetric: bool = False
    implicit: bool = False  # added by nngraph (a gated cell's own recurrence), not written by the user
    span: Span = field(default=NOWHERE, compare=False)

    def option(self, name: str, default=None):
        return dict(self.options).get(name, default)

    @property
    def has_weights(self) -> bool:
        """Whether it multiplies by a weight matrix (its own, or a tied link's borrowed one)."""
        return self.kind in ("dense", "conv", "deconv", "symmetric", "tied", "autoregressive")

    @property
    def tied_to(self) -> tuple[str, str] | None:
        """(source, target) of the dense link whose weight a tied link uses transposed."""
        return (self.option("source"), self.option("target")) if self.kind == "tied" else None


@dataclass
class ModelGraph:
    """One model: its graph plus what the passes learned about it."""

    name: str
    graph: nx.MultiDiGraph
    span: Span = NOWHERE
    shapes: dict[str, Shape] = field(default_factory=dict)

    def unit(self, name: str) -> UnitSpec:
        return self.graph.nodes[name]["unit"]

    @property
    def units(self) -> list[UnitSpec]:
        return [d["unit"] for _, d in self.graph.nodes(data=True)]

    @property
    def edges(self) -> list[EdgeSpec]:
        return [d["edge"] for _, _, d in self.graph.edges(data=True)]

    def incoming(self, name: str) -> list[EdgeSpec]:
        return [d["edge"] for _, _, d in self.graph.in_edges(name, data=True)]

    def outgoing(self, name: str) -> list[EdgeSpec]:
        return [d["edge"] for _, _, d in self.graph.out_edges(name, data=True)]

    def units_with_role(self, *roles: str) -> list[UnitSpec]:
        return [u for u in self.units if u.role in roles]

    @property
    def is_boltzmann(self) -> bool:
        return any(e.symmetric for e in self.edges)

    @property
    def is_recurrent(self) -> bool:
        return any(e.delay > 0 for e in self.edges) or any(u.cell for u in self.units)
