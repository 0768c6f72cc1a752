"""The energy-based executor: the parameters and energy of a Boltzmann machine, built once from its graph.

Units are laid out flat, visible groups first (in declaration order, the order of the data's columns), then
hidden groups. The energy at temperature 1 is

    E(s) = - sum_i b_i s_i - sum_{i<j} w_ij s_i s_j + sum_{i gaussian} s_i^2 / 2

so a bernoulli unit is on with probability sigmoid(z_i / T) and a gaussian unit is N(z_i, T), where
z_i = b_i + sum_j w_ij s_j is its net input. Gaussian units therefore have unit variance at T = 1: feed them
standardised data (`scale=standard`).

Each symmetric link has one weight matrix, a parameter named `SOURCE<->TARGET.weight` of shape
[source, target]; a lateral link `h <-> h` is a symmetric [n, n] matrix with a zero diagonal. Biases are
`UNIT.bias`. The parameters are views into one coupling array, so an optimizer updating them in place updates
the machine:

- a restricted machine (links visible <-> hidden only) keeps `weights` as the [visible, hidden] matrix that
  block Gibbs sampling multiplies by, with no storage for the empty blocks' mirror;
- a general machine keeps the full symmetric [N, N] matrix; after each update `sync()` copies every link's block
  onto its mirror image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nngraph.graph.ir import ModelGraph
from nngraph.graph.validate import check_boltzmann_machine, require
from nngraph.ops.activations import stable_softplus

INIT_STD = 0.01  # "small random weights from N(0, 0.01^2)": Hinton, A practical guide to training RBMs


@dataclass(frozen=True)
class Group:
    """One unit group's place in the flat layout."""

    name: str
    shape: tuple[int, ...]
    kind: str  # bernoulli | gaussian
    visible: bool
    start: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def span(self) -> slice:
        return slice(self.start, self.start + self.size)


@dataclass(frozen=True)
class Link:
    """One symmetric link: its parameter name and the two groups it joins (first = the IR edge's source)."""

    name: str
    first: Group
    second: Group

    @property
    def lateral(self) -> bool:
        return self.first.name == self.second.name


def layout(model: ModelGraph) -> list[Group]:
    """Visible groups in declaration order, then hidden groups."""
    units = [u for u in model.units if u.role == "visible"] + [u for u in model.units if u.role == "hidden"]
    groups, start = [], 0
    for unit in units:
        shape = tuple(model.shapes[unit.name])
        groups.append(Group(unit.name, shape, unit.stochastic or "bernoulli", unit.role == "visible", start))
        start += math.prod(shape)
    return groups


def links_of(model: ModelGraph, groups: list[Group]) -> list[Link]:
    by_name = {g.name: g for g in groups}
    return [Link(f"{e.source}<->{e.target}.weight", by_name[e.source], by_name[e.target])
            for e in model.edges if e.symmetric]


class EnergyModel:
    """Couplings, biases and the energy of one Boltzmann machine, on a backend."""

    def __init__(self, model: ModelGraph, backend, seed: int = 0):
        self.model, self.backend, self.xp = model, backend, backend.xp
        self.groups = layout(model)
        self.links = links_of(model, self.groups)
        require(check_boltzmann_machine, model)  # what `check` refuses, for graphs made in Python
        self.n_visible = sum(g.size for g in self.groups if g.visible)
        self.size = sum(g.size for g in self.groups)
        self.n_hidden = self.size - self.n_visible
        self.restricted = all(link.first.visible != link.second.visible for link in self.links)
        self.gaussian = np.array([g.kind == "gaussian" for g in self.groups for _ in range(g.size)])
        self.gaussian_mask = backend.asarray(self.gaussian)  # on the device, copied once (steps index by it)
        self.bias = self.xp.zeros(self.size, dtype=backend.dtype)
        shape = (self.n_visible, self.n_hidden) if self.restricted else (self.size, self.size)
        self.weights = self.xp.zeros(shape, dtype=backend.dtype)
        self.params = {**{link.name: self.block(self.weights, link) for link in self.links},
                       **{f"{g.name}.bias": self.bias[g.span] for g in self.groups}}
        self.initialise(seed)

    # ---- layout -------------------------------------------------------------------------

    def block(self, matrix, link: Link):
        """The [first, second] view of `matrix` (shaped like `weights`) that holds `link`'s weights."""
        if not self.restricted:
            return matrix[link.first.span, link.second.span]
        first, second = link.first, link.second
        visible, hidden = (first, second) if first.visible else (second, first)
        view = matrix[visible.span, slice(hidden.start - self.n_visible, hidden.start - self.n_visible
                                          + hidden.size)]
        return view if first.visible else view.T

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    @property
    def visible_groups(self) -> list[Group]:
        return [g for g in self.groups if g.visible]

    @property
    def visible_bias(self):
        return self.bias[: self.n_visible]

    @property
    def hidden_bias(self):
        return self.bias[self.n_visible:]

    @property
    def any_gaussian(self) -> bool:
        return bool(self.gaussian.any())

    # ---- parameters -------------------------------------------------------------------------

    def initialise(self, seed: int) -> None:
        """Weights from N(0, 0.01^2) (lateral ones symmetric with a zero diagonal), biases zero."""
        rng = np.random.default_rng(seed)
        for link in self.links:
            view = self.params[link.name]
            w = rng.normal(0.0, INIT_STD, view.shape)
            if link.lateral:
                w = np.triu(w, 1) + np.triu(w, 1).T
            view[...] = self.xp.asarray(w, dtype=self.weights.dtype)
        self.sync()

    def set_visible_bias_from(self, x: np.ndarray) -> None:
        """Visible biases from the data: log(p / (1 - p)) of each bernoulli unit's frequency of being on,
        the mean for gaussian units (Hinton's practical guide, section 8)."""
        mean = np.asarray(x, dtype=np.float64).reshape(len(x), -1).mean(axis=0)
        logit = np.log(np.clip(mean, 1e-3, 1 - 1e-3) / np.clip(1 - mean, 1e-3, 1 - 1e-3))
        gaussian = self.gaussian[: self.n_visible]
        self.visible_bias[...] = self.xp.asarray(np.where(gaussian, mean, logit), dtype=self.bias.dtype)

    def sync(self) -> None:
        """General machines: copy each link's block onto its mirror so the coupling matrix stays symmetric."""
        if self.restricted:
            return
        for link in self.links:
            if not link.lateral:
                self.weights[link.second.span, link.first.span] = self.weights[link.first.span,
                                                                               link.second.span].T

    def couplings(self):
        """The full symmetric [N, N] coupling matrix (a new array for restricted machines)."""
        if not self.restricted:
            return self.weights
        full = self.xp.zeros((self.size, self.size), dtype=self.weights.dtype)
        full[: self.n_visible, self.n_visible:] = self.weights
        full[self.n_visible:, : self.n_visible] = self.weights.T
        return full

    def structure(self) -> np.ndarray:
        """Which unit pairs are linked (a host bool [N, N] matrix without the diagonal)."""
        linked = np.zeros((self.size, self.size), dtype=bool)
        for link in self.links:
            linked[link.first.span, link.second.span] = True
            linked[link.second.span, link.first.span] = True
        np.fill_diagonal(linked, False)
        return linked

    # ---- energies -----------------------------------------------------------------------------

    def energy(self, states, temperature: float = 1.0):
        """E(s) / T of flat states [B, N]."""
        xp, s = self.xp, states
        e = -(s @ self.bias) - 0.5 * xp.sum((s @ self.couplings()) * s, axis=1)
        if self.any_gaussian:
            g = self.gaussian_mask
            e = e + 0.5 * xp.sum(s[:, g] ** 2, axis=1)
        return e / temperature

    def free_energy(self, v, hidden_input=None, temperature: float = 1.0):
        """Restricted machines: F(v) = -log sum_h exp(-E(v, h) / T) for visible rows v [B, V] (T = 1 unless
        given). Pass the hidden net input v W + c when it is at hand, to save the product."""
        xp = self.xp
        z = hidden_input if hidden_input is not None else v @ self.weights + self.hidden_bias
        f = -(v @ self.visible_bias)
        if self.any_gaussian:
            g = self.gaussian_mask[: self.n_visible]
            f = f + 0.5 * xp.sum(v[:, g] ** 2, axis=1)
        if temperature == 1.0:
            return f - xp.sum(stable_softplus(xp, z), axis=1)
        return f / temperature - xp.sum(stable_softplus(xp, z / temperature), axis=1)
