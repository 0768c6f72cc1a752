"""Losses: each a scalar (0-d array) mean over the batch, fused with its activation.

(`.sum() / size` rather than `xp.mean`: numpy's mean costs several microseconds of
Python overhead, which shows on tiny batches.)

Conventions (chosen to match PyTorch's defaults, reduction="mean"):
- mse(y, t): mean over batch *and* units of (y - t)^2          (nn.MSELoss)
- bce_logits(z, t): mean over batch and units of the binary cross-entropy of
  sigmoid(z), computed from the logits without forming sigmoid  (nn.BCEWithLogitsLoss)
- bce(p, t): the same on probabilities, p clipped to [eps, 1 - eps] (nn.BCELoss);
  use it only when the sigmoid is not fused into the loss
- softmax_cross_entropy(z, t): mean over the batch (and any positions between
  batch and class axis) of -log softmax(z)[t]; t holds integer class labels
  (z's shape without the class axis) or probabilities/one-hot rows (z's shape)
                                                                (nn.CrossEntropyLoss)
The target gets a gradient only when attrs["needs_target_grad"] is set (the compiler sets it when the target
is a unit of the model, e.g. `mse(q, h)`); a data target gets None. Class labels never get one.
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.errors import ShapeError
from nngraph.ops.activations import log_softmax, stable_sigmoid, stable_softmax
from nngraph.ops.registry import register, scalar_shape


@register("mse", shape=scalar_shape, batched_output=False)
def mse(xp, inputs, attrs):
    y, t = inputs
    diff = y - t
    return (diff * diff).sum() / diff.size, diff


def _target_grad(attrs, make):
    """The target's gradient where the compiler asked for it (the target is a unit), else None."""
    return make() if attrs.get("needs_target_grad") else None


@mse.vjp
def _(xp, g, diff, inputs, attrs):
    grad = diff * (g * 2 / diff.size)
    return grad, _target_grad(attrs, lambda: -grad)


@register("bce_logits", shape=scalar_shape, batched_output=False)
def bce_logits(xp, inputs, attrs):
    z, t = inputs
    # -t log s(z) - (1 - t) log(1 - s(z)) == log(1 + e^z) - t z, overflow-free
    return (xp.logaddexp(0, z) - t * z).sum() / z.size, None


@bce_logits.vjp
def _(xp, g, ctx, inputs, attrs):
    z, t = inputs
    scale = g / z.size
    return (stable_sigmoid(xp, z) - t) * scale, _target_grad(attrs, lambda: -z * scale)


# p is clipped to [eps, 1 - eps] so both logs stay finite; eps is about the float's
# resolution just below 1, so 1 - eps is still representable and below 1.
# (PyTorch clamps the logs at -100 instead; the two agree away from 0 and 1.)
_CLIP_EPS = {4: 1e-7, 8: 1e-15}


@register("bce", shape=scalar_shape, batched_output=False)
def bce(xp, inputs, attrs):
    p, t = inputs
    eps = _CLIP_EPS[p.dtype.itemsize]
    pc = xp.clip(p, eps, 1 - eps)
    return -(t * xp.log(pc) + (1 - t) * xp.log1p(-pc)).sum() / pc.size, pc


@bce.vjp
def _(xp, g, pc, inputs, attrs):
    t = inputs[1]
    scale = g / pc.size
    return ((pc - t) / (pc * (1 - pc)) * scale,
            _target_grad(attrs, lambda: (xp.log1p(-pc) - xp.log(pc)) * scale))


def _labels_given(z, t) -> bool:
    return t.ndim == z.ndim - 1


def _xent_shape(shapes, attrs):
    z, t = shapes
    if t != z and t != z[:-1]:
        raise ShapeError(f"softmax_cross_entropy targets must be class labels of shape "
                         f"{list(z[:-1])} or probabilities of shape {list(z)}, got {list(t)}")
    return ()


@register("softmax_cross_entropy", shape=_xent_shape, batched_output=False)
def softmax_cross_entropy(xp, inputs, attrs):
    """attrs["on_device"] (compile/fuse.py sets it on the CUDA path): on class labels, one pass over the
    rows forward (keeping their log-sum-exps as the ctx) and one over the values back."""
    z, t = inputs
    positions = z.size // z.shape[-1]
    if attrs.get("on_device") and _labels_given(z, t):
        lse, rows = accel.get("softmax_xent_rows", xp, dtype=z.dtype)(z.reshape(positions, -1), t.reshape(-1))
        return rows.sum() / positions, lse
    log_p = log_softmax(xp, z)
    if _labels_given(z, t):
        picked = xp.take_along_axis(log_p, t.astype(xp.intp, copy=False)[..., None], axis=-1)
        return -picked.sum() / positions, None
    return -(t * log_p).sum() / positions, None


@softmax_cross_entropy.vjp
def _(xp, g, lse, inputs, attrs):
    z, t = inputs
    positions = z.size // z.shape[-1]
    if lse is not None:  # the forward's device kernels
        vjp = accel.get("softmax_xent_rows_vjp", xp, dtype=z.dtype)
        return vjp(z.reshape(positions, -1), t.reshape(-1), lse, g, positions).reshape(z.shape), None
    scale = g / positions
    grad = stable_softmax(xp, z)
    if _labels_given(z, t):
        onehot = xp.arange(z.shape[-1]) == t[..., None]
        grad -= onehot
        grad *= scale
        return grad, None
    target_grad = _target_grad(attrs, lambda: -log_softmax(xp, z) * scale)
    # d/dz of -sum t log softmax(z) is softmax * sum(t) - t (probability rows sum to 1)
    grad *= t.sum(axis=-1, keepdims=True)
    grad -= t
    grad *= scale
    return grad, target_grad
