"""A learned mixture prior on a VAE's latent (`sample z ~ normal(mu, logvar) prior=mixture(K)`): the ELBO's gradient
through the one-draw KL estimate, the importance-sampled likelihood against quadrature under that prior, prior
draws, the parameters' count and penalties, and the spec's refusals."""

import re

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.backend.threads import compute_threads
from nngraph.data.dataset import unsupervised
from nngraph.errors import ValidationError
from nngraph.train.loop import fit
from nngraph.train.regularize import is_penalised
from nngraph.train.vae import build, log_mean_exp

from tests.graph.helpers import the_only_error
from .helpers import SPECS, check_elbo_gradient
from .test_vae_likelihood import PATTERNS, TINY

TINY_MIXTURE = TINY.replace("sample z ~ normal(mu, logvar)", "sample z ~ normal(mu, logvar) prior=mixture(3)")


def _method(text: str, dtype="float64", backend="numpy"):
    checked = nngraph.loads(text)
    return build(checked, checked.train(), get_backend(backend, dtype))


def test_elbo_gradient_matches_finite_differences_with_a_mixture_prior(backend_name, xp):
    text = (SPECS / "vae_digits_2d.nn").read_text().replace("sample z ~ normal(mu, logvar)",
                                                             "sample z ~ normal(mu, logvar) prior=mixture(5)")
    method = _method(re.sub(r"method vae\(.*\)", "method vae(samples=2, warmup=0)", text), backend=backend_name)
    assert {"z.prior.mean", "z.prior.logvar"} <= set(method.program.params)
    check_elbo_gradient(method, xp)


@pytest.fixture(scope="module")
def trained_tiny_mixture():
    method = _method(TINY_MIXTURE.replace("loss LOSS", "loss bce(x_hat, x) + kl(z)"))
    with compute_threads(1):
        fit(method, unsupervised(np.repeat(PATTERNS[[0, 3, 5, 15]], 4, axis=0), "four"), None,
            nngraph.loads(TINY_MIXTURE.replace("LOSS", "bce(x_hat, x) + kl(z)")).train(),
            rng=np.random.default_rng(0))
    return method


def test_importance_estimate_under_the_mixture_prior_meets_quadrature(trained_tiny_mixture):
    """log p(x) = log integral p(x | z) p(z) dz with p the learned mixture, by a Riemann sum over z."""
    method = trained_tiny_mixture
    means, logvars = method._prior_parameters()
    assert not np.allclose(logvars, 0)  # the prior moved from its start
    z = np.linspace(-15, 15, 30001)
    probs = method.decode(z[:, None]).clip(1e-300, 1)
    log_px_z = PATTERNS @ np.log(probs).T + (1 - PATTERNS) @ np.log1p(-probs.clip(0, 1 - 1e-16)).T
    exact = log_mean_exp(log_px_z + method.log_prior(z[:, None])) + np.log(len(z) * (z[1] - z[0]))
    assert np.exp(exact).sum() == pytest.approx(1.0, abs=1e-6)
    # a peaked mixture makes the log-weights noisier than under N(0, 1): k = 1000 lands within ~0.015 of the
    # quadrature on either side (seeds 1-3), k = 10000 within ~0.0015
    estimate = method.importance_log_likelihood(unsupervised(PATTERNS, "all"), k=10_000, seed=1)
    assert estimate["elbo"] < estimate["log_likelihood"] - 0.05
    assert estimate["log_likelihood"] == pytest.approx(exact.mean(), abs=0.005)


def test_the_reported_kl_estimates_log_q_minus_the_mixture_log_prior(trained_tiny_mixture):
    """`evaluate`'s loss is the mean of the log-weights' negatives (both estimate -ELBO), many rows."""
    reported = trained_tiny_mixture.evaluate(unsupervised(np.repeat(PATTERNS, 400, axis=0), "many"))["loss"]
    estimate = trained_tiny_mixture.importance_log_likelihood(unsupervised(PATTERNS, "all"), k=2000)
    assert estimate["elbo"] == pytest.approx(-reported, abs=0.03)


def test_prior_draws_come_from_the_mixture():
    method = _method(TINY_MIXTURE.replace("LOSS", "bce(x_hat, x) + kl(z)"))
    params = method.program.params
    params["z.prior.mean"][...] = [[-3.0], [0.0], [4.0]]
    params["z.prior.logvar"][...] = np.log([[0.01], [0.04], [0.09]])
    z = method.draw_prior(30_000, np.random.default_rng(0))[:, 0]
    assert z.dtype == np.float64  # the run's dtype
    for centre, std in ((-3, 0.1), (0, 0.2), (4, 0.3)):
        near = z[np.abs(z - centre) < 1]
        assert len(near) / len(z) == pytest.approx(1 / 3, abs=0.02)
        assert near.std() == pytest.approx(std, rel=0.05)


class _ZeroNoise:
    """A generator whose normal draws are all 0 (every prior draw at its component's mean)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def standard_normal(self, shape):
        return np.zeros(shape)

    def integers(self, *args, **kwargs):
        return self.rng.integers(*args, **kwargs)


@pytest.mark.parametrize("dtype, logvar", [("float64", 2000.0), ("float32", 200.0)])
def test_prior_draws_are_capped_as_the_sample_unit_is(dtype, logvar):
    """A component whose exp(logvar / 2) overflows the run's dtype: its draws at eps = 0 are its mean (not
    inf * 0 = NaN) and others finite, with the sample unit's cap (ops/sampling.spread); below the cap nothing
    changes. Without the shared cap, eps = 0 gave NaN and eps = 1 inf."""
    method = _method(TINY_MIXTURE.replace("LOSS", "bce(x_hat, x) + kl(z)"), dtype=dtype)
    params = method.program.params
    params["z.prior.mean"][...] = [[-3.0], [0.5], [4.0]]
    params["z.prior.logvar"][...] = [[logvar], [logvar], [np.log(0.04)]]
    at_means = method.draw_prior(300, _ZeroNoise(1))[:, 0]
    assert set(np.unique(at_means)) == {np.float64(v).astype(dtype) for v in (-3.0, 0.5, 4.0)}
    cap = np.exp(np.log(np.finfo(dtype).max) - 1)
    with np.errstate(over="ignore"):  # as the commands run (session.quiet_float_errors): some draws leave the range
        z = method.draw_prior(300, np.random.default_rng(1))[:, 0].astype(np.float64)
        eps, pick = (lambda r: (r.standard_normal((300, 1))[:, 0], r.integers(3, size=300)))(np.random.default_rng(1))
        wide = pick < 2
        small = np.abs(eps) < 2  # the capped spread times eps stays inside float32's range
        expected = np.array([-3.0, 0.5, 4.0])[pick] + np.where(wide, cap, 0.2) * eps
    np.testing.assert_allclose(z[small | ~wide], expected[small | ~wide], rtol=1e-6)


def test_the_prior_is_counted_and_not_penalised():
    text = TINY.replace("LOSS", "bce(x_hat, x) + kl(z)")
    plain, mixture = (nngraph.loads(t).models["tiny"] for t in (text, text.replace(
        "sample z ~ normal(mu, logvar)", "sample z ~ normal(mu, logvar) prior=mixture(7)")))
    from nngraph.graph.shapes import total_parameters

    assert total_parameters(mixture) - total_parameters(plain) == 2 * 7 * 1
    assert not is_penalised("z.prior.mean") and not is_penalised("z.prior.logvar")
    assert is_penalised("z->d.weight")


def test_a_standard_normal_prior_may_be_written_out():
    text = TINY.replace("LOSS", "bce(x_hat, x) + kl(z)")
    written = text.replace("sample z ~ normal(mu, logvar)", "sample z ~ normal(mu, logvar) prior=normal")
    assert nngraph.loads(written).models["tiny"].units == nngraph.loads(text).models["tiny"].units


@pytest.mark.parametrize("attribute, message, column", [
    ("prior=mixture", "prior mixture needs its number of components", 39),
    ("prior=mixture(0)", "mixture components: 0 is out of range", 39),
    ("prior=mixture(2.5)", "mixture components: expected a whole number", 39),
    ("prior=mixture(2, 3)", "prior 'mixture' takes at most 1 positional argument", 50),
    ("prior=mixture(n=2)", "prior 'mixture' has no option 'n'", 47),
    ("prior=gauss(2)", "prior: expected normal or mixture(components)", 39),
    ("prior=[1, 2]", "prior: expected normal or mixture(components)", 39),
    ("prior", "unknown unit attribute 'prior'", 33),
    ("prior=mixture(2) prior=mixture(3)", "unit 'z' sets prior twice", 50),
])
def test_bad_priors_are_refused_where_written(attribute, message, column):
    text = TINY.replace("LOSS", "bce(x_hat, x) + kl(z)").replace(
        "sample z ~ normal(mu, logvar)", f"sample z ~ normal(mu, logvar) {attribute}")
    the_only_error(text, re.escape(message), 3, column, kind=ValidationError)


def test_a_prior_on_a_unit_that_is_no_latent_is_refused():
    text = TINY.replace("LOSS", "bce(x_hat, x) + kl(z)").replace("layer d[8] tanh", "layer d[8] tanh prior=mixture(2)")
    the_only_error(text, "'prior' is a sample unit's; 'd' is a layer", 4, 19, r"prior=mixture\(50\)", ValidationError)
