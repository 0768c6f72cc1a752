"""Every number docs/language.md states about its own examples is the one nngraph computes: the shapes in the
comments of its ```nn examples (a unit's, an instance's units', a link's weight, a flattened size), the check's
summary line of the first example, and the counts and sizes its prose states."""

import math
import re

import pytest

import nngraph
from nngraph.cli.check import check_files
from nngraph.graph.shapes import total_parameters, weight_shape

from .test_examples import DOCS, examples

ROLES = ("input", "output", "layer", "visible", "hidden", "noise", "sample")
SHAPE = r"\[(\d+(?:, \d+)*)\]"


def dims(text):
    return tuple(int(d) for d in text.split(", "))


def stated_numbers():
    """(example id, the example's text, what is stated, the name it is stated of, the number), one a comment."""
    for param in examples():
        kind, body = param.values
        if kind != "nn":
            continue
        for line in body.splitlines():
            code, _, comment = line.partition("#")
            words = code.split()
            if not comment or not words:
                continue
            shapes = re.findall(SHAPE, comment)
            if words[0] in ROLES and len(shapes) == 1:  # `layer c1 relu  # [6, 24, 24], inferred`
                yield param.id, body, "unit", words[1].split("[")[0], dims(shapes[0])
            elif words[0] == "use":  # `use b = conv_pool(16)  # b.in [1, 8, 8], b.c [16, 8, 8]`
                for name, shape in re.findall(r"([\w.]+) " + SHAPE, comment):
                    yield param.id, body, "unit", name, dims(shape)
            elif len(words) == 3 and words[1] in ("->", "<->") and shapes:  # `x -> h  # W: [64, 32]`
                yield param.id, body, "weight", (words[0], words[2]), dims(shapes[0])
            elif (m := re.search(r"flattens " + SHAPE + r" to (\d+) values", comment)):
                yield param.id, body, "unit", words[0], dims(m.group(1))
                yield param.id, body, "values", words[0], int(m.group(2))


STATED = list(stated_numbers())


def model_with(checked, name):
    units = name if isinstance(name, tuple) else (name,)
    return next(m for m in checked.models.values() if all(u in m.shapes for u in units))


@pytest.mark.parametrize("where,body,what,name,number", STATED,
                         ids=[f"{s[0]}:{s[2]}:{s[3]}" for s in STATED])
def test_stated_shape(where, body, what, name, number):
    checked = nngraph.loads(body, "example.nn")
    model = model_with(checked, name)
    if what == "unit":
        assert model.shapes[name] == number
    elif what == "values":
        assert math.prod(model.shapes[name]) == number
    else:
        edge = next(e for e in model.incoming(name[1]) if e.source == name[0])
        assert weight_shape(model, edge) == number


def test_the_comments_state_numbers():
    """The extraction finds the examples' shapes (LeNet's, the conv shapes', ESPCN's, the residual's, the
    blocks', the bidirectional GRU's, the minibatch_std spread's, the tied and RBM weights)."""
    assert len(STATED) >= 20
    assert {s[2] for s in STATED} == {"unit", "weight", "values"}


def example_named(model_name):
    return next(p.values[1] for p in examples() if f"model {model_name} " in p.values[1])


def test_check_line_of_the_xor_example(tmp_path, capsys):
    """Section 13 quotes `ok: model xor: 3 units, 2 connections, 17 parameters` for the first example."""
    text = (DOCS / "docs" / "language.md").read_text(encoding="utf-8")
    assert "`ok: model xor: 3 units, 2 connections, 17 parameters`" in text
    spec = tmp_path / "xor.nn"
    spec.write_text(example_named("xor"), encoding="utf-8")
    assert check_files([spec]) == 0
    assert "ok: model xor: 3 units, 2 connections, 17 parameters" in capsys.readouterr().out


def counted(text, model):
    return total_parameters(nngraph.loads(text, "s.nn").models[model])


def test_cell_weights_and_mgu_a_third_fewer():
    """Section 2: a connection into a cell is [inputs, G * H], its recurrence [H, G * H], its bias G * H,
    G = 4, 3, 2; so an MGU has a third fewer weights than a GRU."""
    sizes = {}
    for cell, gates in (("lstm", 4), ("gru", 3), ("mgu", 2)):
        text = f"model m {{\n input x[5] sequence\n layer h[7] {cell}\n output y[1]\n x -> h -> y\n}}\n"
        model = nngraph.loads(text, "s.nn").models["m"]
        into = next(e for e in model.incoming("h") if e.source == "x")
        assert weight_shape(model, into) == (5, gates * 7)
        sizes[cell] = counted(text, "m") - (7 + 1)  # less the output's weights and bias
        assert sizes[cell] == 5 * gates * 7 + 7 * gates * 7 + gates * 7
    assert sizes["mgu"] * 3 == sizes["gru"] * 2


def test_free_parameters_of_a_lateral_and_an_autoregressive_link():
    """Sections 3 and 9: `h <-> h` has n (n - 1) / 2 free parameters; an autoregressive link counts the
    n (n - 1) / 2 entries above its diagonal."""
    lateral = "model m {\n visible v[3]\n hidden h[5]\n v <-> h\n h <-> h\n}\n"
    assert counted(lateral, "m") == 3 * 5 + 5 * 4 // 2 + 3 + 5
    made = "model m {\n input x[1, 2, 3]\n output p[6] sigmoid\n x -> p autoregressive\n}\n"
    assert counted(made, "m") == 6 * 5 // 2 + 6


def test_deconv_4_2_1_doubles_and_the_output_size_formulas():
    """Section 3: `kernel=4, stride=2, padding=1` doubles a deconv's size; conv and pooling give
    floor((H + 2 padding - kernel) / stride) + 1 per axis."""
    text = ("model m {\n input x[2, 5, 7]\n layer d\n layer c\n layer p\n output y[1]\n"
            " x -> d deconv(filters=3, kernel=4, stride=2, padding=1)\n"
            " x -> c conv(filters=4, kernel=[3, 2], stride=[2, 3], padding=[1, 0])\n"
            " x -> p avgpool(kernel=3, stride=2, padding=1)\n d -> y\n c -> y\n p -> y\n}\n")
    shapes = nngraph.loads(text, "s.nn").models["m"].shapes
    assert shapes["d"] == (3, 10, 14)
    assert shapes["c"] == (4, (5 + 2 - 3) // 2 + 1, (7 - 2) // 3 + 1)
    assert shapes["p"] == (2, (5 + 2 - 3) // 2 + 1, (7 + 2 - 3) // 2 + 1)
