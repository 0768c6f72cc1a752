"""`repeat=` stacks drawn as one box by default (every unit with `expand`), in SVG, DOT and PNG."""

import pytest

from nngraph.viz.stacks import collapsible_runs, model_pieces
from tests.cli.helpers import run_cli
from tests.viz.conftest import SVG, models_of
from tests.viz.test_png import read_png
from tests.viz.test_svg import assert_readable, links, unit_groups

STACK = "model m { input x[8]\n layer h[64] relu repeat=N\n output y[1]\n x -> h -> y\n EXTRA }"

BLOCKS = """
block blk(w) {
  input  in
  layer  a[w] relu repeat=3
  layer  b[w] tanh
  in -> a -> b
}
model m {
  input  x[4]
  use    r = blk(4) repeat=5
  use    s = blk(4)
  output y[1]
  x -> r -> s -> y
  EXTRA
}
"""


def stack(n=40, extra=""):
    return models_of(STACK.replace("repeat=N", f"repeat={n}").replace("EXTRA", extra))


def blocks(extra=""):
    return models_of(BLOCKS.replace("EXTRA", extra))


def boxes(models, expand=False):
    return [p.name for m in models for p in model_pieces(m, expand)[0]]


def texts(group):
    return [t.text for t in group.iter(f"{SVG}text")]


def titles(root):
    return [p.find(f"{SVG}title").text for p in links(root)]


def test_a_stack_is_one_box_that_says_how_many_it_stands_for(svg_of):
    root = svg_of(stack(10000))
    groups = {g.get("id"): g for g in unit_groups(root)}
    assert set(groups) == {"m/x", "m/h_1..h_10000", "m/y"}
    assert texts(groups["m/h_1..h_10000"]) == ["h_1..h_10000", "[64]", "relu", "x 10000"]
    # the links into its first copy and out of its last land on the box; the chain is inside it
    assert titles(root) == ["m/x -> m/h_1..h_10000", "m/h_1..h_10000 -> m/y"]
    assert_readable(root)


def test_expand_draws_every_unit_and_link(svg_of):
    root = svg_of(stack(40), expand=True)
    ids = {g.get("id") for g in unit_groups(root)}
    assert ids == {"m/x", "m/y"} | {f"m/h_{i}" for i in range(1, 41)}
    assert len(titles(root)) == 41


def test_a_link_into_or_out_of_a_middle_copy_splits_the_stack_there():
    assert boxes(stack(6, "x -> h_3")) == ["x", "h_1..h_2", "h_3..h_6", "y"]
    assert boxes(stack(6, "h_2 -> y")) == ["x", "h_1..h_2", "h_3..h_6", "y"]
    assert boxes(stack(6, "h_1 -> h_4")) == ["x", "h_1", "h_2..h_3", "h_4..h_6", "y"]
    assert boxes(stack(3, "x -> h_2\n h_2 -> y")) == ["x", "h_1", "h_2", "h_3", "y"]


def test_a_stacks_own_recurrence_is_a_loop_on_its_box_and_unrolls(svg_of):
    models = stack(30, "h -> h delay 1")  # from the last copy back to the first
    _, edges = model_pieces(models[0])
    assert [(e.source, e.target, e.delay) for e in edges if e.delay] == [
        ("h_1..h_30", "h_1..h_30", 1)
    ]
    root = svg_of(models, unroll=3)
    ids = {g.get("id") for g in unit_groups(root)}
    assert ids == {f"m/{u}@t{t}" for u in ("x", "h_1..h_30", "y") for t in range(3)}
    assert [p.find(f"{SVG}title").text for p in links(root, "delayed")] == [
        "m/h_1..h_30@t0 -> m/h_1..h_30@t1",
        "m/h_1..h_30@t1 -> m/h_1..h_30@t2",
    ]
    assert_readable(root)


def test_the_loop_every_copy_of_a_cell_stack_has_is_drawn_once():
    (model,) = models_of(
        "model m { input x[2] sequence\n layer h[4] lstm repeat=50\n output y[1]\n x -> h -> y }"
    )
    pieces, edges = model_pieces(model)
    assert [p.lines for p in pieces if p.name == "h_1..h_50"] == [("[4]", "lstm", "x 50")]
    assert [(e.source, e.implicit) for e in edges if e.delay] == [("h_1..h_50", True)]


def test_repeated_block_instances_are_one_box_and_inner_stacks_collapse_too(svg_of):
    models = blocks()
    pieces, edges = model_pieces(models[0])
    assert [(p.name, p.lines) for p in pieces[:2]] == [
        ("x", ("[4]", "input")),
        ("r_1..r_5", ("5 units each", "x 5")),
    ]
    assert [p.name for p in pieces[2:]] == ["s.in", "s.a_1..s.a_3", "s.b", "y"]
    assert [(e.source, e.target) for e in edges] == [
        ("x", "r_1..r_5"),
        ("r_1..r_5", "s.in"),
        ("s.in", "s.a_1..s.a_3"),
        ("s.a_1..s.a_3", "s.b"),
        ("s.b", "y"),
    ]
    assert_readable(svg_of(models))


def test_an_instance_drawn_alone_still_collapses_its_own_stack():
    # a link into r_3's inner copy r_3.a_2 keeps r_3 apart, and splits r_3's own stack there
    assert boxes(blocks("x -> r_3.a_2")) == [
        "x",
        "r_1..r_2",
        "r_3.in",
        "r_3.a_1",
        "r_3.a_2..r_3.a_3",
        "r_3.b",
        "r_4..r_5",
        "s.in",
        "s.a_1..s.a_3",
        "s.b",
        "y",
    ]


def test_copies_that_differ_inside_are_not_drawn_as_one():
    # r_2 alone has a recurrent link inside: it cannot stand for r_1 or r_3
    names = boxes(blocks("r_2.b -> r_2.a_1 delay 1"))
    assert "r_1..r_5" not in names and "r_3..r_5" in names and "r_2.b" in names


def test_every_unit_is_in_one_box_and_every_link_is_drawn_or_inside_a_box(spec_models):
    for model in spec_models + stack(7, "x -> h_4\n h -> h delay 1") + blocks("x -> r_3.a_2"):
        runs = collapsible_runs(model)
        where = {u: r for r in runs for u in r.units}
        pieces, edges = model_pieces(model)
        names = [p.name for p in pieces]
        assert len(names) == len(set(names)) and {r.name for r in runs} <= set(names)
        plain = [n for n in names if n not in {r.name for r in runs}]
        assert sorted(plain + list(where)) == sorted(u.name for u in model.units)
        drawn = {(e.source, e.target, e.delay) for e in edges}
        for e in model.edges:
            ends = tuple(where[u].name if u in where else u for u in (e.source, e.target))
            if ends[0] != ends[1] or e.source == e.target:
                assert (*ends, e.delay) in drawn, (model.name, e)


def test_dot_and_png_draw_the_collapsed_box(tmp_path):
    from nngraph.viz import draw_models

    dot = draw_models(stack(500), tmp_path / "m.dot").read_text()
    assert '"m/h_1..h_500" [label="h_1..h_500\\n[64]\\nrelu\\nx 500"' in dot
    assert '"m/x" -> "m/h_1..h_500";' in dot and '"m/h_1..h_500" -> "m/y";' in dot
    assert dot.count(" [label=") == 3
    picture = read_png(draw_models(stack(500), tmp_path / "m.png"))
    expanded = read_png(draw_models(stack(40), tmp_path / "e.png", expand=True))
    assert 200 < picture.shape[0] < 1000 < expanded.shape[0]


def test_the_command_draws_stacks_collapsed_unless_asked_to_expand(tmp_path):
    spec = tmp_path / "s.nn"
    spec.write_text(STACK.replace("repeat=N", "repeat=25").replace("EXTRA", ""))
    for flags, count in (((), 3), (("--expand",), 27)):
        out = tmp_path / f"s{len(flags)}.dot"
        result = run_cli("viz", spec, "-o", out, *flags)
        assert result.code == 0, result.both
        assert out.read_text().count(" [label=") == count


@pytest.mark.parametrize("expand", [False, True])
def test_a_stack_drawn_with_a_20_unit_spec_stays_readable(big_models, svg_of, expand):
    # BIG_SPEC's k repeat=4 is fed in its middle (x -> k_2): k_1 apart, k_2..k_4 one box
    assert [p for p in boxes(big_models) if p.startswith("k")] == ["k_1", "k_2..k_4"]
    assert_readable(svg_of(big_models, expand=expand))
