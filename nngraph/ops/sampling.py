"""Stochastic pieces with their randomness passed in: dropout, the VAE's sampling and KL.

The caller draws the noise (a dropout mask, eps ~ N(0, I)) from its seeded
generator, so these ops stay pure functions and their vjps stay exact.
"""

from __future__ import annotations

from nngraph.ops.registry import register, same_shape, scalar_shape


@register("dropout", shape=same_shape)
def dropout(xp, inputs, attrs):
    """x * mask; the mask is already scaled by 1 / (1 - rate) (inverted dropout)."""
    x, mask = inputs
    return x * mask, None


@dropout.vjp
def _(xp, g, ctx, inputs, attrs):
    return g * inputs[1], None


@register("gaussian_sample", shape=same_shape)
def gaussian_sample(xp, inputs, attrs):
    """mu + exp(logvar / 2) * eps: the reparameterised sample; eps is the caller's noise."""
    mu, logvar, eps = inputs
    noise = xp.exp(logvar * 0.5)
    noise *= eps
    return mu + noise, noise


@gaussian_sample.vjp
def _(xp, g, noise, inputs, attrs):
    # d/dlogvar of exp(logvar/2) * eps is half of that same product
    return g, g * noise * 0.5, None


@register("kl_normal", shape=scalar_shape, batched_output=False)
def kl_normal(xp, inputs, attrs):
    """Mean over the batch of KL(N(mu, exp(logvar)) || N(0, I)), summed over units."""
    mu, logvar = inputs
    var = xp.exp(logvar)
    per_unit = var + mu * mu - 1 - logvar
    return per_unit.sum() * (0.5 / mu.shape[0]), var


@kl_normal.vjp
def _(xp, g, var, inputs, attrs):
    mu = inputs[0]
    scale = g / mu.shape[0]
    return mu * scale, (var - 1) * (scale * 0.5)
