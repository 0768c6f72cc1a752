"""Normalisation: batch normalisation (Ioffe and Szegedy 2015) and layer normalisation (Ba et al. 2016), with
PyTorch's semantics and defaults (eps 1e-5, momentum 0.1, a learned scale and shift).

batch_norm(x, weight, bias, running_mean, running_var; momentum, eps) -> (y, new_mean, new_var)
    Training: x normalised by the statistics of this batch, one per channel (axis 1; over the batch and, for an
    image, its height and width), then scaled and shifted per channel. Its second and third outputs are the
    running statistics updated with this batch, PyTorch's way: new = (1 - momentum) old + momentum batch, the
    variance unbiased (n / (n - 1)). They are explicit outputs, not side effects: the Program writes them into
    its buffers after the forward pass (compile/program.py), and no gradient flows through them.
    The batch statistics are a pure function of the batch, computed in one place, `batch_moments`. Under
    data-parallel training (a step inside `ops.replicas.across_replicas`) the batch is every replica's share:
    the moments are the global batch's (the per-channel sums and the count all-reduced, then the centred
    squares), and the vjp all-reduces the two per-channel sums its input gradient needs, so that N replicas
    compute what one process computes on the whole batch.
batch_norm_eval(x, weight, bias, running_mean, running_var; eps) -> y
    Evaluation: the running statistics instead of the batch's.
layer_norm(x, weight, bias; eps) -> y
    Each example normalised over all its values, then scaled and shifted value by value (weight and bias hold
    one entry per value of an example, flat). The same in training and evaluation.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register, size_of
from nngraph.ops.replicas import replica_sum


def channel_axes(x) -> tuple[int, ...]:
    """The axes a per-channel statistic reduces over: the batch, and any axes after the channels."""
    return (0,) + tuple(range(2, x.ndim))


def batch_moments(xp, x, allreduce_sum=None):
    """(mean, biased variance, count) per channel of a batch: the one reduction batch normalisation makes.
    With `allreduce_sum` (data-parallel replicas, `ops.replicas`), those of the global batch, whose every
    replica holds a share `x`: two all-reduces, the sums with the count, then the centred squares (two passes,
    as one process computes them: the sum of squares less the squared sum would cancel in float32). The count
    is then a 0-d array where `x` is (reading it on the host would wait for a GPU's queued work)."""
    axes = channel_axes(x)
    count = x.size // x.shape[1]
    if allreduce_sum is None:
        mean = x.mean(axis=axes)
        centred = x - _per_channel(mean, x)
        return mean, (centred * centred).mean(axis=axes), count
    # the count made on the device (a fill kernel): copying a host list there would wait for the stream first
    sums = allreduce_sum(xp.concatenate([x.sum(axis=axes), xp.full((1,), count, dtype=x.dtype)]))
    total = sums[-1]
    mean = sums[:-1] / total
    centred = x - _per_channel(mean, x)
    return mean, allreduce_sum((centred * centred).sum(axis=axes)) / total, total


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _channel_shapes(shapes, attrs, count: int):
    x = shapes[0]
    if not x:
        raise ShapeError("batch normalisation needs units with at least one axis")
    for other in shapes[1:count]:
        if other != (x[0],):
            raise ShapeError(f"batch normalisation of {list(x)} needs per-channel parameters [{x[0]}], "
                             f"got {list(other)}")
    return x


def _normalise(xp, x, mean, var, weight, bias, eps):
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    return xhat * _per_channel(weight, x) + _per_channel(bias, x), xhat, inv_std


@register("batch_norm", shape=lambda shapes, attrs: (_channel_shapes(shapes, attrs, 5),) + (shapes[1],) * 2,
          params=(1, 2, 3, 4))
def batch_norm(xp, inputs, attrs):
    x, weight, bias, running_mean, running_var = inputs
    allreduce_sum = replica_sum()
    mean, var, count = batch_moments(xp, x, allreduce_sum)
    y, xhat, inv_std = _normalise(xp, x, mean, var, weight, bias, attrs["eps"])
    m = attrs["momentum"]
    unbiased = var * (count / (count - 1)) if allreduce_sum is not None or count > 1 else var  # replicas: >= 2
    new_mean = (1 - m) * running_mean + m * mean
    new_var = (1 - m) * running_var + m * unbiased
    return (y, new_mean.astype(x.dtype), new_var.astype(x.dtype)), (xhat, inv_std, count, allreduce_sum)


@batch_norm.vjp
def _(xp, gs, ctx, inputs, attrs):
    g = gs[0]  # the running statistics take no gradient
    xhat, inv_std, total, allreduce_sum = ctx
    x, weight = inputs[0], inputs[1]
    axes = channel_axes(x)
    count = x.size // x.shape[1]  # this replica's values per channel (`total`: the global batch's)
    g_bias = g.sum(axis=axes)
    g_weight = (g * xhat).sum(axis=axes)
    sum_bias, sum_weight = g_bias, g_weight
    if allreduce_sum is not None:
        sum_bias, sum_weight = _global_sums(xp, allreduce_sum, g_bias, g_weight, count / total)
    # d/dx of the batch-normalised value, through the batch's mean and variance too
    gx = (_per_channel(weight * inv_std / count, x)
          * (count * g - _per_channel(sum_bias, x) - xhat * _per_channel(sum_weight, x)))
    return gx, g_weight, g_bias, None, None  # the parameters' own: the gradient all-reduce weighs them


def _global_sums(xp, allreduce_sum, g_bias, g_weight, share):
    """The global batch's sums of g and g xhat. A replica's loss is the mean over its share of the batch, so its
    cotangents are the global loss's divided by its share (`share`: the weight the parameters' gradient
    all-reduce gives it, train/parallel.py); each replica's sums count for its share of them."""
    both = allreduce_sum(xp.concatenate([g_bias, g_weight]) * xp.asarray(share, dtype=g_bias.dtype))
    return both[:len(g_bias)], both[len(g_bias):]


@register("batch_norm_eval", shape=lambda shapes, attrs: _channel_shapes(shapes, attrs, 5), params=(1, 2, 3, 4))
def batch_norm_eval(xp, inputs, attrs):
    x, weight, bias, running_mean, running_var = inputs
    y, _, inv_std = _normalise(xp, x, running_mean, running_var, weight, bias, attrs["eps"])
    return y, inv_std


@batch_norm_eval.vjp
def _(xp, g, inv_std, inputs, attrs):
    x, weight, _, mean, _ = inputs
    axes = channel_axes(x)
    xhat = (x - _per_channel(mean, x)) * _per_channel(inv_std, x)
    return g * _per_channel(weight * inv_std, x), (g * xhat).sum(axis=axes), g.sum(axis=axes), None, None


def _layer_shape(shapes, attrs):
    x, weight, bias = shapes
    if weight != (size_of(x),) or bias != (size_of(x),):
        raise ShapeError(f"layer normalisation of {list(x)} needs a scale and shift of [{size_of(x)}], "
                         f"got {list(weight)} and {list(bias)}")
    return x


@register("layer_norm", shape=_layer_shape, params=(1, 2))
def layer_norm(xp, inputs, attrs):
    x, weight, bias = inputs
    rows = x.reshape(x.shape[0], -1)
    mean = rows.mean(axis=1, keepdims=True)
    centred = rows - mean
    inv_std = 1.0 / xp.sqrt((centred * centred).mean(axis=1, keepdims=True) + attrs["eps"])
    xhat = centred * inv_std
    return (xhat * weight + bias).reshape(x.shape), (xhat, inv_std)


@layer_norm.vjp
def _(xp, g, ctx, inputs, attrs):
    xhat, inv_std = ctx
    x, weight = inputs[0], inputs[1]
    g2 = g.reshape(g.shape[0], -1)
    gxhat = g2 * weight
    gx = inv_std * (gxhat - gxhat.mean(axis=1, keepdims=True) - xhat * (gxhat * xhat).mean(axis=1, keepdims=True))
    return gx.reshape(x.shape), (g2 * xhat).sum(axis=0), g2.sum(axis=0)
