"""Optimizers: parameter updates in place, in PyTorch's formulation.

The formulas follow `torch.optim.SGD` (dampening 0) and `torch.optim.Adam` (amsgrad off)
step for step, so a run can be compared with a torch reference. Weight decay is not
here: L1/L2 penalties are added to the gradients by `nngraph.train.regularize` first.

This is the hot path (tens of thousands of steps a second on a tiny net), so each update
is a handful of in-place ufunc calls per parameter into buffers made once: no parameter,
buffer or scratch array is allocated per step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nngraph.errors import TrainingError, ValidationError, did_you_mean
from nngraph.graph.vocabulary import OPTIMIZERS


def host_array(xp: Any, a) -> np.ndarray:
    """`a` as a numpy array on the host, whichever array module holds it."""
    to_numpy = getattr(xp, "asnumpy", None)  # cupy has it; numpy does not
    return to_numpy(a) if to_numpy is not None else np.asarray(a)


class Optimizer:
    """Per-parameter state buffers ("slots"), one scratch array each, and a step count.

    `lr` may be set between steps (schedules do). `update` skips parameters with no
    gradient in `grads`, so a method may freeze some.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, params: dict[str, Any], xp: Any, lr: float):
        self.xp = xp
        self.lr = float(lr)
        self.steps = 0
        self.buffers = {slot: {k: xp.zeros_like(p) for k, p in params.items()} for slot in self.slots}
        self.scratch = {k: xp.empty_like(p) for k, p in params.items()}

    def update(self, params: dict[str, Any], grads: dict[str, Any]) -> None:
        """One step: every parameter in `grads` moves in place."""
        self.steps += 1
        self._step(params, grads)

    def _step(self, params, grads) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed for an exact resume, as host arrays with flat names."""
        state = {"steps": np.asarray(self.steps, dtype=np.int64)}
        for slot, buffers in self.buffers.items():
            for name, buf in buffers.items():
                state[f"{slot}.{name}"] = host_array(self.xp, buf)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from `state_dict()`; buffers are overwritten in place."""
        self.steps = int(_entry(state, "steps"))
        for slot, buffers in self.buffers.items():
            for name, buf in buffers.items():
                saved = _entry(state, f"{slot}.{name}")
                if saved.shape != buf.shape:
                    raise TrainingError(
                        f"optimizer state '{slot}.{name}' has shape {saved.shape}, "
                        f"the parameter has {buf.shape}", hint="the checkpoint is of another model")
                buf[...] = self.xp.asarray(saved)


def _entry(state: dict, key: str) -> np.ndarray:
    if key not in state:
        raise TrainingError(f"optimizer state has no '{key}'", hint="the checkpoint is of another model "
                            "or another optimizer")
    return np.asarray(state[key])


class SGD(Optimizer):
    """torch.optim.SGD: buf = momentum*buf + g; step along buf (or g + momentum*buf with nesterov).

    torch starts the buffer at the first gradient; a zero buffer gives the same first step.
    """

    def __init__(self, params, xp, lr=0.01, momentum=0.0, nesterov=False):
        if nesterov and momentum <= 0:
            raise ValidationError("sgd: nesterov needs a momentum above 0")
        self.slots = ("momentum",) if momentum > 0 else ()
        super().__init__(params, xp, lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _step(self, params, grads) -> None:
        multiply, lr, m = self.xp.multiply, self.lr, self.momentum
        bufs = self.buffers.get("momentum")
        for name, g in grads.items():
            p, s = params[name], self.scratch[name]
            if bufs is not None:
                buf = bufs[name]
                buf *= m
                buf += g
                if self.nesterov:
                    multiply(buf, m, out=s)
                    s += g
                    g = s
                else:
                    g = buf
            multiply(g, lr, out=s)
            p -= s


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments, eps added after the corrected square root."""

    slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, xp, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, xp, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _step(self, params, grads) -> None:
        xp, b1, b2 = self.xp, self.beta1, self.beta2
        step_size = self.lr / (1.0 - b1**self.steps)
        correction2_sqrt = math.sqrt(1.0 - b2**self.steps)
        avgs, squares = self.buffers["exp_avg"], self.buffers["exp_avg_sq"]
        for name, g in grads.items():
            m, v, s = avgs[name], squares[name], self.scratch[name]
            m *= b1
            xp.multiply(g, 1.0 - b1, out=s)
            m += s
            v *= b2
            xp.multiply(g, g, out=s)
            s *= 1.0 - b2
            v += s
            xp.sqrt(v, out=s)
            s /= correction2_sqrt
            s += self.eps
            xp.divide(m, s, out=s)
            s *= step_size
            params[name] -= s


_CLASSES = {"sgd": SGD, "adam": Adam}


def make_optimizer(choice, params: dict[str, Any], xp: Any) -> Optimizer:
    """The optimizer a `Choice(name, options)` names, with buffers shaped like `params`."""
    if choice.name not in _CLASSES:
        raise ValidationError(f"unknown optimizer '{choice.name}'", getattr(choice, "span", None),
                              did_you_mean(choice.name, _CLASSES))
    options = {**OPTIMIZERS[choice.name], **(choice.options or {})}
    unknown = set(options) - set(OPTIMIZERS[choice.name])
    if unknown:
        raise ValidationError(f"optimizer '{choice.name}' has no option '{sorted(unknown)[0]}'",
                              getattr(choice, "span", None), did_you_mean(sorted(unknown)[0],
                                                                          OPTIMIZERS[choice.name]))
    return _CLASSES[choice.name](params, xp, **options)
