"""A Program's parameters: views of one flat array, read and written in place by name."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.compile.program import flat_parameters

SPEC = """
model mlp {
  input x[3]
  layer h[4] tanh
  output y[2] softmax
  x -> h -> y
}
train { model mlp; data xor; loss cross_entropy(y); optimizer sgd(lr=0.1, momentum=0.9); batch 4 }
"""


def test_flat_parameters_are_consecutive_views_with_the_values():
    values = {"w": np.arange(6.0).reshape(2, 3), "b": np.array([7.0, 8.0]), "s": np.array(9.0)}
    params = flat_parameters(values, get_backend(dtype="float64"))
    base = params["w"].base
    assert all(p.base is base for p in params.values())
    np.testing.assert_array_equal(base, [0, 1, 2, 3, 4, 5, 7, 8, 9])
    for name, value in values.items():
        assert params[name].shape == value.shape


def test_program_parameters_share_one_array_and_set_writes_in_place():
    checked = nngraph.loads(SPEC)
    config = checked.train()
    program = compile_model(checked.models[config.model], config.loss, get_backend(), seed=0)
    arrays = list(program.params.values())
    assert len({id(p.base) for p in arrays}) == 1 and arrays[0].base.size == sum(p.size for p in arrays)
    name, before = next(iter(program.params.items()))
    program.set(name, np.ones(before.shape))
    assert program.params[name] is before and (arrays[0].base[: before.size] == 1).all()
    with pytest.raises(ValueError, match="shape"):
        program.set(name, np.ones(3))
