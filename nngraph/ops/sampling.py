"""Stochastic pieces with their randomness passed in: dropout, the VAE's sampling and KL (to a standard normal prior,
or the one-draw estimate to a learned mixture prior).

The caller draws the noise (a dropout mask, eps ~ N(0, I)) from its seeded
generator, so these ops stay pure functions and their vjps stay exact.
"""

from __future__ import annotations

import math

from nngraph.ops.registry import register, same_shape, scalar_shape


@register("dropout", shape=same_shape)
def dropout(xp, inputs, attrs):
    """x * mask; the mask is already scaled by 1 / (1 - rate) (inverted dropout)."""
    x, mask = inputs
    return x * mask, None


@dropout.vjp
def _(xp, g, ctx, inputs, attrs):
    return g * inputs[1], None


def spread(xp, logvar, dtype=None):
    """exp(logvar / 2), a Gaussian's standard deviation from its log-variance (a new array), the exponent stopped
    at log(the largest `dtype` float) - 1 (default: logvar's dtype): the largest the dtype's exp keeps finite, so
    that eps = 0 (the latent at its mean: predict, fill-in) gives mu where exp(logvar / 2) would overflow, not
    inf * 0 = NaN. Every reparameterised draw (the sample unit's, `sample`'s from a mixture prior) goes through it."""
    half = logvar * 0.5
    xp.minimum(half, math.log(xp.finfo(dtype or half.dtype).max) - 1, out=half)  # 1 below: the log rounds up in float32
    return xp.exp(half, out=half)


@register("gaussian_sample", shape=same_shape)
def gaussian_sample(xp, inputs, attrs):
    """mu + exp(logvar / 2) * eps: the reparameterised sample; eps is the caller's noise; the spread capped
    (`spread`)."""
    mu, logvar, eps = inputs
    noise = spread(xp, logvar)
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


LOG_2PI = 1.8378770664093453  # log(2 pi)
MIXTURE_CHUNK = 1 << 22  # values of a [rows, components, units] temporary, at most: rows go through in chunks


def _chunks(rows: int, per_row: int):
    step = max(1, MIXTURE_CHUNK // max(per_row, 1))
    return (slice(start, start + step) for start in range(0, rows, step))


def mixture_log_densities(xp, z, means, logvars):
    """[rows, K]: log N(z_b; means_k, exp(logvars_k)) of each row under each diagonal component, summed over
    units (z [rows, L], means and logvars [K, L]); rows in chunks so the [rows, K, L] temporary stays small."""
    out = xp.empty((z.shape[0], means.shape[0]), z.dtype)
    inv_var = xp.exp(-logvars)
    constant = -0.5 * (logvars.sum(axis=1) + means.shape[1] * LOG_2PI)
    for rows in _chunks(z.shape[0], means.size):
        diff = z[rows, None, :] - means[None]
        out[rows] = constant - 0.5 * (diff * diff * inv_var).sum(axis=2)
    return out


def log_mixture(xp, z, means, logvars):
    """(log p(z) of each row under the equal-weight mixture, the responsibilities p(k | z_b) [rows, K])."""
    dens = mixture_log_densities(xp, z, means, logvars)
    top = dens.max(axis=1, keepdims=True)
    weights = xp.exp(dens - top)
    total = weights.sum(axis=1, keepdims=True)
    weights /= total
    return (top + xp.log(total))[:, 0] - math.log(means.shape[0]), weights


@register("kl_mixture", shape=scalar_shape, batched_output=False)
def kl_mixture(xp, inputs, attrs):
    """Mean over the batch of log q(z | x) - log p(z) at the drawn z: the one-draw estimate of KL(q || p) for a
    prior that is an equal-weight mixture of K diagonal Gaussians (means, logvars: [K, units]), which has no
    closed form. q is N(mu, exp(logvar)); mu, logvar and z are [batch, ...], the prior's two [K, values]."""
    mu, logvar, z, means, logvars = _rows(inputs)
    diff = z - mu
    log_q = -0.5 * (diff * diff * xp.exp(-logvar) + logvar + LOG_2PI).sum(axis=1)
    log_p, responsibilities = log_mixture(xp, z, means, logvars)
    return (log_q - log_p).sum() / z.shape[0], responsibilities


@kl_mixture.vjp
def _(xp, g, responsibilities, inputs, attrs):
    shape = inputs[0].shape
    mu, logvar, z, means, logvars = _rows(inputs)
    scale = g / z.shape[0]
    inv_var = xp.exp(-logvar)
    q_pull = (z - mu) * inv_var  # d log q / d mu; its negative is d log q / d z
    r, prior_inv_var = responsibilities, xp.exp(-logvars)
    # d log p / d z = sum_k r_k (means_k - z) / var_k, as matmuls over the components
    toward_prior = r @ (means * prior_inv_var) - z * (r @ prior_inv_var)
    weight = r.sum(axis=0)[:, None]  # [K, 1]
    r_z, r_zz = r.T @ z, r.T @ (z * z)
    grad_means = (r_z - means * weight) * prior_inv_var  # d log p / d means, summed over rows
    squares = r_zz - 2 * means * r_z + means * means * weight
    grad_logvars = 0.5 * (squares * prior_inv_var - weight)  # d log p / d logvars
    per_row = (q_pull, 0.5 * ((z - mu) * q_pull - 1), -q_pull - toward_prior)
    return (*((grad * scale).reshape(shape) for grad in per_row), -grad_means * scale, -grad_logvars * scale)


def _rows(inputs):
    """The [batch, ...] inputs as [batch, values] (a latent of any shape), the prior's two as they are."""
    return (*(a.reshape(len(a), -1) for a in inputs[:3]), *inputs[3:])
