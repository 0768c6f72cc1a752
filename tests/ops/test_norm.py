"""Batch and layer normalisation ops: gradients against finite differences (float64), PyTorch's semantics."""

import threading

import numpy
import pytest

from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host
from nngraph.ops.replicas import across_replicas

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


class ThreadReplicas:
    """Replicas as threads of one process: `allreduce_sum` of each waits for every replica's array and returns
    their sum (in replica order, so every replica gets the same bits), as MPI's Allreduce does across ranks."""

    def __init__(self, count: int):
        self.parts, self.barrier = [None] * count, threading.Barrier(count, timeout=30)

    def allreduce_sum(self, replica: int):
        def allreduce_sum(a):
            self.parts[replica] = a.copy()
            self.barrier.wait()
            total = sum(self.parts[1:], self.parts[0])
            self.barrier.wait()  # nobody overwrites its part before every replica has summed
            return total

        return allreduce_sum


@pytest.mark.parametrize("shape", [(8, 3), (7, 2, 3, 3)])
def test_replicas_normalise_as_one_batch(shape):
    """Shares of a batch stepped by replicas (uneven: 5 + 3 and 4 + 3 rows) within `across_replicas`: each
    share's output and the running moments are the whole batch's, and the gradients are the whole batch's once
    a replica's cotangents are in its own scale (its loss is the mean over its share: the whole loss's cotangent
    divided by its share) and its parameter gradients weighed by its share, as the gradient all-reduce does."""
    c = shape[1]
    x, weight, bias, mean0, var0, g = r(*shape), r(c), r(c), *_stats(c), r(*shape)
    op = get_op("batch_norm")
    whole, ctx = op.forward(numpy, (x, weight, bias, mean0, var0), BN)
    gx, g_weight, g_bias, _, _ = op.vjp(numpy, (g, None, None), ctx, (x, weight, bias, mean0, var0), BN)
    bounds = [(0, 4 + shape[0] % 2), (4 + shape[0] % 2, shape[0])]
    replicas, results = ThreadReplicas(len(bounds)), [None] * len(bounds)

    def replica(i: int, start: int, stop: int):
        share = (stop - start) / shape[0]
        inputs = (x[start:stop], weight, bias, mean0, var0)
        with across_replicas(replicas.allreduce_sum(i)):
            out, ctx = op.forward(numpy, inputs, BN)
            grads = op.vjp(numpy, (g[start:stop] / share, None, None), ctx, inputs, BN)
        results[i] = out, grads, share

    threads = [threading.Thread(target=replica, args=(i, *b)) for i, b in enumerate(bounds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (start, stop), ((y, mean1, var1), (gx_share, *_), share) in zip(bounds, results):
        numpy.testing.assert_allclose(y, whole[0][start:stop], rtol=1e-10, atol=1e-12)
        numpy.testing.assert_allclose(mean1, whole[1], rtol=1e-12)
        numpy.testing.assert_allclose(var1, whole[2], rtol=1e-12)
        numpy.testing.assert_allclose(gx_share * share, gx[start:stop], rtol=1e-9, atol=1e-12)
    numpy.testing.assert_allclose(sum(grads[1] * share for _, grads, share in results), g_weight, rtol=1e-10)
    numpy.testing.assert_allclose(sum(grads[2] * share for _, grads, share in results), g_bias, rtol=1e-10)
