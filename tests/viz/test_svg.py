"""The SVG drawing, read back with xml.etree: one box per unit, the right line styles, nothing overlapping."""

from itertools import pairwise

import pytest

from nngraph.errors import ValidationError
from nngraph.viz import draw_models
from nngraph.viz.canvas import layout_drawing
from nngraph.viz.drawing import Box, Drawing, Group, Link
from nngraph.viz.geometry import CHAR_EM
from nngraph.viz.svg import scene_to_svg
from tests.viz.conftest import SVG, models_of


def unit_groups(root):
    return root.findall(f".//{SVG}g[@class='unit']")


def rect_of(element):
    r = element if element.tag == f"{SVG}rect" else element.find(f"{SVG}rect")
    return tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))


def links(root, kind=None):
    paths = [p for p in root.iter(f"{SVG}path") if "link" in p.get("class", "").split()]
    return [p for p in paths if kind is None or kind in p.get("class").split()]


def overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def assert_readable(root):
    """No two boxes overlap, and every line of text lies inside its box."""
    rects = [rect_of(g) for g in unit_groups(root)]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not overlap(a, b), (a, b)
    for g in unit_groups(root):
        x, y, w, h = rect_of(g)
        for text in g.iter(f"{SVG}text"):
            half = len(text.text) * CHAR_EM * float(text.get("font-size")) / 2
            tx, ty = float(text.get("x")), float(text.get("y"))
            assert x <= tx - half and tx + half <= x + w, text.text
            assert y < ty < y + h, text.text


def test_expanded_svg_has_one_box_per_unit(spec_models, svg_of):
    root = svg_of(spec_models, expand=True)
    assert root.tag == f"{SVG}svg"
    expected = {f"{m.name}/{u.name}" for m in spec_models for u in m.units}
    ids = [g.get("id") for g in unit_groups(root)]
    assert sorted(ids) == sorted(expected)
    assert len(links(root)) == sum(len(m.edges) for m in spec_models)


@pytest.mark.parametrize("expand", [False, True])
def test_boxes_never_overlap_and_hold_their_text(spec_models, svg_of, expand):
    assert_readable(svg_of(spec_models, expand=expand))


def test_a_20_unit_spec_is_readable(big_models, svg_of):
    assert len(big_models[0].units) == 20
    assert_readable(svg_of(big_models, expand=True))
    assert_readable(svg_of(big_models, unroll=2, expand=True))
    assert_readable(svg_of(big_models, unroll=2))


def test_unit_boxes_fall_down_the_page_with_the_data(svg_of):
    root = svg_of(
        models_of("model m { input x[2]\n layer h[3] tanh\n output y[1] sigmoid\n x -> h -> y }")
    )
    tops = {g.get("id"): rect_of(g)[1] for g in unit_groups(root)}
    assert tops["m/x"] < tops["m/h"] < tops["m/y"]


@pytest.mark.parametrize("spec", ["sine_elman"], indirect=True)
def test_each_delayed_edge_is_a_dashed_labelled_path(spec, svg_of):
    root = svg_of(spec)
    delayed = links(root, "delayed")
    assert len(delayed) == sum(1 for m in spec for e in m.edges if e.delay) == 1
    assert all(p.get("stroke-dasharray") for p in delayed)
    assert " C" in " " + delayed[0].get("d")  # a self-loop is a curve, not a point
    assert not any(p.get("stroke-dasharray") for p in links(root) if p not in delayed)
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "link-label"]
    assert labels == ["delay 1"]


@pytest.mark.parametrize("spec", ["adding_lstm"], indirect=True)
def test_a_cells_own_recurrence_is_dashed_and_lighter(spec, svg_of):
    (implicit,) = links(svg_of(spec), "implicit")
    assert implicit.get("stroke-dasharray")
    assert implicit.get("marker-end") == "url(#arrow-light)"


@pytest.mark.parametrize("spec", ["bm_encoder424", "rbm_bars"], indirect=True)
def test_symmetric_links_have_no_arrowhead(spec, svg_of):
    root = svg_of(spec)
    symmetric = links(root, "symmetric")
    assert len(symmetric) == sum(1 for m in spec for e in m.edges if e.symmetric) > 0
    assert not any(p.get("marker-end") or p.get("marker-start") for p in symmetric)


@pytest.mark.parametrize("spec", ["bm_encoder424"], indirect=True)
def test_a_lateral_link_is_a_loop_without_arrowhead_below_the_visible_units(spec, svg_of):
    root = svg_of(spec)
    laterals = [p for p in links(root, "symmetric") if "C" in p.get("d")]
    assert len(laterals) == sum(1 for m in spec for e in m.edges if e.symmetric and e.source == e.target)
    assert all(p.get("marker-end") is None for p in laterals)
    tops = {g.get("id"): rect_of(g)[1] for g in unit_groups(root)}
    assert tops["encoder424/a"] == tops["encoder424/b"] < tops["encoder424/h"]


@pytest.mark.parametrize("spec", ["digits_cnn"], indirect=True)
def test_directed_links_have_arrowheads_and_kinds_as_labels(spec, svg_of):
    root = svg_of(spec)
    assert all(p.get("marker-end") == "url(#arrow)" for p in links(root))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "link-label"]
    assert labels == ["conv 3x3 /1 p1 x16", "maxpool 2"]


@pytest.mark.parametrize("spec", ["gan_ring"], indirect=True)
def test_each_model_sits_in_its_own_labelled_frame(spec, svg_of):
    root = svg_of(spec)
    frames = {
        g.find(f"{SVG}text").text: rect_of(g) for g in root.findall(f".//{SVG}g[@class='frame']")
    }
    assert set(frames) == {"generator", "discriminator"}
    for g in unit_groups(root):
        fx, fy, fw, fh = frames[g.get("id").split("/")[0]]
        x, y, w, h = rect_of(g)
        assert fx < x and x + w < fx + fw and fy < y and y + h < fy + fh


@pytest.mark.parametrize("spec", ["sine_elman"], indirect=True)
def test_unrolling_draws_each_unit_once_per_step(spec, svg_of):
    root = svg_of(spec, unroll=3)
    ids = {g.get("id") for g in unit_groups(root)}
    assert ids == {f"sine_elman/{u}@t{t}" for u in "xhy" for t in range(3)}
    delayed = links(root, "delayed")
    assert [p.find(f"{SVG}title").text for p in delayed] == [
        "sine_elman/h@t0 -> sine_elman/h@t1",
        "sine_elman/h@t1 -> sine_elman/h@t2",
    ]
    assert all(p.get("stroke-dasharray") for p in delayed)
    steps = [g.find(f"{SVG}text").text for g in root.findall(f".//{SVG}g[@class='frame']")]
    assert steps == ["t0", "t1", "t2"]
    assert_readable(root)


def test_a_delay_k_link_joins_step_t_to_step_t_plus_k(svg_of):
    models = models_of(
        "model m { input x[1] sequence\n layer h[2] tanh\n output y[1]\n"
        " x -> h -> y\n h -> h delay 2 }"
    )
    titles = [p.find(f"{SVG}title").text for p in links(svg_of(models, unroll=4), "delayed")]
    assert titles == ["m/h@t0 -> m/h@t2", "m/h@t1 -> m/h@t3"]


@pytest.mark.parametrize("unroll", [0, -1, 100, 2.5, True])
def test_a_bad_unroll_is_refused(big_models, tmp_path, unroll):
    with pytest.raises(ValidationError, match="unroll"):
        draw_models(big_models, tmp_path / "m.svg", unroll=unroll)


@pytest.mark.parametrize("spec", ["xor"], indirect=True)
def test_unrolling_a_feedforward_model_is_refused_with_a_hint(spec, tmp_path):
    with pytest.raises(ValidationError, match="not recurrent|no model here is recurrent") as e:
        draw_models(spec, tmp_path / "m.svg", unroll=3)
    assert e.value.hint


@pytest.mark.parametrize("spec", ["xor"], indirect=True)
def test_an_unknown_suffix_is_a_validation_error_with_a_hint(spec, tmp_path):
    with pytest.raises(ValidationError, match="'.jpg'") as e:
        draw_models(spec, tmp_path / "m.jpg")
    assert e.value.hint == "for example m.svg"
    with pytest.raises(ValidationError):
        draw_models([], tmp_path / "m.svg")


def chain_svg_bytes(n: int) -> int:
    names = ["x", *(f"h_{i}" for i in range(1, n + 1))]
    drawing = Drawing([Group("m")], [Box(f"m/{u}", u, ("[64]", "relu"), "layer", 0) for u in names])
    drawing.links = [Link(f"m/{a}", f"m/{b}") for a, b in pairwise(names)]
    return len(scene_to_svg(layout_drawing(drawing)).encode())


def test_svg_size_grows_linearly_and_shared_styles_are_written_once():
    # each unit and link carried its colours, anchors and weights: 750 bytes a unit, 7 MB for 10,000
    small, large = chain_svg_bytes(1000), chain_svg_bytes(4000)
    assert small / 1000 < 500
    assert 3.8 < large / small < 4.2
