"""Optimizers against PyTorch's update formulas, written out naively in float64."""

import numpy as np
import pytest

from nngraph.errors import TrainingError, ValidationError
from nngraph.graph.training import Choice
from nngraph.train.optimizers import make_optimizer

SHAPES = {"w": (3, 2), "b.bias": (2,)}


def torch_sgd(params, grad_seq, lr, momentum=0.0, nesterov=False):
    """torch.optim.SGD.step (dampening 0, no weight decay): buffer starts as the first gradient."""
    params = {k: v.copy() for k, v in params.items()}
    bufs = {}
    for grads in grad_seq:
        for k, g in grads.items():
            if momentum:
                bufs[k] = g.copy() if k not in bufs else momentum * bufs[k] + g
                g = g + momentum * bufs[k] if nesterov else bufs[k]
            params[k] = params[k] - lr * g
    return params


def torch_adam(params, grad_seq, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.Adam.step (amsgrad off): lerp for the mean, eps after the corrected sqrt."""
    params = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for step, grads in enumerate(grad_seq, start=1):
        for k, g in grads.items():
            m[k] = m[k] + (g - m[k]) * (1 - beta1)
            v[k] = v[k] * beta2 + (1 - beta2) * g * g
            denom = np.sqrt(v[k]) / np.sqrt(1 - beta2**step) + eps
            params[k] = params[k] - (lr / (1 - beta1**step)) * m[k] / denom
    return params


def random_problem(steps=5, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(steps)]
    return params, grads


def run_ours(choice, params, grad_seq, xp):
    live = {k: xp.asarray(v.copy()) for k, v in params.items()}
    opt = make_optimizer(choice, live, xp)
    for grads in grad_seq:
        opt.update(live, {k: xp.asarray(g) for k, g in grads.items()})
    return {k: np.asarray(getattr(xp, "asnumpy", np.asarray)(v)) for k, v in live.items()}


CASES = [
    (Choice("sgd", {"lr": 0.1}), {"lr": 0.1}, torch_sgd),
    (Choice("sgd", {"lr": 0.1, "momentum": 0.9}), {"lr": 0.1, "momentum": 0.9}, torch_sgd),
    (Choice("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
     {"lr": 0.05, "momentum": 0.8, "nesterov": True}, torch_sgd),
    (Choice("adam", {"lr": 0.01}), {"lr": 0.01}, torch_adam),
    (Choice("adam", {"lr": 0.02, "beta1": 0.5, "beta2": 0.9, "eps": 1e-6}),
     {"lr": 0.02, "beta1": 0.5, "beta2": 0.9, "eps": 1e-6}, torch_adam),
]


@pytest.mark.parametrize("choice,kwargs,reference", CASES, ids=lambda c: getattr(c, "name", ""))
def test_matches_torch_formulas(choice, kwargs, reference, xp):
    params, grads = random_problem()
    ours = run_ours(choice, params, grads, xp)
    expected = reference(params, grads, **kwargs)
    for k in params:
        np.testing.assert_allclose(ours[k], expected[k], rtol=1e-12, atol=1e-12)


def test_hand_computed_momentum_and_adam_first_step():
    one = {"w": np.array([1.0])}
    opt = make_optimizer(Choice("sgd", {"lr": 0.1, "momentum": 0.9}), one, np)
    for _ in range(2):
        opt.update(one, {"w": np.array([1.0])})
    assert one["w"][0] == pytest.approx(1.0 - 0.1 - 0.19)  # buffers 1, then 1.9
    one = {"w": np.array([1.0])}
    make_optimizer(Choice("adam", {"lr": 0.1}), one, np).update(one, {"w": np.array([3.0])})
    assert one["w"][0] == pytest.approx(0.9, abs=1e-7)  # Adam's first step is lr * sign(g)


def test_updates_in_place_and_keeps_dtype():
    params = {k: np.ones(s, np.float32) for k, s in SHAPES.items()}
    before = dict(params)
    opt = make_optimizer(Choice("adam", {"lr": 0.1}), params, np)
    opt.update(params, {k: np.full(s, 0.5, np.float32) for k, s in SHAPES.items()})
    for name, p in params.items():
        assert p is before[name] and p.dtype == np.float32
        assert (p < 1).all()


def test_learning_rate_can_change_between_steps():
    params, grads = random_problem(steps=2)
    live = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(Choice("sgd", {"lr": 0.1}), live, np)
    opt.update(live, grads[0])
    opt.lr = 0.01
    opt.update(live, grads[1])
    expected = torch_sgd(torch_sgd(params, grads[:1], 0.1), grads[1:], 0.01)
    np.testing.assert_allclose(live["w"], expected["w"], rtol=1e-12)


def test_parameters_without_gradient_stay_put():
    params, grads = random_problem(steps=1)
    live = {k: v.copy() for k, v in params.items()}
    make_optimizer(Choice("sgd", {"lr": 0.1, "momentum": 0.5}), live, np).update(live, {"w": grads[0]["w"]})
    np.testing.assert_array_equal(live["b.bias"], params["b.bias"])
    assert not np.array_equal(live["w"], params["w"])


@pytest.mark.parametrize("choice", [Choice("sgd", {"lr": 0.1, "momentum": 0.9}), Choice("adam", {"lr": 0.1})])
def test_state_dict_resumes_exactly(choice):
    params, grads = random_problem(steps=6)
    straight = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(choice, straight, np)
    for g in grads:
        opt.update(straight, g)

    first = {k: v.copy() for k, v in params.items()}
    opt = make_optimizer(choice, first, np)
    for g in grads[:3]:
        opt.update(first, g)
    saved = opt.state_dict()
    assert all(isinstance(a, np.ndarray) for a in saved.values())
    second = {k: v.copy() for k, v in first.items()}
    opt = make_optimizer(choice, second, np)
    opt.load_state_dict(saved)
    for g in grads[3:]:
        opt.update(second, g)
    for k in params:
        np.testing.assert_array_equal(second[k], straight[k])


def test_state_dict_of_another_model_is_refused():
    opt = make_optimizer(Choice("adam"), {"w": np.zeros(3)}, np)
    other = make_optimizer(Choice("adam"), {"w": np.zeros(4)}, np)
    with pytest.raises(TrainingError, match="shape"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(TrainingError, match=r"another optimizer \(no slots\); adam as set now keeps slots exp_avg, "
                                            "exp_avg_sq"):
        opt.load_state_dict({"steps": np.asarray(1)})
    with pytest.raises(TrainingError, match="exp_avg.w"):  # the same optimizer's, of other parameters
        opt.load_state_dict({"steps": np.asarray(1), "exp_avg.v": np.zeros(3), "exp_avg_sq.v": np.zeros(3)})


def test_bad_choices_are_named():
    with pytest.raises(ValidationError, match="unknown optimizer 'adamw'"):
        make_optimizer(Choice("adamw"), {}, np)
    with pytest.raises(ValidationError, match="no option 'mom'"):
        make_optimizer(Choice("sgd", {"mom": 0.9}), {}, np)
    with pytest.raises(ValidationError, match="nesterov"):
        make_optimizer(Choice("sgd", {"nesterov": True}), {}, np)


def flat_views(params, order):
    """`params` copied into consecutive views of one flat array, laid out in `order`."""
    flat = np.empty(sum(v.size for v in params.values()))
    views, start = {}, 0
    for k in order:
        views[k] = flat[start : start + params[k].size].reshape(params[k].shape)
        views[k][...] = params[k]
        start += params[k].size
    return {k: views[k] for k in params}


LAYOUTS = {  # how the live parameters sit in memory: each layout takes a different fused path
    "separate": lambda p: {k: v.copy() for k, v in p.items()},
    "one flat array": lambda p: flat_views(p, list(p)),
    "flat, other order": lambda p: flat_views(p, list(p)[::-1]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("choice", [c for c, _, _ in CASES], ids=lambda c: f"{c.name}{sorted(c.options)}")
def test_fused_and_per_parameter_paths_agree(choice, layout):
    params, grads = random_problem(steps=3)
    results = []
    for fused in (True, False):
        live = LAYOUTS[layout](params)
        before = dict(live)
        opt = make_optimizer(choice, live, np)
        opt.fused = fused
        for g in grads:
            opt.update(live, g)
        assert all(live[k] is before[k] for k in live)
        results.append(live)
    for k in params:
        np.testing.assert_array_equal(results[0][k], results[1][k])


def test_mixed_dtypes_update_parameter_by_parameter():
    params = {"w": np.ones(3, np.float32), "v": np.ones(2, np.float64)}
    opt = make_optimizer(Choice("adam", {"lr": 0.1}), params, np)
    opt.update(params, {"w": np.ones(3, np.float32), "v": np.ones(2)})
    assert opt.flat == {} and params["w"].dtype == np.float32
    np.testing.assert_allclose(params["v"], 0.9)


def test_momentum_of_a_parameter_without_gradient_never_turns_subnormal():
    """A dead unit's momentum decays geometrically; subnormal floats would make every update pass ~20x slower."""
    import numpy as np

    from nngraph.graph.training import Choice
    from nngraph.train.optimizers import make_optimizer

    params = {"w": np.ones(8, np.float32)}
    opt = make_optimizer(Choice("sgd", {"lr": 0.1, "momentum": 0.9}), params, np)
    opt.update(params, {"w": np.ones(8, np.float32)})
    zero = {"w": np.zeros(8, np.float32)}
    for _ in range(2000):
        opt.update(params, zero)
        buf = opt.state_dict()["momentum.w"]
        assert not np.any((buf != 0) & (np.abs(buf) < np.finfo(np.float32).tiny))
