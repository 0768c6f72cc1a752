"""`a -> b identity`: a weight-free link that adds its source unchanged (issue 18, item 15)."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.spec.format import format_spec
from nngraph.spec.parser import parse
from tests.compile.helpers import refused_alone

RESIDUAL = """model m {
  input x[3]
  layer h[3] tanh
  x -> h
  x -> h identity
}
"""


def test_an_identity_link_adds_its_source_without_weights():
    model = nngraph.loads(RESIDUAL).models["m"]
    program = compile_model(model, backend=get_backend("numpy", "float64"))
    assert set(program.params) == {"x->h.weight", "h.bias"}
    x = np.random.default_rng(0).standard_normal((5, 3))
    w, b = program.get("x->h.weight"), program.get("h.bias")
    np.testing.assert_allclose(program.forward({"x": x})["h"], np.tanh(x @ w + b + x), rtol=1e-12)


def test_an_identity_link_sizes_its_target_and_a_dense_link_then_fits_it():
    model = nngraph.loads(RESIDUAL.replace("layer h[3]", "layer h")).models["m"]
    assert model.shapes["h"] == (3,)


@pytest.mark.parametrize("text, message", [
    (RESIDUAL.replace("layer h[3]", "layer h[4]"), "connection x -> h gives shape \\[3\\], but 'h' is declared"),
    (RESIDUAL.replace("layer h[3] tanh", "layer h[3] gru"), "an identity link cannot feed gru unit 'h'"),
])
def test_identity_links_need_equal_shapes_and_no_gates(text, message):
    refused_alone(text, message)


def test_a_delayed_identity_recurrence_of_equal_shapes_is_fine():
    text = RESIDUAL.replace("x -> h identity", "h -> h identity delay 1").replace("input x[3]", "input x[2]")
    assert nngraph.loads(text).models["m"].is_recurrent


def test_identity_round_trips_through_the_formatter():
    spec = parse(RESIDUAL)
    assert "x -> h identity" in format_spec(spec) and parse(format_spec(spec)) == spec
