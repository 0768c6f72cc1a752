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


@pytest.mark.parametrize("dropout", ["", "dropout=0.5"])
@pytest.mark.parametrize("training", [False, True])
def test_run_on_gives_the_general_passes_values_and_gradients(dropout, training):
    # the lean path (a plain plan) and its fallback (a plan with random draws) against feeds + run, bit for bit
    checked = nngraph.loads(SPEC.replace("layer h[4] tanh", f"layer h[4] tanh {dropout}"))
    config = checked.train()
    program = compile_model(checked.models[config.model], (), get_backend(), seed=0)  # no loss: as an agent's
    x = np.random.default_rng(0).random((5, 3), dtype=np.float32)
    lean, lean_ctxs = program.run_on(x, training)
    last = program.train_plan.instrs[program.train_plan.body - 1].output
    seed = {last: np.ones_like(lean[last])}
    values = program.feeds({"x": x}, rng=program.backend.rng(None), training=training)
    ctxs = program.run(values, training, with_loss=False)
    if dropout and training:  # a fallback draws its own mask: compare the shapes of what it gives
        assert lean[last].shape == values[last].shape and len(lean_ctxs) == len(ctxs)
        return
    np.testing.assert_array_equal(lean[last], values[last])
    if training:
        ours, theirs = program.backward(lean, lean_ctxs, seed), program.backward(values, ctxs, seed)
        for name in program.params:
            np.testing.assert_array_equal(ours[name], theirs[name])


def test_a_program_with_losses_differentiates_a_pass_run_without_them():
    # run(..., with_loss=False) gives the body's contexts only; backward pairs them with the body's instructions
    # (it paired them from the end of the whole plan, the loss instructions' places, and went out of step)
    checked = nngraph.loads(SPEC)
    config = checked.train()
    backend = get_backend(dtype="float64")
    with_losses, without = (compile_model(checked.models[config.model], loss, backend, seed=0)
                            for loss in (config.loss, ()))
    x = np.random.default_rng(0).random((5, 3))
    grads = []
    for program in (with_losses, without):
        values = program.feeds({"x": x}, training=True)
        ctxs = program.run(values, training=True, with_loss=False)
        last = program.train_plan.instrs[program.train_plan.body - 1].output
        grads.append(program.backward(values, ctxs, {last: np.ones_like(values[last])}))
    for name in without.params:
        np.testing.assert_allclose(grads[0][name], grads[1][name], rtol=1e-12)
