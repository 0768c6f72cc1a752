"""The combinatorial half of the layered (Sugiyama) layout: layers, dummy chains, order within layers.

Layers come from the longest path over same-step directed links, so data flows down the page. A link that
spans several layers is split by dummy nodes, one per layer crossed, so the ordering keeps it clear of boxes.
Order within a layer is improved by barycentre sweeps, keeping the order with the fewest crossings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, pairwise

import networkx as nx

from nngraph.viz.drawing import Link

SWEEPS = 4


@dataclass
class Layered:
    layer: dict[str, int]  # every node, real or dummy
    order: list[list[str]]  # node ids per layer, left to right
    chains: dict[int, list[str]] = field(
        default_factory=dict
    )  # link index -> its dummy nodes, top down
    down: dict[str, list[str]] = field(default_factory=dict)  # proper edges between adjacent layers

    def up(self) -> dict[str, list[str]]:
        ups: dict[str, list[str]] = {v: [] for v in self.layer}
        for u, vs in self.down.items():
            for v in vs:
                ups[v].append(u)
        return ups


def layer_graph(nodes: list[str], links: list[Link], roles: dict[str, str]) -> nx.DiGraph:
    """The directed links that decide layers, with any that would close a cycle left out."""
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for source, target in _oriented(links, roles):
        if source != target and not nx.has_path(g, target, source):
            g.add_edge(source, target)
    return g


def _oriented(links: list[Link], roles: dict[str, str]):
    for link in links:
        if link.symmetric:
            # a symmetric link has no direction; visible units go first so an RBM draws as two layers
            flip = roles.get(link.target) == "visible" and roles.get(link.source) != "visible"
            yield (link.target, link.source) if flip else (link.source, link.target)
    for link in links:
        if link.delay == 0 and not link.symmetric:
            yield link.source, link.target


def assign_layers(nodes: list[str], links: list[Link], roles: dict[str, str]) -> dict[str, int]:
    g = layer_graph(nodes, [k for k in links if k.delay == 0 and not k.implicit], roles)
    layer: dict[str, int] = {}
    for v in nx.topological_sort(g):
        layer[v] = max((layer[u] + 1 for u in g.predecessors(v)), default=0)
    return layer


def downward_ends(link: Link, layer: dict[str, int]) -> tuple[str, str] | None:
    """(upper, lower) of a link between two layers; None for self-loops and same-layer links.

    A link that runs up the page (a recurrent link back to an earlier layer) is laid out as if reversed,
    as Sugiyama layouts do, so it gets dummy nodes too and never needs to skirt the drawing.
    """
    s, t = link.source, link.target
    if layer[s] == layer[t]:
        return None
    return (s, t) if layer[s] < layer[t] else (t, s)


def build_layers(nodes: list[str], links: list[Link], roles: dict[str, str]) -> Layered:
    layer = assign_layers(nodes, links, roles)
    result = Layered(layer, [[] for _ in range(max(layer.values()) + 1)])
    for v in nodes:
        result.order[layer[v]].append(v)
        result.down.setdefault(v, [])
    for index, link in enumerate(links):
        ends = downward_ends(link, layer)
        if ends:
            _add_chain(result, index, *ends)
    _reduce_crossings(result)
    return result


def _add_chain(result: Layered, index: int, upper: str, lower: str) -> None:
    path = [upper]
    for k in range(result.layer[upper] + 1, result.layer[lower]):
        dummy = f"\0dummy{index}.{k}"  # NUL cannot occur in a unit name
        result.layer[dummy] = k
        result.order[k].append(dummy)
        result.down[dummy] = []
        path.append(dummy)
    path.append(lower)
    result.chains[index] = path[1:-1]
    for u, v in pairwise(path):
        result.down[u].append(v)


def _reduce_crossings(result: Layered) -> None:
    ups = result.up()
    best, best_count = [list(r) for r in result.order], crossings(result)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        rows = range(1, len(result.order)) if downward else range(len(result.order) - 2, -1, -1)
        for i in rows:
            _sort_by_barycentre(result, i, ups if downward else result.down)
        count = crossings(result)
        if count < best_count:
            best, best_count = [list(r) for r in result.order], count
    result.order = best


def _sort_by_barycentre(result: Layered, i: int, neighbours: dict[str, list[str]]) -> None:
    position = {v: p for row in result.order for p, v in enumerate(row)}
    row = result.order[i]

    def key(v):
        near = neighbours[v]
        return sum(position[u] for u in near) / len(near) if near else position[v]

    result.order[i] = sorted(row, key=key)  # stable: ties keep their order


def crossings(result: Layered) -> int:
    position = {v: p for row in result.order for p, v in enumerate(row)}
    total = 0
    for row in result.order[:-1]:
        edges = [(position[u], position[v]) for u in row for v in result.down[u]]
        total += sum(1 for (a, b), (c, d) in combinations(edges, 2) if (a - c) * (b - d) < 0)
    return total
