"""The action distributions of policy-gradient methods, computed from a Program's outputs: each gives the
log-probabilities of actions, the entropy, draws and the deterministic action, and the gradients of a loss
written in terms of log-probabilities and entropy with respect to the outputs it reads. A method seeds those
gradients into the program's output slots, so the network's backward pass is the program's own.

- `Categorical`: discrete actions, from a softmax output's logits (its `NAME:z` slot).
- `Gaussian`: continuous actions, a diagonal Gaussian around an identity output (the mean) with a learned
  log standard deviation per action dimension: a parameter of the method beside the program's, or a unit of
  the model (`log_std_unit=`), one per state.
"""

from __future__ import annotations

import math

import numpy as np

from nngraph.train.parallel import draw

LOG_2PI = math.log(2 * math.pi)


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Categorical:
    """Actions are indices; `out` is the policy unit's logits, (batch, actions)."""

    discrete = True

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One action per row, by inverse transform sampling (one uniform draw each; under MPI `rng` is a rank's
        view of the draws for every environment copy: train/parallel.py)."""
        probs = np.exp(log_softmax(out))
        cumulative = probs.cumsum(axis=1)
        u = draw(rng, "random", (len(out), 1)) * cumulative[:, -1:]
        return np.minimum((cumulative <= u).sum(axis=1), out.shape[1] - 1)

    def mode(self, out: np.ndarray) -> np.ndarray:
        return out.argmax(axis=1)

    def log_prob(self, out: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return log_softmax(out)[np.arange(len(out)), actions.astype(np.int64)]

    def entropy(self, out: np.ndarray) -> np.ndarray:
        logp = log_softmax(out)
        return -(np.exp(logp) * logp).sum(axis=1)

    def grads(self, out: np.ndarray, actions: np.ndarray, d_logp: np.ndarray, d_entropy: float) -> dict:
        """d loss / d logits for a loss with d loss / d log p(action) = `d_logp` (per row) and d loss /
        d entropy = `d_entropy` (per row, the same for all)."""
        logp = log_softmax(out)
        probs = np.exp(logp)
        grad = -probs * d_logp[:, None]
        grad[np.arange(len(out)), actions.astype(np.int64)] += d_logp
        entropy = -(probs * logp).sum(axis=1, keepdims=True)
        grad -= d_entropy * probs * (logp + entropy)
        return {"out": grad}


class Gaussian:
    """Actions are vectors, drawn from a diagonal Gaussian around the mean. The log standard deviation is a
    parameter of shape (dims,), read through `to_host` (it lives on the backend, beside the program's
    parameters); or, with `log_std=None`, a unit of the model, one per state: then `out` is the mean and the
    unit's values side by side, (batch, 2 * dims), and `grads` returns d loss / d out in the same layout."""

    discrete = False

    def __init__(self, log_std=None, to_host=np.asarray):
        self.parameter, self.to_host = log_std, to_host

    def _split(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, log std) of each row; a parameter's log std broadcast over the rows."""
        if self.parameter is None:
            dims = out.shape[1] // 2
            return out[:, :dims], out[:, dims:]
        return out, np.broadcast_to(self.to_host(self.parameter), out.shape)

    def sample(self, out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean, log_std = self._split(out)
        return mean + np.exp(log_std) * draw(rng, "standard_normal", mean.shape).astype(mean.dtype)

    def mode(self, out: np.ndarray) -> np.ndarray:
        return self._split(out)[0]

    def log_prob(self, out: np.ndarray, actions: np.ndarray) -> np.ndarray:
        mean, log_std = self._split(out)
        scaled = (actions - mean) / np.exp(log_std)
        return -0.5 * (scaled ** 2).sum(axis=1) - log_std.sum(axis=1) - 0.5 * mean.shape[1] * LOG_2PI

    def entropy(self, out: np.ndarray) -> np.ndarray:
        mean, log_std = self._split(out)
        return log_std.sum(axis=1) + 0.5 * mean.shape[1] * (1 + LOG_2PI)

    def grads(self, out: np.ndarray, actions: np.ndarray, d_logp: np.ndarray, d_entropy: float) -> dict:
        """d loss / d mean (and d loss / d the log-std unit, beside it in `out`'s layout), or d loss / d mean
        and d loss / d log_std (the parameter: summed over the rows)."""
        mean, log_std = self._split(out)
        scaled = (actions - mean) / np.exp(log_std)
        d_mean = d_logp[:, None] * scaled / np.exp(log_std)
        d_log_std = d_logp[:, None] * (scaled ** 2 - 1) + d_entropy
        if self.parameter is None:
            return {"out": np.concatenate([d_mean, d_log_std], axis=1)}
        return {"out": d_mean, "log_std": d_log_std.sum(axis=0)}
