"""Lowering: fused ops, parameter names and shapes, and what is refused."""

import numpy as np
import pytest

import nngraph
from nngraph.errors import BuildError


@pytest.fixture(autouse=True)
def plain_plans(monkeypatch):
    """These tests read the lowering's plans as lowered: not fused for the CUDA path (tests/compile/test_fuse.py
    tests that), whatever NNGRAPH_ISA says."""
    monkeypatch.setenv("NNGRAPH_KERNELS", "0")


XOR = """
model m {
  input x[2]
  layer h[4] tanh
  output y[1] sigmoid
  x -> h -> y
}
train { model m; data xor; loss bce(y) }
"""


def test_dense_units_fuse_matmul_and_bias_and_bce_uses_logits():
    program = nngraph.program(nngraph.loads(XOR))
    ops = [i.op.name for i in program.train_plan.instrs]
    assert ops == ["dense", "tanh", "dense", "sigmoid", "bce_logits"]
    assert {k: v.shape for k, v in program.params.items()} == {
        "x->h.weight": (2, 4), "h.bias": (4,), "h->y.weight": (4, 1), "y.bias": (1,)}


def test_first_layer_skips_its_input_gradient():
    program = nngraph.program(nngraph.loads(XOR))
    first = program.train_plan.instrs[0]
    assert first.attrs["needs_input_grad"] is False
    assert program.train_plan.instrs[2].attrs["needs_input_grad"] is True


def test_several_connections_into_one_unit_sum():
    checked = nngraph.loads("""
model m {
  input a[2]
  input b[3]
  output y[1] identity
  a -> y
  b -> y
}""")
    program = nngraph.program(checked)
    program.set("a->y.weight", np.ones((2, 1)))
    program.set("b->y.weight", 2 * np.ones((3, 1)))
    program.set("y.bias", [0.5])
    out = program.forward({"a": np.ones((1, 2), np.float32), "b": np.ones((1, 3), np.float32)})["y"]
    assert out[0, 0] == pytest.approx(2 + 6 + 0.5)


def test_dropout_only_in_training_plan():
    checked = nngraph.loads("""
model m {
  input x[4]
  layer h[8] relu dropout=0.5
  output y[2] softmax
  x -> h -> y
}""")
    program = nngraph.program(checked)
    assert "dropout" in [i.op.name for i in program.train_plan.instrs]
    assert "dropout" not in [i.op.name for i in program.eval_plan.instrs]


def test_same_seed_same_parameters_and_float64_on_request():
    checked = nngraph.loads(XOR)
    a, b = nngraph.program(checked, seed=3), nngraph.program(checked, seed=3)
    assert all(np.array_equal(a.get(k), b.get(k)) for k in a.params)
    assert nngraph.program(checked, dtype="float64").params["h.bias"].dtype == np.float64
    assert a.params["h.bias"].dtype == np.float32


def test_recurrent_models_compile_to_one_program_with_a_scan_and_boltzmann_ones_are_refused():
    from nngraph.compile import Program, lower_model

    checked = nngraph.loads("""
model r {
  input x[1] sequence
  layer h[4] tanh
  output y[1]
  x -> h -> y
  h -> h delay 1
}
model b {
  visible v[4]
  hidden h[2]
  v <-> h
}""")
    recurrent = nngraph.program(checked, "r")
    assert isinstance(recurrent, Program) and recurrent.train_plan.sequence
    assert [i.op.name for i in recurrent.train_plan.instrs] == ["scan", "dense"]
    with pytest.raises(BuildError, match="symmetric links") as err:
        lower_model(checked.models["b"])
    assert err.value.span.line == 9


def test_input_gradients_match_finite_differences_when_asked_for():
    from nngraph.compile import compile_model

    checked = nngraph.loads(XOR)
    from nngraph.backend import get_backend

    program = compile_model(checked.models["m"], checked.train().loss, get_backend("numpy", "float64"),
                            input_grads=True)
    x = np.array([[0.3, -0.2], [1.0, 0.5]])
    t = np.array([[1.0], [0.0]])

    def loss(xv):
        values = program.feeds({"x": xv}, t, training=True)
        program.run(values, training=True)
        return program.loss(values, program.train_plan)[0]

    values = program.feeds({"x": x}, t, training=True)
    _, input_grads = program.backward_to_inputs(values, program.run(values, training=True))
    eps = 1e-6
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        assert input_grads["x"][i] == pytest.approx((loss(x + step) - loss(x - step)) / (2 * eps), rel=1e-6)


def test_loss_weights_can_change_between_steps():
    program = nngraph.program(nngraph.loads(XOR))
    x = np.array([[0, 1]], np.float32)
    t = np.array([[1.0]], np.float32)
    _, _, g1, _ = program.loss_and_grads({"x": x}, t)
    program.loss_weights["bce(y)"] = 0.5
    _, _, g2, _ = program.loss_and_grads({"x": x}, t)
    np.testing.assert_allclose(g2["y.bias"], 0.5 * g1["y.bias"], rtol=1e-6)
