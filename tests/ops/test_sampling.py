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


def test_kl_normal_gradients_and_value(xp):
    check_vjp("kl_normal", (r(3, 4), r(3, 4)), xp=xp)
    mu, logvar = numpy.array([[1.0, 0.0], [0.0, 0.0]]), numpy.array([[0.0, numpy.log(2)], [0, 0]])
    kl, _ = get_op("kl_normal").forward(xp, (xp.asarray(mu), xp.asarray(logvar)), {})
    # per example: 0.5 * sum(var + mu^2 - 1 - logvar); only example 0 is off N(0, 1)
    expected = 0.5 * (1.0 + (2 - 1 - numpy.log(2))) / 2
    assert float(host(kl)) == pytest.approx(expected)
