import numpy
import pytest

from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(6)


def r(*shape):
    return rng.standard_normal(shape)


def test_dropout_passes_gradient_through_the_mask_only(xp):
    mask = (rng.random((4, 5)) > 0.5) / 0.5
    check_vjp("dropout", (r(4, 5), mask), xp=xp, no_grad=[1])


def test_gaussian_sample_gradients_reach_mu_and_logvar(xp):
    check_vjp("gaussian_sample", (r(3, 4), r(3, 4), r(3, 4)), xp=xp, no_grad=[2])


def test_gaussian_sample_value(xp):
    mu, logvar, eps = numpy.array([[1.0]]), numpy.array([[numpy.log(4.0)]]), numpy.array([[0.5]])
    out, _ = get_op("gaussian_sample").forward(xp, tuple(map(xp.asarray, (mu, logvar, eps))), {})
    assert float(host(out)[0, 0]) == pytest.approx(1.0 + 2.0 * 0.5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gaussian_sample_at_the_mean_is_mu_where_the_spread_overflows(xp, dtype):
    """eps = 0 (the latent at its mean: predict, fill-in) with exp(logvar / 2) beyond the dtype's range: mu, not
    inf * 0 = NaN (the twin found it). With eps = 1 the sample is finite, and below the range nothing changes."""
    mu, logvar = numpy.array([[0.5, -2.0, 1.0]], dtype), numpy.array([[2000.0, 180.0, 3.0]], dtype)
    op = get_op("gaussian_sample")
    at_mean, _ = op.forward(xp, tuple(map(xp.asarray, (mu, logvar, numpy.zeros_like(mu)))), {})
    numpy.testing.assert_array_equal(host(at_mean), mu)
    drawn, _ = op.forward(xp, tuple(map(xp.asarray, (mu, logvar, numpy.ones_like(mu)))), {})
    assert numpy.isfinite(host(drawn)).all()
    assert host(drawn)[0, 2] == mu[0, 2] + numpy.exp(logvar[0, 2] / 2)


def test_kl_normal_gradients_and_value(xp):
    check_vjp("kl_normal", (r(3, 4), r(3, 4)), xp=xp)
    mu, logvar = numpy.array([[1.0, 0.0], [0.0, 0.0]]), numpy.array([[0.0, numpy.log(2)], [0, 0]])
    kl, _ = get_op("kl_normal").forward(xp, (xp.asarray(mu), xp.asarray(logvar)), {})
    # per example: 0.5 * sum(var + mu^2 - 1 - logvar); only example 0 is off N(0, 1)
    expected = 0.5 * (1.0 + (2 - 1 - numpy.log(2))) / 2
    assert float(host(kl)) == pytest.approx(expected)


def _mixture_inputs(rows=5, units=3, components=4):
    mu, logvar = r(rows, units), 0.5 * r(rows, units)
    z = mu + numpy.exp(logvar / 2) * r(rows, units)
    return mu, logvar, z, r(components, units), 0.5 * r(components, units)


def test_kl_mixture_gradients(xp):
    check_vjp("kl_mixture", _mixture_inputs(), xp=xp)


def test_kl_mixture_value_is_log_q_minus_log_p(xp):
    from scipy.stats import multivariate_normal as normal

    mu, logvar, z, means, logvars = _mixture_inputs()
    value, _ = get_op("kl_mixture").forward(xp, tuple(map(xp.asarray, (mu, logvar, z, means, logvars))), {})
    log_q = [normal.logpdf(z[b], mu[b], numpy.diag(numpy.exp(logvar[b]))) for b in range(len(z))]
    log_p = [numpy.log(numpy.mean([normal.pdf(z[b], means[k], numpy.diag(numpy.exp(logvars[k])))
                                   for k in range(len(means))])) for b in range(len(z))]
    numpy.testing.assert_allclose(host(value), numpy.mean(numpy.subtract(log_q, log_p)), rtol=1e-10)


def test_kl_mixture_of_one_standard_component_estimates_the_closed_form(xp):
    """With one N(0, I) component the estimate's mean over many draws is kl_normal's closed form."""
    mu, logvar = r(1, 3).repeat(200_000, axis=0), 0.5 * r(1, 3).repeat(200_000, axis=0)
    z = mu + numpy.exp(logvar / 2) * rng.standard_normal(mu.shape)
    zeros = numpy.zeros((1, 3))
    value, _ = get_op("kl_mixture").forward(xp, tuple(map(xp.asarray, (mu, logvar, z, zeros, zeros))), {})
    closed, _ = get_op("kl_normal").forward(xp, (xp.asarray(mu), xp.asarray(logvar)), {})
    assert abs(host(value) - host(closed)) < 0.02 * host(closed)


def test_kl_mixture_goes_through_rows_in_chunks(xp, monkeypatch):
    from nngraph.ops import sampling

    inputs = tuple(map(xp.asarray, _mixture_inputs(rows=7)))
    whole, _ = get_op("kl_mixture").forward(xp, inputs, {})
    monkeypatch.setattr(sampling, "MIXTURE_CHUNK", 13)  # 1 row of 4 x 3 values at a time
    chunked, _ = get_op("kl_mixture").forward(xp, inputs, {})
    numpy.testing.assert_allclose(host(chunked), host(whole), rtol=1e-12)
