"""The twin's formulas, written from docs/language.md: activations, interpolation, minibatch_std, in torch
(float64 throughout)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


ACTIVATIONS = ["identity", "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax"]


# ---- the twin's formulas, from docs/language.md ------------------------------------------------------


def activation(word: str, opts: dict, z):
    if word in ("identity", "linear"):
        return z
    if word == "sigmoid":
        return torch.sigmoid(z)
    if word == "tanh":
        return torch.tanh(z)
    if word == "relu":
        return torch.relu(z)
    if word == "leaky_relu":
        return F.leaky_relu(z, opts.get("slope", 0.01))
    if word == "elu":
        return F.elu(z, opts.get("alpha", 1.0))
    if word == "softplus":
        return torch.logaddexp(torch.zeros_like(z), z)
    if word == "softmax":
        return torch.softmax(z, dim=-1)  # the last axis, as documented (an image's width)
    raise ValueError(word)


def keys_matrix(size: int, factor: int, mode: str) -> torch.Tensor:
    """Half-pixel-centred interpolation of one axis (nearest, bilinear, bicubic with Keys' a = -0.5), edge
    pixels repeated beyond the border: the documentation's words, written out independently."""
    out = np.zeros((size * factor, size))
    for o in range(size * factor):
        if mode == "nearest":
            out[o, o // factor] = 1.0
            continue
        src = (o + 0.5) / factor - 0.5
        base = math.floor(src)
        taps = range(base, base + 2) if mode == "bilinear" else range(base - 1, base + 3)
        for j in taps:
            d = abs(src - j)
            if mode == "bilinear":
                w = max(0.0, 1 - d)
            else:
                a = -0.5
                near = ((a + 2) * d - (a + 3)) * d * d + 1
                far = a * d**3 - 5 * a * d * d + 8 * a * d - 4 * a
                w = near if d <= 1 else (far if d < 2 else 0.0)
            out[o, min(max(j, 0), size - 1)] += w
    return torch.tensor(out)


def upsample(x, factor, mode):
    fh, fw = (factor, factor) if isinstance(factor, int) else factor
    ah, aw = keys_matrix(x.shape[2], fh, mode), keys_matrix(x.shape[3], fw, mode)
    ours = torch.einsum("oh,nchw,pw->ncop", ah, x, aw)
    if mode in ("nearest", "bilinear"):  # PyTorch's align_corners=False, which the documentation names
        theirs = F.interpolate(x, scale_factor=(fh, fw), mode=mode, **({} if mode == "nearest" else
                                                                        {"align_corners": False}))
        assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-12), "the twin's own interpolation is off"
    return ours


def minibatch_std(x, group):
    """ProGAN's statistic over consecutive groups (a last, smaller group its own), appended as a channel."""
    stats = []
    for start in range(0, x.shape[0], group):
        g = x[start:start + group].reshape(min(group, x.shape[0] - start), -1)
        std = torch.sqrt(((g - g.mean(0)) ** 2).mean(0) + 1e-8).mean()
        stats.append(std.expand(len(g)))
    column = torch.cat(stats).reshape(-1, 1, *([1] * (x.dim() - 2))).expand(x.shape[0], 1, *x.shape[2:])
    return torch.cat([x, column], dim=1)


def pad_arg(p):
    return tuple(p) if isinstance(p, list) else p
