"""`initial=learned` (issue 18, item 17): a loop unit's state before the first step is a parameter, for that unit
alone; the Python API's `learn_initial=True` still learns every loop unit's."""

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model

SPEC = """model m {
  input x[2] sequence
  layer h[4] lstm initial=learned
  layer g[3] tanh
  output y[1]
  x -> h -> g -> y
  g -> g delay 1
}
"""


def _program(**options):
    model = nngraph.loads(SPEC).models["m"]
    return compile_model(model, backend=get_backend("numpy", "float64"), **options)


def test_the_word_learns_that_units_state_alone():
    assert {n for n in _program().params if "initial" in n} == {"h.initial", "h.initial_cell"}
    every = {n for n in _program(learn_initial=True).params if "initial" in n}
    assert every == {"h.initial", "h.initial_cell", "g.initial"}


def test_the_learned_state_is_where_the_first_step_starts():
    program = _program()
    x = np.zeros((2, 1, 2))
    before = program.forward({"x": x})["h"]
    program.set("h.initial", np.full(4, 0.5))
    after = program.forward({"x": x})["h"]
    assert not np.allclose(before, after)
