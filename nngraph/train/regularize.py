"""Penalties and gradient clipping, applied to the gradients in place before an optimizer step.

Conventions (shared by every method, so reported losses agree):
- L2 is weight decay: `l2 * w` is added to the gradient, i.e. the loss gains `0.5 * l2 * sum(w**2)`.
- L1 adds `l1 * sign(w)` to the gradient, i.e. the loss gains `l1 * sum(|w|)`.
- Biases are exempt: a parameter named `bias` or ending in `.bias` gets no penalty
  (penalising offsets only shifts the fit; the usual practice, as in Keras' kernel_regularizer), and so are a
  learned prior's means and log-variances (`z.prior.mean`): they place a distribution, they weigh nothing.
"""

from __future__ import annotations

from typing import Any

from nngraph.backend import array_module


def is_penalised(name: str) -> bool:
    """Whether L1/L2 apply to the parameter called `name` (weights yes, biases and priors no)."""
    return not (name == "bias" or name.endswith(".bias") or ".prior." in name)


def add_penalties(params: dict[str, Any], grads: dict[str, Any], l1: float, l2: float, xp: Any) -> None:
    """Add the L1 and L2 gradients of every penalised weight into `grads`, in place."""
    if not l1 and not l2:
        return
    for name, g in grads.items():
        if not is_penalised(name):
            continue
        w = params[name]
        if l2:
            g += l2 * w
        if l1:
            g += l1 * xp.sign(w)


def penalty_value(params: dict[str, Any], l1: float, l2: float) -> float:
    """The penalty the gradients of `add_penalties` descend: l1*sum|w| + 0.5*l2*sum(w^2)."""
    if not l1 and not l2:
        return 0.0
    total = 0.0
    for name, w in params.items():
        if is_penalised(name):
            if l1:
                total += l1 * float(abs(w).sum())
            if l2:
                total += 0.5 * l2 * float((w * w).sum())
    return total


def global_norm(grads: dict[str, Any], xp: Any = None) -> Any:
    """The L2 norm of all gradients together, as if they were one vector: a float64 0-d array on their
    device (each array's sum of squares in its own dtype, then summed in float64)."""
    xp = xp or array_module(next(iter(grads.values())))
    return xp.sqrt(sum(xp.sum(g * g).astype(xp.float64) for g in grads.values()))


def clip_by_global_norm(grads: dict[str, Any], max_norm: float, xp: Any) -> Any:
    """Scale all gradients down together so their global norm is at most `max_norm`.

    As torch's clip_grad_norm_: the factor is max_norm / (norm + 1e-6), applied only when
    below 1. Returns the norm before clipping (inf or nan if a gradient was not finite; the
    gradients are then left as they are, so the loop's non-finite check can name the step).
    All on the device, without reading the norm: a factor of 1 where no clipping is due leaves the
    gradients as they are.
    """
    norm = global_norm(grads, xp)
    factor = xp.where(xp.isfinite(norm), xp.minimum(max_norm / (norm + 1e-6), 1.0), 1.0)
    factor = factor.astype(next(iter(grads.values())).dtype)  # rounded as numpy rounds a Python float factor
    for g in grads.values():
        g *= factor
    return norm
