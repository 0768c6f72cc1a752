"""Method vae: the ELBO's gradient, KL warm-up, several samples, checkpoints, and the quality floor."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.train.vae import build, kl_weight

from .helpers import SPECS, check_elbo_gradient, trained


def _method(backend="numpy", dtype="float32", overrides=()):
    checked = nngraph.load(SPECS / "vae_digits_2d.nn", list(overrides))
    return build(checked, checked.train(), get_backend(backend, dtype))


def test_elbo_gradient_matches_finite_differences_with_the_noise_fixed(backend_name, xp):
    method = _method(backend_name, "float64", ["method=vae(samples=2, warmup=0)"])
    check_elbo_gradient(method, xp)


def test_kl_warmup_ramps_the_kl_weight_over_epochs():
    assert [kl_weight(e, 4) for e in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0]
    assert kl_weight(1, 0) == 1.0
    method = _method(overrides=["method=vae(samples=1, warmup=2)"])
    (kl,) = method.kl_labels
    method.set_learning_rate(1e-3)
    assert method.program.loss_weights[kl] == pytest.approx(0.5)
    method.set_learning_rate(1e-3)
    assert method.program.loss_weights[kl] == pytest.approx(1.0)


def test_a_step_reports_the_negative_elbo_at_full_kl_weight():
    method = _method(overrides=["method=vae(samples=3, warmup=10)"])
    session = nngraph.session.prepare(nngraph.load(SPECS / "vae_digits_2d.nn"))
    method.set_learning_rate(1e-3)
    metrics = method.train_step(session.splits.train.take(np.arange(16)), np.random.default_rng(0))
    assert metrics["kl_weight"] == pytest.approx(0.1)
    assert metrics["loss"] == pytest.approx(metrics["recon"] + metrics["kl"])
    assert metrics["recon"] > 20 and metrics["kl"] >= 0  # summed over 64 pixels, not a per-pixel mean


def test_several_samples_repeat_each_example():
    method = _method(overrides=["method=vae(samples=3, warmup=0)"])
    inputs, _ = method._feeds(np.arange(4, dtype=np.float32)[:, None].repeat(64, 1))
    assert inputs["x"][:, 0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_state_round_trip_restores_parameters_optimizer_and_warmup():
    first = _method(overrides=["method=vae(samples=1, warmup=4)"])
    x = np.random.default_rng(0).random((8, 64)).round().astype(np.float32)
    batch = nngraph.data.dataset.unsupervised(x, "bits")
    for _ in range(3):
        first.set_learning_rate(1e-3)
        first.train_step(batch, np.random.default_rng(1))
    second = _method(overrides=["method=vae(samples=1, warmup=4)"])
    second.load_state(first.state())
    for method in (first, second):
        method.set_learning_rate(1e-3)
    assert second.epoch == 4 and second.weight == first.weight == 1.0
    a, b = (m.train_step(batch, np.random.default_rng(2)) for m in (first, second))
    assert a == b


def test_vae_digits_beats_three_quarters_of_the_independent_bernoulli_nll():
    """The quality floor: test negative ELBO <= 0.75 x the exact test NLL of per-pixel Bernoullis
    fitted (maximum likelihood) on the training split."""
    session = trained("vae_digits.nn")
    train, test = session.splits.train.x, session.splits.test.x
    p = train.mean(axis=0)
    assert not test[:, p == 0].any() and test[:, p == 1].all()  # the baseline's NLL is finite
    p = p.clip(1e-12, 1 - 1e-12)
    baseline = -(test * np.log(p) + (1 - test) * np.log1p(-p)).sum(axis=1).mean()
    elbo = session.method.evaluate(session.splits.test)
    assert elbo["loss"] <= 0.75 * baseline, (elbo, baseline)
    assert elbo["kl"] > 1  # the latent code is in use
