"""Shared pieces of the generative tests: loading specs, short training runs, directional gradient checks."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.session import prepare
from nngraph.train.loop import fit

SPECS = Path(__file__).resolve().parents[2] / "specs"


def trained(spec: str, overrides=(), backend: str = "numpy"):
    """A session for `specs/<spec>` after training it (one BLAS thread: these models are small)."""
    session = prepare(nngraph.load(SPECS / spec, list(overrides)), backend=backend)
    with compute_threads(1):
        session.history = fit(session.method, session.splits.train, session.splits.validation,
                              session.config, rng=np.random.default_rng(session.config.seed))
    return session


def directional_check(params: dict, loss_and_grads, xp, eps: float = 1e-6, seed: int = 0):
    """(analytic, numeric) derivative of the loss along one random direction in parameter space.

    `loss_and_grads()` must draw the same noise on every call (a fresh generator from a fixed seed)."""
    rng = np.random.default_rng(seed)
    _, grads = loss_and_grads()
    direction = {k: xp.asarray(rng.standard_normal(v.shape)) for k, v in params.items()}
    analytic = sum(float((grads[k] * direction[k]).sum()) for k in params)
    original = {k: v.copy() for k, v in params.items()}
    losses = []
    for sign in (1, -1):
        for k, value in params.items():
            value[...] = original[k] + sign * eps * direction[k]
        losses.append(loss_and_grads()[0])
    for k, value in params.items():
        value[...] = original[k]
    return analytic, (losses[0] - losses[1]) / (2 * eps)


def check_elbo_gradient(method, xp) -> None:
    """A VAE's loss gradient on 5 random binary rows, its noise drawn from one seed each time, against finite
    differences (float64) along a random direction."""
    x = (np.random.default_rng(1).random((5, 64)) > 0.5).astype(np.float64)

    def loss_and_grads():
        inputs, target = method._feeds(x)
        total, _, grads, _ = method.program.loss_and_grads(inputs, target, np.random.default_rng(7))
        return total, grads

    analytic, numeric = directional_check(method.program.params, loss_and_grads, xp)
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-9)
