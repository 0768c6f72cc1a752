"""The layered layout on small hand-made graphs: layers, dummy chains, crossings, link routes; its cost."""

import random
import time
from itertools import combinations, pairwise

import networkx as nx
import pytest

from nngraph.viz.drawing import Box, Link
from nngraph.viz.layers import build_layers, crossings, downward_ends, layer_edges
from nngraph.viz.place import layout_group


def layered(edges, roles=None, **link):
    nodes = list(dict.fromkeys(n for e in edges for n in e))
    links = [Link(s, t, **link) for s, t in edges]
    return build_layers(nodes, links, roles or {}), links


def test_layers_follow_the_longest_path_and_long_links_get_dummies():
    result, _ = layered([("a", "b"), ("b", "c"), ("a", "c")])
    assert {v: result.layer[v] for v in "abc"} == {"a": 0, "b": 1, "c": 2}
    assert len(result.chains[2]) == 1  # a -> c crosses layer 1 once
    assert result.layer[result.chains[2][0]] == 1


def test_symmetric_links_put_visible_units_first_however_written():
    result, _ = layered([("h", "v")], roles={"h": "hidden", "v": "visible"}, symmetric=True)
    assert result.layer["v"] == 0 and result.layer["h"] == 1


def test_delayed_links_do_not_decide_layers_and_go_back_up_reversed():
    links = [Link("x", "h"), Link("h", "y"), Link("y", "h", delay=1)]
    result = build_layers(["x", "h", "y"], links, {})
    assert [result.layer[v] for v in "xhy"] == [0, 1, 2]
    assert downward_ends(links[2], result.layer) == ("h", "y")


def test_a_same_step_cycle_does_not_break_the_layout():
    result, _ = layered([("a", "b"), ("b", "a")])
    assert sorted(result.layer.values()) == [0, 1]


def test_barycentre_sweeps_remove_avoidable_crossings():
    # written so the first order crosses: a over d, b over c
    result, _ = layered([("a", "d"), ("b", "c"), ("a", "e"), ("b", "f")])
    assert crossings(result) == 0


def box(name, role="layer"):
    return Box(name, name, ("[4]", "relu"), role, 0)


def test_group_layout_keeps_boxes_apart_and_routes_every_link():
    boxes = [box(n) for n in ("in", "a", "b", "c", "out")]
    links = [
        Link("in", "a"),
        Link("in", "b"),
        Link("in", "c"),
        Link("a", "out"),
        Link("b", "out"),
        Link("c", "out"),
        Link("in", "out"),
        Link("b", "b", "delay 1", delay=1),
        Link("a", "c", "delay 1", delay=1),
    ]
    group = layout_group(boxes, links)
    rects = list(group.rects.values())
    assert not any(r.overlaps(s) for i, r in enumerate(rects) for s in rects[i + 1 :])
    assert len(group.routes) == len(links)
    by_link = {(r.link.source, r.link.target): r for r in group.routes}
    assert [op for op, _ in by_link["b", "b"].commands] == ["M", "C"]  # a loop
    assert by_link["in", "out"].commands[1:-1]  # bends through its dummy nodes
    assert by_link["a", "c"].commands[1][0] == "C"  # same layer: an arc above it


def brute_crossings(result) -> int:
    """The definition: pairs of links between the same two layers whose ends are in opposite orders."""
    position = {v: p for row in result.order for p, v in enumerate(row)}
    total = 0
    for row in result.order[:-1]:
        ends = [(position[u], position[v]) for u in row for v in result.down[u]]
        total += sum(1 for (a, b), (c, d) in combinations(ends, 2) if (a - c) * (b - d) < 0)
    return total


def random_links(n: int, m: int, seed: int, cycles: bool) -> list[Link]:
    rng = random.Random(seed)
    pairs = [rng.sample(range(n), 2) for _ in range(m)]
    return [Link(f"n{a}", f"n{b}") for a, b in (p if cycles else sorted(p) for p in pairs)]


@pytest.mark.parametrize("seed", range(20))
def test_crossings_are_counted_as_defined(seed):
    links = random_links(30, 60, seed, cycles=False)
    result = build_layers([f"n{i}" for i in range(30)], links, {})
    random.Random(seed).shuffle(result.order[1])  # an order the sweeps did not choose
    assert crossings(result) == brute_crossings(result)


@pytest.mark.parametrize("seed", range(20))
def test_layers_drop_only_what_closes_a_cycle(seed):
    nodes = [f"n{i}" for i in range(25)]
    for cycles in (False, True):
        links = random_links(25, 50, seed, cycles)
        kept = layer_edges(nodes, links, {})
        graph = nx.DiGraph([(v, w) for v, ws in kept.items() for w in ws])
        assert nx.is_directed_acyclic_graph(graph)
        written = {(k.source, k.target) for k in links}
        assert set(graph.edges) <= written
        if not cycles:  # nothing to break: every link decides layers
            assert set(graph.edges) == written
        layer = build_layers(nodes, links, {}).layer
        assert all(layer[v] < layer[w] for v, w in graph.edges)  # a longest-path layering


def test_a_10000_unit_chain_and_a_layer_fed_by_10000_inputs_lay_out_in_bounded_time():
    # the layered layout was quadratic (a full position table per layer, all pairs of links counted for
    # crossings, a reachability search per link): each of these took about a minute
    chain = [f"h{i}" for i in range(10_000)]
    wide = [f"x{i}" for i in range(10_000)]
    for names, links in (
        (chain, [Link(a, b) for a, b in pairwise(chain)]),
        ([*wide, "h", "y"], [Link(x, "h") for x in wide] + [Link("h", "y")]),
    ):
        start = time.process_time()
        group = layout_group([box(n) for n in names], links)
        assert time.process_time() - start < 10.0
        assert len(group.rects) == len(names) and len(group.routes) == len(links)
