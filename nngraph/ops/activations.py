"""Elementwise activations, each its own op, in numerically stable forms.

Each vjp is written from the forward's output where it can be (kept as ctx), so
the backward pass recomputes nothing.
"""

from __future__ import annotations

from nngraph.backend import twins
from nngraph.ops.registry import register, same_shape


@register("identity", shape=same_shape)
def identity(xp, inputs, attrs):
    return inputs[0], None


@identity.vjp
def _(xp, g, ctx, inputs, attrs):
    return (g,)


# The sigmoid of the whole code base, 0.5 * (1 + tanh(x / 2)): it cannot overflow for very negative x (the
# fused losses take care of precision deep in the tails); in place when `out` is `x` (the samplers' buffers).
# It and the element-wise activations below are defined once, in backend/twins.py, which the GPU's fused
# dense layers (ops/dense.py's dense_activation) share.
stable_sigmoid = twins.sigmoid


def stable_softplus(xp, x):
    """log(1 + e^x) without overflow, the softplus of the whole code base; ten times faster than
    logaddexp(0, x) on numpy."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _elementwise(name: str, parameter_attr: str | None = None, default: float = 0.0) -> None:
    """Register activation `name` (one of backend/twins.ACTIVATIONS): its forward keeps a for the vjp;
    `parameter_attr` names its one option (leaky_relu's slope, elu's alpha)."""
    forward_of, vjp_of = twins.ACTIVATIONS[name]

    if parameter_attr is None:  # no option to look up: the hot path of relu, tanh and sigmoid nets
        def forward(xp, inputs, attrs):
            a = forward_of(xp, inputs[0], 0.0)
            return a, a

        def vjp(xp, g, a, inputs, attrs):
            return (vjp_of(xp, g, inputs[0], a, 0.0),)
    else:
        def forward(xp, inputs, attrs):
            a = forward_of(xp, inputs[0], attrs.get(parameter_attr, default))
            return a, a

        def vjp(xp, g, a, inputs, attrs):
            return (vjp_of(xp, g, inputs[0], a, attrs.get(parameter_attr, default)),)

    register(name, shape=same_shape)(forward).vjp(vjp)


_elementwise("sigmoid")
_elementwise("tanh")
_elementwise("relu")
_elementwise("leaky_relu", "slope", 0.01)  # x for x > 0, slope * x otherwise
_elementwise("elu", "alpha", 1.0)  # x for x > 0, alpha * (exp(x) - 1) otherwise


@register("softplus", shape=same_shape)
def softplus(xp, inputs, attrs):
    return stable_softplus(xp, inputs[0]), None


@softplus.vjp
def _(xp, g, ctx, inputs, attrs):
    return (g * stable_sigmoid(xp, inputs[0]),)


def last_axis_max(xp, z):
    """z.max(axis=-1, keepdims=True). numpy reduces a short last axis row by row, ~0.1 us a row
    (128 x 10: 10 us); across the rows of a transposed copy it runs vectorised (2.5 us). A max is
    exact in any order, so the result is the same bit for bit."""
    if z.ndim != 2 or z.shape[-1] > 64:  # from 128 classes on the copy costs more than it saves
        return z.max(axis=-1, keepdims=True)
    return xp.ascontiguousarray(z.T).max(axis=0)[:, None]


def stable_softmax(xp, z):
    """softmax over the last axis, shifted by the max so exp cannot overflow."""
    e = xp.exp(z - last_axis_max(xp, z))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(xp, z):
    """log softmax over the last axis, from the max-shifted values (finite for any finite z)."""
    shifted = z - last_axis_max(xp, z)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


@register("softmax", shape=same_shape)
def softmax(xp, inputs, attrs):
    out = stable_softmax(xp, inputs[0])
    return out, out


@softmax.vjp
def _(xp, g, out, inputs, attrs):
    gy = g * out
    gy -= out * gy.sum(axis=-1, keepdims=True)
    return (gy,)
