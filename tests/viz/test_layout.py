"""The layered layout on small hand-made graphs: layers, dummy chains, crossings, link routes."""

from nngraph.viz.drawing import Box, Link
from nngraph.viz.layers import build_layers, crossings, downward_ends
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
