"""Minibatch standard deviation (Karras et al. 2018, ProGAN): a discriminator's guard against mode collapse.

minibatch_std(x; group, eps) -> y
    The batch is cut into groups of `group` consecutive rows (a last, smaller group keeps its own rows). In each
    group, every value of an example has a standard deviation over the group's rows, sqrt(var + eps); their mean
    over the example's values is one number per group, appended to each of its rows: [N] becomes [N + 1], an
    image [C, H, W] becomes [C + 1, H, W] (the number as a constant channel). A generator that collapses onto a
    few points makes groups of fakes with a small spread, which the discriminator can then see. Consecutive
    groups keep two halves of a batch apart (the gan method judges real rows, then generated ones, in one
    batch, each half a multiple of `group`), which ProGAN's strided groups would mix.
"""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register


def _blocks(x, group: int):
    """[(rows, size of its groups)]: the full groups of `group` rows, then the remainder as one group."""
    full = x.shape[0] // group * group
    blocks = [(slice(0, full), group)] if full else []
    return blocks + ([(slice(full, x.shape[0]), x.shape[0] - full)] if full < x.shape[0] else [])


def _group_spread(xp, flat, size: int, eps: float):
    """The mean over values of the std over each group of `size` rows: ([groups] statistic, centred, std)."""
    grouped = flat.reshape(-1, size, flat.shape[1])
    centred = grouped - grouped.mean(axis=1, keepdims=True)
    std = xp.sqrt((centred * centred).mean(axis=1) + eps)
    return std.mean(axis=1), centred, std


def _shape(shapes, attrs):
    x = shapes[0]
    if not x:
        raise ShapeError("minibatch_std needs units with at least one axis")
    return (x[0] + 1,) + tuple(x[1:])


@register("minibatch_std", shape=_shape)
def minibatch_std(xp, inputs, attrs):
    x = inputs[0]
    flat = x.reshape(x.shape[0], -1)
    stat, ctx = xp.empty(x.shape[0], x.dtype), []
    for rows, size in _blocks(x, attrs["group"]):
        spread, centred, std = _group_spread(xp, flat[rows], size, attrs["eps"])
        stat[rows] = xp.repeat(spread, size)
        ctx.append((rows, size, centred, std))
    column = xp.broadcast_to(stat.reshape((-1, 1) + (1,) * (x.ndim - 2)), (x.shape[0], 1) + x.shape[2:])
    return xp.concatenate([x, column.astype(x.dtype)], axis=1), ctx


@minibatch_std.vjp
def _(xp, g, ctx, inputs, attrs):
    x = inputs[0]
    values = x[0].size
    g_stat = g[:, x.shape[1]:].reshape(x.shape[0], -1).sum(axis=1)  # the appended channel's cotangent, per row
    gx = g[:, :x.shape[1]].reshape(x.shape[0], -1).copy()
    for rows, size, centred, std in ctx:
        per_group = g_stat[rows].reshape(-1, size).sum(axis=1)  # every row of a group carries the same number
        # d std / d x_r = centred_r / (size * std): the group mean's own term sums to zero over the group
        scale = per_group[:, None, None] / (values * size * std[:, None, :])
        gx[rows] += (centred * scale).reshape(-1, values)
    return (gx.reshape(x.shape),)
