"""Property: for random valid specs over every construct of the language, every parameter's gradient (and
every data input's, where a program computes them) agrees with central finite differences in float64.

A spec that passes `check` must compile and run: a crash here is as much a failure as a wrong number. Each
parameter is checked alone, along a random direction, so a wrong gradient names its parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.train.sequences import select_rows
from tests.property.random_specs import random_spec

SPECS = 400  # 100 of each family (feedforward twice)
BATCH, STEPS, EPS = 3, 4, 1e-6


def _close(analytic: float, numeric: float) -> bool:
    return abs(analytic - numeric) <= 1e-5 * max(abs(analytic), abs(numeric)) + 1e-8


def _data_target(losses, shapes, rng, lead=()):
    """What the data term compares with: labels for a cross-entropy, values in (0, 1) for bce, else normal."""
    term = next((ls for ls in losses if ls.target is None), None) if losses else None
    if term is None:
        return None
    shape = (*lead, *shapes[term.unit])
    if term.op == "softmax_cross_entropy":
        return rng.integers(0, shape[-1], shape[:-1])
    return rng.random(shape) if term.op in ("bce", "bce_logits") else rng.standard_normal(shape)


def _randomize(params, rng) -> None:
    """Every parameter drawn at random, biases too: zero biases put a rectifier fed by dead units exactly at
    its kink, where a finite difference and the (one-sided) derivative rightly disagree."""
    for param in params.values():
        param[...] = 0.5 * rng.standard_normal(param.shape)


def _directional_errors(name, array, grad, loss, rng) -> list[str]:
    direction = rng.standard_normal(array.shape)
    analytic = float((np.asarray(grad) * direction).sum())
    keep = array.copy()
    array[...] = keep + EPS * direction
    up = loss()
    array[...] = keep - EPS * direction
    down = loss()
    array[...] = keep
    numeric = (up - down) / (2 * EPS)
    return [] if _close(analytic, numeric) else [f"{name}: analytic {analytic:.8g}, numeric {numeric:.8g}"]


def _feedforward_errors(model, losses, rng) -> list[str]:
    program = compile_model(model, losses, get_backend("numpy", "float64"), seed=1, input_grads=True)
    plan = program.train_plan
    _randomize(program.params, rng)
    inputs = {name: rng.standard_normal((BATCH, *plan.shapes[name])) for name in plan.feeds}
    target = _data_target(plan.losses, plan.shapes, rng, (BATCH,))
    fixed = program.feeds(inputs, target, rng=np.random.default_rng(7), training=True)  # one draw of masks

    def loss() -> float:
        values = dict(fixed)
        program.run(values, training=True)
        return program.loss(values, plan)[0]

    values = dict(fixed)
    grads, input_grads = program.backward_to_inputs(values, program.run(values, training=True))
    errors = []
    for name, param in program.params.items():
        errors += _directional_errors(name, param, grads[name], loss, rng)
    for name in plan.feeds:
        grad = input_grads[name] if input_grads[name] is not None else np.zeros_like(fixed[name])
        errors += _directional_errors(f"input {name}", fixed[name], grad, loss, rng)
    return errors


def _recurrent_errors(model, losses, rng) -> list[str]:
    program = compile_model(model, losses, get_backend("numpy", "float64"), seed=1)
    plan = program.train_plan
    _randomize(program.params, rng)
    x = {name: rng.standard_normal((BATCH, STEPS, *plan.shapes[name])) for name in plan.feeds}
    y = _data_target(plan.losses, plan.shapes, rng, (STEPS * BATCH,))

    def loss() -> float:
        values = program.feeds(x, y, rng=np.random.default_rng(7), training=True)
        program.run(values, training=True)
        return program.loss(values, plan)[0]

    _, _, grads, _ = program.loss_and_grads(x, y, rng=np.random.default_rng(7))
    errors = []
    for name, param in program.params.items():
        errors += _directional_errors(name, param, grads[name], loss, rng)
    generic = _without_fused_scans(program).loss_and_grads(x, y, rng=np.random.default_rng(7))[2]
    return errors + [f"{name}: the fused and the generic scan disagree" for name in grads
                     if not np.allclose(grads[name], generic[name], rtol=1e-9, atol=1e-12)]


def _without_fused_scans(program):
    """The program with every scan running its step through the interpreter (no fused implementation)."""
    for plan in (program.train_plan, program.eval_plan):
        for ins in plan.instrs:
            ins.attrs.pop("fused", None)
    return program


@pytest.mark.parametrize("seed", range(SPECS))
def test_random_spec_gradients_match_finite_differences(seed):
    text = random_spec(seed)
    checked = nngraph.loads(text)
    config = checked.train()
    model = checked.models[config.model]
    rng = np.random.default_rng(seed)
    check = _recurrent_errors if model.is_recurrent else _feedforward_errors
    errors = check(model, config.loss, rng)
    assert not errors, "\n".join(errors) + "\n\n" + text


UPSAMPLING_LOOP = """model m {
  input x[1, 4, 4] sequence
  layer c relu
  layer p
  layer u[2, 4, 4]
  layer d tanh
  layer s
  layer e[1, 4, 4]
  output y[2] identity
  x -> c conv(filters=2, kernel=3, padding=1) -> p maxpool(2)
  p -> u upsample(2, bilinear) delay 1
  u -> c
  p -> d deconv(filters=2, kernel=4, stride=2, padding=1)
  d -> d conv(filters=2, kernel=3, padding=1) delay 1
  d -> s conv(filters=4, kernel=1, stride=2) -> e pixelshuffle(2) delay 1
  e -> y
  s -> y
}
train {
  data sine
  loss mse(y)
}"""


def test_upsampling_links_inside_a_loop():
    """Upsampling, a transposed convolution and a pixel shuffle on a recurrent loop, delayed and not."""
    checked = nngraph.loads(UPSAMPLING_LOOP)
    config = checked.train()
    errors = _recurrent_errors(checked.models[config.model], config.loss, np.random.default_rng(0))
    assert not errors, "\n".join(errors)
