"""The order of a training pass's random draws (docs/language.md, section 7, `seed`): unit by unit, each after
every unit it reads, and of two units that do not read each other the one declared first. A feedforward plan
drew in networkx's topological order (layer by layer from the inputs), so of `x -> a -> b` and `x -> c` it drew
c's dropout mask before b's, though b is declared first and a recurrent plan orders its units by declaration:
an independent twin written from the docs could not know which numbers went to which mask."""

import numpy as np

import nngraph
from tests.recording import Recording

BRANCHES = """
model m {
  input  x[2]
  layer  a[4] tanh
  layer  b[3] tanh dropout=0.5
  layer  c[5] tanh dropout=0.5
  output y[1]
  x -> a -> b -> y
  x -> c -> y
}
train { model m; data xor; loss mse(y) }
"""

NOISE = """
model g {
  input  x[1]
  noise  z1[2]
  layer  h[3] relu dropout=0.5
  noise  z2[4] uniform
  output p[2]
  z1 -> h -> p
  z2 -> p
  x -> p
}
train { model g; data xor; loss mse(p) }
"""


def draws(text, model, inputs, target):
    program = nngraph.program(nngraph.loads(text), model, dtype="float64")
    rng = Recording()
    program.loss_and_grads(inputs, target, rng=rng)
    return rng.shapes, [r.slot for r in program.train_plan.random]


def test_a_mask_declared_first_is_drawn_first_whatever_the_depth():
    shapes, slots = draws(BRANCHES, "m", {"x": np.ones((2, 2))}, np.zeros((2, 1)))
    assert shapes == [(2, 3), (2, 5)]  # b's mask, then c's (c's came first before the fix)
    assert slots == ["random:b.dropout", "random:c.dropout"]


def test_a_noise_input_declared_after_a_layer_is_drawn_after_that_layer_s_mask():
    shapes, _ = draws(NOISE, "g", {"x": np.ones((2, 1))}, np.zeros((2, 2)))
    assert shapes == [(2, 2), (2, 3), (2, 4)]  # z1, h's mask (h reads z1), then z2, declared after h


def test_the_parameters_keep_their_order():
    """Only the draws moved: the parameters (whose order the initial draws follow) are lowered as before, so a
    model's initial weights from a seed are unchanged."""
    program = nngraph.program(nngraph.loads(BRANCHES), "m", dtype="float64")
    names = list(program.params)
    assert names.index("x->c.weight") < names.index("a->b.weight")
