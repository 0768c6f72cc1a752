"""The whole-model gradient of every backprop spec matches central finite differences (float64)."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.train.feeding import split_inputs

SPECS = Path(__file__).resolve().parents[2] / "specs"
BACKPROP_SPECS = ["xor", "logistic_xor", "linear_regression", "digits_logreg", "digits_mlp", "digits_cnn",
                  "mnist_lenet", "digits_superres", "mnist_superres", "dbn_digits"]


def _batch(program, checked, rng, n=3):
    plan = program.train_plan
    model = checked.models[plan.model]
    inputs = {name: rng.standard_normal((n, *plan.shapes[name])) for name in plan.feeds}
    out_shape = plan.shapes[plan.outputs[0]]
    if any(ls.op == "softmax_cross_entropy" for ls in plan.losses):
        target = rng.integers(0, out_shape[-1], n)
    elif any(ls.op in ("bce_logits", "bce") for ls in plan.losses):
        target = rng.random((n, *out_shape))
    else:
        target = rng.standard_normal((n, *out_shape))
    return split_inputs(model, plan.feeds, np.concatenate([inputs[f].reshape(n, -1) for f in plan.feeds], 1)
                        if len(plan.feeds) > 1 else inputs[plan.feeds[0]]), target


def _loss_at(program, values_template, training=True):
    values = dict(values_template)
    values.update({f"param:{k}": v for k, v in program.params.items()})
    program.run(values, training)
    return program.loss(values, program.train_plan)[0]


@pytest.mark.parametrize("name", BACKPROP_SPECS)
def test_whole_model_gradient_matches_finite_differences(name, xp):
    checked = nngraph.load(SPECS / f"{name}.nn")
    backend = "cupy" if xp.__name__ == "cupy" else "numpy"
    program = nngraph.program(checked, backend=backend, dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    inputs, target = _batch(program, checked, rng)
    # one draw of dropout masks and noise, reused for every evaluation
    fixed = program.feeds(inputs, target, rng=np.random.default_rng(1), training=True)
    ctxs = program.run(fixed, training=True)
    grads = program.backward(fixed, ctxs)
    direction = {k: xp.asarray(rng.standard_normal(v.shape)) for k, v in program.params.items()}
    analytic = sum(float((grads[k] * direction[k]).sum()) for k in program.params)
    eps = 1e-6
    original = {k: v.copy() for k, v in program.params.items()}
    losses = []
    for sign in (1, -1):
        for k in program.params:
            program.params[k][...] = original[k] + sign * eps * direction[k]
        losses.append(_loss_at(program, fixed))
    numeric = (losses[0] - losses[1]) / (2 * eps)
    assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-8)
