"""Non-trainable state (issue 18, item 16): batch normalisation's running statistics are `Program.buffers`,
made at compile time from the plan, replaced by the training forward pass's explicit outputs, read by the eval
plan, and never parameters."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.errors import ErrorList

SPEC = """model m {
  input x[1, 4, 4]
  layer c relu batchnorm(momentum=0.5)
  layer h[3] tanh layernorm
  output y[2]
  x -> c conv(filters=2, kernel=3, padding=1)
  c -> h -> y
}
"""


def _program():
    return compile_model(nngraph.loads(SPEC).models["m"], backend=get_backend("numpy", "float64"), seed=2)


def _x(seed=0):
    return np.random.default_rng(seed).normal(1.0, 2.0, (6, 1, 4, 4))


def test_running_statistics_are_buffers_not_parameters():
    program = _program()
    assert set(program.buffers) == {"c.norm.running_mean", "c.norm.running_var"}
    assert {"c.norm.weight", "c.norm.bias", "h.norm.weight", "h.norm.bias"} <= set(program.params)
    assert "c.bias" not in program.params  # a bias before batch normalisation is subtracted with the mean
    np.testing.assert_array_equal(program.buffers["c.norm.running_var"], [1, 1])


def test_a_training_pass_updates_them_from_its_batch_and_an_eval_pass_reads_them():
    program = _program()
    x = _x()
    before_eval = program.forward({"x": x})["y"]
    for _ in range(2):  # two training passes: two updates of momentum 0.5
        program.forward({"x": x}, training=True)
    pre = _conv_output(program, x)
    mean, var = pre.mean(axis=(0, 2, 3)), pre.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(program.buffers["c.norm.running_mean"], 0.75 * mean, rtol=1e-10)
    np.testing.assert_allclose(program.buffers["c.norm.running_var"], 0.25 + 0.75 * var, rtol=1e-10)
    after_eval = program.forward({"x": x})["y"]
    assert not np.allclose(before_eval, after_eval)  # eval reads the running statistics
    snapshot = {k: v.copy() for k, v in program.buffers.items()}
    program.forward({"x": _x(1)})  # eval passes leave them alone
    assert all(np.array_equal(snapshot[k], program.buffers[k]) for k in snapshot)


def _conv_output(program, x):
    from nngraph.ops import get_op

    w = program.get("x->c.weight")
    out, _ = get_op("conv2d").forward(np, (x, w), {"stride": [1, 1], "padding": [1, 1]})
    return out


def test_no_gradient_reaches_a_buffer():
    program = _program()
    values = program.feeds({"x": _x()}, training=True)
    ctxs = program.run(values, training=True)
    seed = np.random.default_rng(0).standard_normal((6, 2))
    grads = program.backward(values, ctxs, {program.train_plan.slot("y"): seed})
    assert set(grads) == set(program.params) and np.abs(grads["c.norm.weight"]).sum() > 0


def test_batchnorm_is_refused_in_a_recurrent_model():
    with pytest.raises(ErrorList, match="batchnorm on 'h' in a recurrent model"):
        nngraph.loads("model m { input x[2] sequence; layer h[3] tanh batchnorm; output y[1]; x -> h -> y\n"
                      "h -> h delay 1 }")


def test_a_checkpoint_round_trip_keeps_the_running_statistics(tmp_path):
    """The method's checkpoint state holds the buffers (`buffers.NAME`) and restores them into a fresh run."""
    from nngraph.session import build_method
    from nngraph.train.checkpoint import load_checkpoint, save_checkpoint

    text = SPEC + "train { data digits; loss cross_entropy(y) }"

    def method():
        checked = nngraph.loads(text.replace("y[2]", "y[10] softmax").replace("x[1, 4, 4]", "x[1, 8, 8]"))
        return build_method(checked, checked.train(), get_backend("numpy", "float64"))

    trained, fresh = method(), method()
    x = np.random.default_rng(0).normal(1.0, 2.0, (6, 1, 8, 8))
    trained.program.forward({"x": x}, training=True)
    state = trained.state()
    assert {"buffers.c.norm.running_mean", "buffers.c.norm.running_var"} <= set(state)
    save_checkpoint(tmp_path / "c.npz", state, {})
    fresh.load_state(load_checkpoint(tmp_path / "c.npz")[0])
    for name, value in trained.program.buffers.items():
        np.testing.assert_array_equal(fresh.program.buffers[name], value)
    np.testing.assert_array_equal(fresh.program.forward({"x": x})["y"], trained.program.forward({"x": x})["y"])
