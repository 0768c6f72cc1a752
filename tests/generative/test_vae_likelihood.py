"""The VAE's importance-sampled log-likelihood against the exact one of a tiny binary VAE.

Four bernoulli pixels and a 1-D latent: log p(x) = log integral p(x | z) N(z; 0, 1) dz is exact to many digits by
quadrature on a fine grid of z, for each of the 16 binary patterns (whose probabilities must then sum to 1).
"""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.backend.threads import compute_threads
from nngraph.data.dataset import unsupervised
from nngraph.errors import TrainingError
from nngraph.train.loop import fit
from nngraph.train.vae import build, log_mean_exp

TINY = """
model tiny {
  input x[4]; layer e[8] tanh; layer mu[1] identity; layer logvar[1] identity
  sample z ~ normal(mu, logvar)
  layer d[8] tanh; output x_hat[4] sigmoid
  x -> e; e -> mu; e -> logvar; z -> d -> x_hat
}
train { model tiny; data bars(size=2); method vae(samples=1, warmup=0); loss LOSS
        optimizer adam(lr=0.02); batch 16; epochs 150 }
"""
PATTERNS = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(np.float32)  # every binary x


def tiny_vae(loss: str = "bce(x_hat, x) + kl(z)"):
    checked = nngraph.loads(TINY.replace("LOSS", loss))
    config = checked.train()
    return build(checked, config, get_backend("numpy", "float64")), config


def exact_log_p(method) -> np.ndarray:
    """log p(x) of every pattern by the trapezoid rule over z in [-10, 10] (the prior's tails beyond are < 1e-22)."""
    z = np.linspace(-10, 10, 20001)
    probs = method.decode(z[:, None]).clip(1e-300, 1)  # [Z, 4] bernoulli means
    log_px_z = PATTERNS @ np.log(probs).T + (1 - PATTERNS) @ np.log1p(-probs.clip(0, 1 - 1e-16)).T
    log_joint = log_px_z - 0.5 * (z * z + np.log(2 * np.pi))
    return log_mean_exp(log_joint) + np.log(len(z) * (z[1] - z[0]))  # sum times spacing: a Riemann sum


@pytest.fixture(scope="module")
def trained_tiny():
    method, config = tiny_vae()
    with compute_threads(1):
        fit(method, unsupervised(np.repeat(PATTERNS[[0, 3, 5, 15]], 4, axis=0), "four"), None, config,
            rng=np.random.default_rng(0))
    return method


def test_importance_estimate_lies_between_the_elbo_and_the_exact_log_likelihood(trained_tiny):
    exact = exact_log_p(trained_tiny)
    assert np.exp(exact).sum() == pytest.approx(1.0, abs=1e-6)  # the quadrature is a distribution over x
    data = unsupervised(PATTERNS, "all")
    estimate = trained_tiny.importance_log_likelihood(data, k=1000, seed=1)
    assert estimate["elbo"] < estimate["log_likelihood"] - 0.05  # a gap the estimate closes
    assert exact.mean() - 0.02 < estimate["log_likelihood"] <= exact.mean() + 0.005
    few = trained_tiny.importance_log_likelihood(data, k=5, seed=1)["log_likelihood"]
    assert estimate["elbo"] < few < estimate["log_likelihood"]  # tighter as k grows


def test_the_elbo_of_the_log_weights_is_the_one_training_reports(trained_tiny):
    """The log-weights' mean is the negative of `evaluate`'s loss, up to Monte-Carlo noise (many rows)."""
    data = unsupervised(np.repeat(PATTERNS, 400, axis=0), "many")
    reported = trained_tiny.evaluate(data)["loss"]
    assert trained_tiny.importance_log_likelihood(unsupervised(PATTERNS, "all"), k=2000)["elbo"] == \
        pytest.approx(-reported, abs=0.03)


def test_samples_beyond_one_pass_are_split_into_blocks(monkeypatch, trained_tiny):
    """k larger than a pass's rows: the draws come in blocks and give the same estimate as one pass."""
    data = unsupervised(PATTERNS[:3], "three")
    whole = trained_tiny.importance_log_likelihood(data, k=64, seed=3)
    monkeypatch.setattr("nngraph.train.vae.EVAL_ROWS", 16)
    blocked = trained_tiny.importance_log_likelihood(data, k=64, seed=3)
    assert blocked == pytest.approx(whole, abs=1e-12)


def test_log_mean_exp_does_not_overflow():
    assert log_mean_exp(np.array([[1000.0, 1000.0], [-1000.0, -1000.0 + np.log(3)]])) == \
        pytest.approx([1000.0, -1000.0 + np.log(2)])


@pytest.mark.parametrize("loss", ["mse(x_hat, x) + kl(z)", "bce(x_hat, x) + 0.5 * kl(z)", "bce(x_hat, x)"])
def test_a_loss_that_is_no_log_likelihood_is_refused(loss):
    method, _ = tiny_vae(loss)
    with pytest.raises(TrainingError, match="needs the loss to be a log-likelihood"):
        method.importance_log_likelihood(unsupervised(PATTERNS, "all"), k=2)
