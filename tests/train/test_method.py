"""The base every method derives from: the one update, checkpoints (buffers included), the learning rate."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.errors import TrainingError
from nngraph.graph.training import Choice, TrainConfig
from nngraph.session import build_method
from nngraph.train.method import Method
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties, clip_by_global_norm

XOR = """
model m { input x[2]; layer h[3] tanh; output y[1] sigmoid; x -> h -> y }
train { data xor; loss bce(y); optimizer sgd(lr=0.1, momentum=0.9); l1 0.01; l2 0.02; clip 0.5 }
"""


def backprop(text: str = XOR):
    checked = nngraph.loads(text)
    return build_method(checked, checked.train(), get_backend("numpy", "float64"))


def grads_like(params, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape) for k, v in params.items()}


def test_apply_update_is_penalties_then_clipping_then_the_optimizer():
    method = backprop()
    config = method.config
    expected = {k: v.copy() for k, v in method.params.items()}
    optimizer = make_optimizer(config.optimizer, expected, np)
    reference = grads_like(expected)
    add_penalties(expected, reference, config.l1, config.l2, np)
    clip_by_global_norm(reference, config.clip, np)
    optimizer.update(expected, reference)
    method.apply_update(grads_like(expected))
    for name, value in method.params.items():
        np.testing.assert_array_equal(value, expected[name])


def test_state_names_stay_those_of_older_checkpoints():
    method = backprop()
    names = set(method.state())
    assert {"params.x->h.weight", "params.h.bias", "optimizer.steps", "optimizer.momentum.x->h.weight"} <= names
    assert all(n.startswith(("params.", "optimizer.")) for n in names)


def test_a_programs_buffers_are_saved_and_restored_beside_its_parameters():
    """A Program may hold non-trainable state (a normalisation's running statistics): `buffers`."""
    checked = nngraph.loads(XOR)
    from nngraph.compile import compile_model

    program = compile_model(checked.models["m"], checked.train().loss, get_backend("numpy", "float64"))
    program.buffers = {"h.running_mean": np.arange(3.0)}
    from nngraph.train.backprop import Backprop

    method = Backprop(checked.models["m"], program, checked.train())
    state = method.state()
    np.testing.assert_array_equal(state["buffers.h.running_mean"], [0, 1, 2])
    live = program.buffers["h.running_mean"]
    live[...] = 7
    method.load_state(state | {"buffers.h.running_mean": np.array([4.0, 5.0, 6.0])})
    assert program.buffers["h.running_mean"] is live
    np.testing.assert_array_equal(live, [4, 5, 6])


def test_a_checkpoint_without_one_of_the_parameters_is_refused():
    method = backprop()
    state = method.state()
    del state["params.h.bias"]
    with pytest.raises(TrainingError, match="the checkpoint has no parameter 'h.bias'"):
        method.load_state(state)


def test_a_checkpoint_array_of_another_shape_is_refused():
    method = backprop()
    state = method.state() | {"params.h.bias": np.zeros(4)}
    with pytest.raises(TrainingError, match="parameter 'h.bias' has shape \\[4\\] in the checkpoint, \\[3\\]"):
        method.load_state(state)


def test_a_part_with_its_own_optimizer_follows_the_schedule_by_the_same_factor():
    method = Method(TrainConfig(optimizer=Choice("sgd", {"lr": 0.2})), np)
    plain = method.add_part({"w": np.zeros(2)}, name="one")
    own = method.add_part({"v": np.zeros(2)}, Choice("adam", {"lr": 0.01}), "other", base_lr=0.01)
    method.set_learning_rate(0.1)  # the schedule halves the train block's rate
    assert plain.optimizer.lr == 0.1 and own.optimizer.lr == pytest.approx(0.005)
    assert set(method.params) == {"one.w", "other.v"}
    assert {"params.one.w", "optimizer.other.exp_avg.v", "optimizer.one.steps"} <= set(method.state())
