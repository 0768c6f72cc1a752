"""The DOT text: graphviz attributes for each kind of link, clusters, unrolled steps."""

import re

import pytest

from nngraph.viz import draw_models
from nngraph.viz.dot import quote


def dot_of(models, tmp_path, unroll=None, expand=False) -> str:
    return draw_models(models, tmp_path / "model.dot", unroll=unroll, expand=expand).read_text()


def edge_line(text: str, source: str, target: str) -> str:
    (line,) = [k for k in text.splitlines() if k.strip().startswith(f'"{source}" -> "{target}"')]
    return line


def test_every_spec_expanded_gives_balanced_dot_with_a_node_per_unit(spec_models, tmp_path):
    text = dot_of(spec_models, tmp_path, expand=True)
    assert text.startswith("digraph") and text.count("{") == text.count("}")
    nodes = re.findall(r'^\s*"([^"]+)" \[label=', text, re.MULTILINE)
    assert sorted(nodes) == sorted(f"{m.name}/{u.name}" for m in spec_models for u in m.units)
    assert text.count(" -> ") == sum(len(m.edges) for m in spec_models)


@pytest.mark.parametrize("spec", ["sine_elman"], indirect=True)
def test_a_recurrent_edge_is_dashed_labelled_and_does_not_rank(spec, tmp_path):
    text = dot_of(spec, tmp_path)
    line = edge_line(text, "sine_elman/h", "sine_elman/h")
    assert 'label="delay 1"' in line and "style=dashed" in line and "constraint=false" in line
    assert "style=dashed" not in edge_line(text, "sine_elman/x", "sine_elman/h")


@pytest.mark.parametrize("spec", ["bm_encoder424"], indirect=True)
def test_symmetric_links_have_dir_none(spec, tmp_path):
    text = dot_of(spec, tmp_path)
    for source, target in [("a", "h"), ("b", "h"), ("h", "h")]:
        assert "dir=none" in edge_line(text, f"encoder424/{source}", f"encoder424/{target}")


@pytest.mark.parametrize("spec", ["adding_lstm"], indirect=True)
def test_an_implicit_edge_is_dashed_and_grey(spec, tmp_path):
    line = edge_line(dot_of(spec, tmp_path), "adding_lstm/h", "adding_lstm/h")
    assert "style=dashed" in line and 'color="#a0aec0"' in line


@pytest.mark.parametrize("spec", ["gan_ring"], indirect=True)
def test_several_models_are_clusters(spec, tmp_path):
    text = dot_of(spec, tmp_path)
    assert 'subgraph "cluster_generator"' in text and 'subgraph "cluster_discriminator"' in text
    assert '"generator/p"' in text and '"discriminator/p"' in text  # same unit name, two nodes


@pytest.mark.parametrize("spec", ["digits_cnn"], indirect=True)
def test_units_show_shape_and_activation_and_edges_their_kind(spec, tmp_path):
    text = dot_of(spec, tmp_path)
    assert 'label="b1.p\\n[16, 4, 4]\\nlinear"' in text
    assert 'label="conv 3x3 /1 p1 x16"' in edge_line(text, "digits_cnn/b1.in", "digits_cnn/b1.c")
    assert "label" not in edge_line(text, "digits_cnn/h", "digits_cnn/y")


@pytest.mark.parametrize("spec", ["char_rnn"], indirect=True)
def test_unrolled_steps_are_clusters_joined_by_delays(spec, tmp_path):
    text = dot_of(spec, tmp_path, unroll=2)
    assert 'subgraph "cluster_char_rnn_t0"' in text and 'subgraph "cluster_char_rnn_t1"' in text
    assert "style=dashed" in edge_line(text, "char_rnn/h1@t0", "char_rnn/h1@t1")
    assert '"char_rnn/h1@t1" -> "char_rnn/h1@t2"' not in text


def test_quote_escapes_what_dot_would_misread():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@pytest.mark.parametrize("spec", ["mnist_superres"], indirect=True)
def test_upsampling_links_say_how_they_upsample(spec, tmp_path):
    text = dot_of(spec, tmp_path)
    assert 'label="deconv 4x4 /2 p1 x16"' in edge_line(text, "mnist_superres/f2", "mnist_superres/up")
    assert 'label="upsample x2 bicubic"' in edge_line(text, "mnist_superres/x", "mnist_superres/y")


def test_pixel_shuffle_and_nearest_labels():
    from nngraph.graph.ir import EdgeSpec
    from nngraph.viz.labels import edge_label

    assert edge_label(EdgeSpec("s", "y", "pixelshuffle", (("factor", 2),))) == "pixelshuffle x2"
    assert edge_label(EdgeSpec("x", "u", "upsample", (("factor", [1, 3]), ("mode", "nearest")))) == "upsample x1x3"
