"""Batch and layer normalisation ops: gradients against finite differences (float64), PyTorch's semantics."""

import numpy
import pytest

from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(3)
BN = {"momentum": 0.1, "eps": 1e-5}


def r(*shape):
    return rng.standard_normal(shape)


def _stats(c):
    return r(c), 0.5 + rng.random(c)  # a running mean and a (positive) running variance


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 3)])
def test_batch_norm_gradients(xp, shape):
    c = shape[1]
    check_vjp("batch_norm", (r(*shape), r(c), r(c), *_stats(c)), BN, xp=xp, no_grad=(3, 4))


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 3)])
def test_batch_norm_eval_gradients(xp, shape):
    c = shape[1]
    check_vjp("batch_norm_eval", (r(*shape), r(c), r(c), *_stats(c)), BN, xp=xp, no_grad=(3, 4))


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 3, 3)])
def test_layer_norm_gradients(xp, shape):
    size = int(numpy.prod(shape[1:]))
    check_vjp("layer_norm", (r(*shape), r(size), r(size)), {"eps": 1e-5}, xp=xp)


def test_batch_norm_follows_pytorch():
    """torch.nn.BatchNorm2d in training: per-channel batch statistics, running ones updated with momentum 0.1
    and the unbiased variance; in eval the running ones."""
    x = r(4, 2, 3, 3)
    weight, bias, mean0, var0 = r(2), r(2), *_stats(2)
    (y, mean1, var1), _ = get_op("batch_norm").forward(numpy, (x, weight, bias, mean0, var0), BN)
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    want = (x - mu[None, :, None, None]) / numpy.sqrt(var[None, :, None, None] + 1e-5)
    numpy.testing.assert_allclose(y, want * weight[None, :, None, None] + bias[None, :, None, None], rtol=1e-10)
    numpy.testing.assert_allclose(mean1, 0.9 * mean0 + 0.1 * mu, rtol=1e-12)
    numpy.testing.assert_allclose(var1, 0.9 * var0 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    y_eval, _ = get_op("batch_norm_eval").forward(numpy, (x, weight, bias, mean1, var1), BN)
    numpy.testing.assert_allclose(y_eval, (x - mean1[None, :, None, None]) / numpy.sqrt(
        var1[None, :, None, None] + 1e-5) * weight[None, :, None, None] + bias[None, :, None, None], rtol=1e-10)


def test_layer_norm_normalises_each_example_over_all_its_values(xp):
    x = r(3, 2, 2, 2)
    y = host(get_op("layer_norm").forward(xp, tuple(map(xp.asarray, (x, numpy.ones(8), numpy.zeros(8)))),
                                          {"eps": 1e-5})[0])
    rows = y.reshape(3, -1)
    numpy.testing.assert_allclose(rows.mean(axis=1), 0, atol=1e-12)
    numpy.testing.assert_allclose(rows.var(axis=1), 1, rtol=1e-4)
