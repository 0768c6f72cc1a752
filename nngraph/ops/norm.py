"""Normalisation: batch normalisation (Ioffe and Szegedy 2015) and layer normalisation (Ba et al. 2016), with
PyTorch's semantics and defaults (eps 1e-5, momentum 0.1, a learned scale and shift).

batch_norm(x, weight, bias, running_mean, running_var; momentum, eps) -> (y, new_mean, new_var)
    Training: x normalised by the statistics of this batch, one per channel (axis 1; over the batch and, for an
    image, its height and width), then scaled and shifted per channel. Its second and third outputs are the
    running statistics updated with this batch, PyTorch's way: new = (1 - momentum) old + momentum batch, the
    variance unbiased (n / (n - 1)). They are explicit outputs, not side effects: the Program writes them into
    its buffers after the forward pass (compile/program.py), and no gradient flows through them.
    The batch statistics are a pure function of the batch, computed in one place, `batch_moments`: under
    data-parallel training, that is where the per-replica sums would be all-reduced.
batch_norm_eval(x, weight, bias, running_mean, running_var; eps) -> y
    Evaluation: the running statistics instead of the batch's.
layer_norm(x, weight, bias; eps) -> y
    Each example normalised over all its values, then scaled and shifted value by value (weight and bias hold
    one entry per value of an example, flat). The same in training and evaluation.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register, size_of


def channel_axes(x) -> tuple[int, ...]:
    """The axes a per-channel statistic reduces over: the batch, and any axes after the channels."""
    return (0,) + tuple(range(2, x.ndim))


def batch_moments(xp, x):
    """(mean, biased variance, count) per channel of a batch: the one reduction batch normalisation makes."""
    axes = channel_axes(x)
    count = x.size // x.shape[1]
    mean = x.mean(axis=axes)
    centred = x - _per_channel(mean, x)
    return mean, (centred * centred).mean(axis=axes), count


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
    mean, var, count = batch_moments(xp, x)
    y, xhat, inv_std = _normalise(xp, x, mean, var, weight, bias, attrs["eps"])
    m = attrs["momentum"]
    unbiased = var * (count / (count - 1)) if count > 1 else var
    new_mean = (1 - m) * running_mean + m * mean
    new_var = (1 - m) * running_var + m * unbiased
    return (y, new_mean.astype(x.dtype), new_var.astype(x.dtype)), (xhat, inv_std, count)


@batch_norm.vjp
def _(xp, gs, ctx, inputs, attrs):
    g = gs[0]  # the running statistics take no gradient
    xhat, inv_std, count = ctx
    x, weight = inputs[0], inputs[1]
    axes = channel_axes(x)
    g_bias = g.sum(axis=axes)
    g_weight = (g * xhat).sum(axis=axes)
    # d/dx of the batch-normalised value, through the batch's mean and variance too
    gx = (_per_channel(weight * inv_std / count, x)
          * (count * g - _per_channel(g_bias, x) - xhat * _per_channel(g_weight, x)))
    return gx, g_weight, g_bias, None, None


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
