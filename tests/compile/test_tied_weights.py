"""`h -> r tied(x, h)`: a link through the transpose of another dense link's weight (issue 18, item 17). One
parameter, both uses' gradients added into it; shapes that do not fit are refused by the check."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.graph.shapes import total_parameters
from tests.compile.helpers import refused_alone

SPEC = """model ae {
  input  x[5]
  layer  h[3] tanh
  output r[5] identity
  x -> h
  h -> r tied(x, h)
}
"""


def _program(text=SPEC, model="ae"):
    return compile_model(nngraph.loads(text).models[model], backend=get_backend("numpy", "float64"), seed=4)


def test_the_decoder_reads_the_encoders_weight_transposed():
    program = _program()
    assert set(program.params) == {"x->h.weight", "h.bias", "r.bias"}
    assert total_parameters(nngraph.loads(SPEC).models["ae"]) == 5 * 3 + 3 + 5
    x = np.random.default_rng(0).standard_normal((4, 5))
    w = program.get("x->h.weight")
    h = np.tanh(x @ w + program.get("h.bias"))
    np.testing.assert_allclose(program.forward({"x": x})["r"], h @ w.T + program.get("r.bias"), rtol=1e-12)


def test_both_uses_add_their_gradients_into_the_one_weight():
    program = _program()
    x = np.random.default_rng(1).standard_normal((4, 5))
    values = program.feeds({"x": x}, training=True)
    ctxs = program.run(values, training=True)
    g = np.random.default_rng(2).standard_normal((4, 5))
    grad = program.backward(values, ctxs, {program.train_plan.slot("r"): g})["x->h.weight"]
    w, h = program.get("x->h.weight"), program.forward({"x": x})["h"]
    decoder = (g.T @ h)  # d<g, h W^T>/dW
    encoder = x.T @ ((g @ w) * (1 - h * h))  # through h = tanh(x W + b)
    np.testing.assert_allclose(grad, decoder + encoder, rtol=1e-10)


@pytest.mark.parametrize("change, message", [
    (("output r[5]", "output r[4]"), "h -> r needs a weight \\[3, 4\\], but x -> h's transposed is \\[3, 5\\]"),
    (("tied(x, h)", "tied(h, x)"), "the model has no dense link h -> x to share"),
    (("tied(x, h)", "tied(x, hh)"), "unknown unit 'hh'"),
    (("tied(x, h)", "tied(x)"), "tied\\(...\\) names the dense link"),
])
def test_tied_links_must_fit_what_they_borrow(change, message):
    refused_alone(SPEC.replace(*change), message)


def test_a_delayed_tied_link_makes_a_recurrent_model():
    assert nngraph.loads(SPEC.replace("h -> r tied(x, h)", "h -> r tied(x, h) delay 1")).models["ae"].is_recurrent


def test_inside_a_block_tied_names_the_blocks_own_units():
    text = """block coder(n) {
  input in
  layer  h[n] tanh
  layer  r[4]
  in -> h
  h -> r tied(in, h)
}
model m {
  input x[4]
  use a = coder(2)
  output y[4]
  x -> a -> y
}
"""
    assert "a.in->a.h.weight" in _program(text, "m").params
