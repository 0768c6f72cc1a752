"""The combinatorial half of the layered (Sugiyama) layout: layers, dummy chains, order within layers.

Layers come from the longest path over same-step directed links, so data flows down the page. A link that
spans several layers is split by dummy nodes, one per layer crossed, so the ordering keeps it clear of boxes.
Order within a layer is improved by barycentre sweeps, keeping the order with the fewest crossings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

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


def layer_edges(nodes: list[str], links: list[Link], roles: dict[str, str]) -> dict[str, list[str]]:
    """The directed links that decide layers (node -> its successors), those closing a cycle left out.

    A depth-first search from each node in turn, following links in the order written (symmetric ones
    first), drops each link back to a node still on its path: what is left is acyclic, and nothing is
    dropped from a graph without cycles. Iterative, and linear in nodes + links.
    """
    after: dict[str, list[str]] = {v: [] for v in nodes}
    for source, target in _oriented(links, roles):
        if source != target:
            after[source].append(target)
    kept: dict[str, list[str]] = {v: [] for v in nodes}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(after[root]))]
        while stack:
            v, successors = stack[-1]
            w = next(successors, None)
            if w is None:
                state[v] = 2
                stack.pop()
            elif state.get(w) != 1:
                kept[v].append(w)
                if w not in state:
                    state[w] = 1
                    stack.append((w, iter(after[w])))
    return kept


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
    """Each node's layer: the length of the longest path of same-step links that reaches it."""
    after = layer_edges(nodes, [k for k in links if k.delay == 0 and not k.implicit], roles)
    waiting = {v: 0 for v in nodes}
    for successors in after.values():
        for w in successors:
            waiting[w] += 1
    layer = {v: 0 for v in nodes}
    ready = [v for v in nodes if not waiting[v]]
    while ready:  # Kahn's order: a node is placed once every predecessor is
        v = ready.pop()
        for w in after[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            waiting[w] -= 1
            if not waiting[w]:
                ready.append(w)
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
    position = positions(result)
    best, best_count = [list(r) for r in result.order], crossings(result, position)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        rows = range(1, len(result.order)) if downward else range(len(result.order) - 2, -1, -1)
        for i in rows:
            _sort_by_barycentre(result, i, ups if downward else result.down, position)
        count = crossings(result, position)
        if count < best_count:
            best, best_count = [list(r) for r in result.order], count
    result.order = best


def positions(result: Layered) -> dict[str, int]:
    """Each node's place in its layer, left to right."""
    return {v: p for row in result.order for p, v in enumerate(row)}


def _sort_by_barycentre(
    result: Layered, i: int, neighbours: dict[str, list[str]], position: dict[str, int]
) -> None:
    """Order layer i by the mean place of each node's neighbours in the layer next to it (kept up to
    date in `position`, so a sweep costs one pass over the links, not one pass over the drawing per layer)."""

    def key(v):
        near = neighbours[v]
        return sum(position[u] for u in near) / len(near) if near else position[v]

    result.order[i] = row = sorted(result.order[i], key=key)  # stable: ties keep their order
    position.update((v, p) for p, v in enumerate(row))


def crossings(result: Layered, position: dict[str, int] | None = None) -> int:
    """How many pairs of links between adjacent layers cross: per pair of layers, the inversions of the
    lower ends once the links are sorted by their upper ends, counted with a Fenwick tree in E log V."""
    position = position or positions(result)
    total = 0
    for upper, lower in pairwise(result.order):
        ends = sorted((position[u], position[v]) for u in upper for v in result.down[u])
        total += _inversions([v for _, v in ends], len(lower))
    return total


def _inversions(values: list[int], size: int) -> int:
    """Pairs i < j with values[i] > values[j], for values in range(size)."""
    tree = [0] * (size + 1)  # tree[k] counts the values seen so far in a range ending at k - 1
    inversions = 0
    for seen, value in enumerate(values):
        k, at_most = value + 1, 0
        while k:  # how many seen values are <= value
            at_most += tree[k]
            k -= k & -k
        inversions += seen - at_most
        k = value + 1
        while k <= size:
            tree[k] += 1
            k += k & -k
    return inversions
