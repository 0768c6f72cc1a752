import numpy as np
import pytest

from nngraph.train.regularize import add_penalties, clip_by_global_norm, global_norm, penalty_value


def setup():
    params = {"h.weight": np.array([[1.0, -2.0]]), "h.bias": np.array([3.0]), "bias": np.array([-1.0])}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    return params, grads


def test_penalties_reach_weights_but_not_biases(xp):
    params, grads = setup()
    params = {k: xp.asarray(v) for k, v in params.items()}
    grads = {k: xp.asarray(v) for k, v in grads.items()}
    held = dict(grads)
    add_penalties(params, grads, l1=0.1, l2=0.5, xp=xp)
    got = {k: getattr(xp, "asnumpy", np.asarray)(v) for k, v in grads.items()}
    np.testing.assert_allclose(got["h.weight"], [[0.5 + 0.1, -1.0 - 0.1]])
    assert got["h.bias"][0] == 0 and got["bias"][0] == 0
    assert all(grads[k] is held[k] for k in grads)  # in place


def test_penalty_value_is_what_the_gradient_descends():
    params, _ = setup()
    assert penalty_value(params, l1=0.1, l2=0.5) == pytest.approx(0.1 * 3 + 0.25 * 5)
    assert penalty_value(params, 0.0, 0.0) == 0.0
    # finite difference of the L2 part against add_penalties' gradient
    w = params["h.weight"]
    eps = 1e-6
    w[0, 0] += eps
    up = penalty_value(params, 0.0, 0.5)
    w[0, 0] -= 2 * eps
    down = penalty_value(params, 0.0, 0.5)
    assert (up - down) / (2 * eps) == pytest.approx(0.5 * 1.0)


def test_zero_penalties_change_nothing():
    params, grads = setup()
    add_penalties(params, grads, 0.0, 0.0, np)
    assert all((g == 0).all() for g in grads.values())


def test_clip_scales_all_gradients_together():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    norm = clip_by_global_norm(grads, 1.0, np)
    assert norm == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(grads["a"] / grads["b"], 0.75)


def test_clip_leaves_small_and_non_finite_gradients_alone():
    small = {"a": np.array([0.3])}
    assert clip_by_global_norm(small, 1.0, np) == pytest.approx(0.3)
    assert small["a"][0] == 0.3
    bad = {"a": np.array([np.inf, 1.0])}
    assert clip_by_global_norm(bad, 1.0, np) == np.inf
    assert bad["a"][1] == 1.0
