"""A Program runs a Plan on a backend: parameters allocated once, forward and backward as flat loops."""

from __future__ import annotations

import math

import numpy as np

from nngraph.backend import Backend, get_backend
from nngraph.compile.plan import PARAM, TARGET, Plan
from nngraph.errors import DataError


def init_parameter(spec, rng: np.random.Generator, dtype) -> np.ndarray:
    """Glorot-uniform for tanh/sigmoid/linear units, He-uniform for rectifiers, zero biases."""
    if spec.init == "zeros":
        return np.zeros(spec.shape, dtype)
    if spec.init == "small_normal":
        return (0.01 * rng.standard_normal(spec.shape)).astype(dtype)
    gain = 6.0 if spec.init == "he" else 6.0 * spec.fan_in / (spec.fan_in + spec.fan_out)
    bound = math.sqrt(gain / spec.fan_in)
    return rng.uniform(-bound, bound, spec.shape).astype(dtype)


def flat_parameters(values: dict[str, np.ndarray], backend: Backend) -> dict:
    """The values copied into consecutive views of one flat array on the backend, in order: an
    optimizer then moves every parameter in one call per formula step (see train/optimizers.py)."""
    flat = backend.xp.empty(sum(v.size for v in values.values()), backend.dtype)
    params, start = {}, 0
    for name, value in values.items():
        params[name] = flat[start : start + value.size].reshape(value.shape)
        params[name][...] = backend.asarray(value)
        start += value.size
    return params


class Program:
    """Parameters by name, and the forward and backward passes of a training plan and an eval plan."""

    def __init__(self, train_plan: Plan, eval_plan: Plan, backend: Backend | None = None, seed: int = 0):
        self.backend = backend or get_backend()
        self.xp = self.backend.xp
        self.train_plan, self.eval_plan = train_plan, eval_plan
        init_rng = np.random.default_rng(seed)
        dtype = self.backend.dtype
        values = {name: init_parameter(spec, init_rng, dtype) for name, spec in train_plan.params.items()}
        self.params = flat_parameters(values, self.backend)
        self._param_slots = {PARAM + n: a for n, a in self.params.items()}
        # each loss term's weight, by label; a method may change them between steps (KL warm-up)
        self.loss_weights = {ls.label: ls.weight for ls in train_plan.losses}

    # ---- parameters ---------------------------------------------------------------------

    def get(self, name: str) -> np.ndarray:
        return self.backend.to_numpy(self.params[name])

    def set(self, name: str, value) -> None:
        """Overwrite a parameter in place (the optimizer keeps references to these arrays)."""
        if name not in self.params:
            from nngraph.errors import did_you_mean

            raise KeyError(f"no parameter '{name}' ({did_you_mean(name, self.params)})")
        target = self.params[name]
        value = self.backend.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"parameter '{name}' has shape {target.shape}, got {value.shape}")
        target[...] = value

    # ---- running --------------------------------------------------------------------------

    def feeds(self, inputs: dict, target=None, rng=None, training=False) -> dict:
        """Slot values for one batch: data inputs, the target, and fresh random draws."""
        plan = self.train_plan if training else self.eval_plan
        values = dict(self._param_slots)
        batch = None
        for name in plan.feeds:
            if name not in inputs:
                raise DataError(f"no data for input unit '{name}'")
            values[name] = self.backend.asarray(inputs[name])
            batch = values[name].shape[0]
        if target is not None:
            values[TARGET] = self.backend.asarray(target)
        if plan.random:
            batch = batch or next(iter(inputs.values())).shape[0]
            draw = rng or self.backend.rng(None)
            for r in plan.random:
                values[r.slot] = self._draw(draw, r, batch)
        return values

    def _draw(self, rng, r, batch):
        """Drawn with the caller's generator (the loop's checkpointed one, so resume is exact)."""
        shape = (batch, *r.shape)
        dtype = np.dtype(self.backend.dtype)
        if r.kind == "dropout":
            keep = 1.0 - r.rate
            draw = (rng.random(shape, dtype=dtype) < keep).astype(dtype) * dtype.type(1.0 / keep)
        elif r.kind == "uniform":
            draw = rng.random(shape, dtype=dtype) * 2 - 1
        else:
            draw = rng.standard_normal(shape, dtype=dtype)
        return self.backend.asarray(draw)

    def run(self, values: dict, training: bool, with_loss: bool = True) -> list:
        """Forward: fills `values` slot by slot; returns each instruction's vjp context."""
        xp = self.xp
        ctxs = []
        plan = self.train_plan if training else self.eval_plan
        for ins in plan.instrs if with_loss else plan.instrs[: plan.body]:
            out, ctx = ins.op.forward(xp, tuple(values[s] if s else None for s in ins.inputs), ins.attrs)
            values[ins.output] = out
            ctxs.append(ctx)
        return ctxs

    def forward(self, inputs: dict, training: bool = False, rng=None) -> dict:
        """Every unit's value for named input arrays (eval mode: no dropout)."""
        values = self.feeds(inputs, rng=rng, training=training)
        self.run(values, training, with_loss=False)
        plan = self.train_plan if training else self.eval_plan
        return {u: values[plan.slot(u)] for u in plan.shapes if plan.slot(u) in values}

    def loss(self, values: dict, plan: Plan) -> tuple[float, dict]:
        """(weighted total, each term unweighted) from a forward pass's values."""
        terms = {ls.label: float(values[ls.slot]) for ls in plan.losses}
        total = sum(self.loss_weights[ls.label] * terms[ls.label] for ls in plan.losses)
        return total, terms

    def loss_and_grads(self, inputs: dict, target=None, rng=None):
        """(total loss, loss terms, gradients by parameter name, slot values) for one training batch."""
        values = self.feeds(inputs, target, rng, training=True)
        ctxs = self.run(values, training=True)
        grads = self.backward(values, ctxs)
        total, terms = self.loss(values, self.train_plan)
        return total, terms, grads, values

    def backward(self, values: dict, ctxs: list, seeds: dict | None = None) -> dict:
        """Gradients by parameter name (zeros where none flows), from the losses or from `seeds`."""
        pending = self._sweep(values, ctxs, seeds)
        return {name: pending[PARAM + name] if PARAM + name in pending else self.xp.zeros_like(p)
                for name, p in self.params.items()}

    def backward_to_inputs(self, values: dict, ctxs: list, seeds: dict | None = None) -> tuple[dict, dict]:
        """(parameter gradients, gradients of the data inputs): a GAN's discriminator hands the second
        to its generator. Needs a program compiled with `input_grads=True`."""
        pending = self._sweep(values, ctxs, seeds)
        params = {name: pending[PARAM + name] if PARAM + name in pending else self.xp.zeros_like(p)
                  for name, p in self.params.items()}
        return params, {name: pending.get(name) for name in self.train_plan.feeds}

    def _sweep(self, values: dict, ctxs: list, seeds: dict | None) -> dict:
        """The reverse walk: each instruction's vjp, accumulating into the slots that need gradients.
        `seeds` (slot -> cotangent) replaces the default seed, the loss weights."""
        xp, plan = self.xp, self.train_plan
        if seeds is None:
            dtype = self.backend.dtype
            seeds = {ls.slot: xp.asarray(self.loss_weights[ls.label], dtype=dtype) for ls in plan.losses}
        pending = dict(seeds)
        for ins, ctx in zip(reversed(plan.instrs), reversed(ctxs)):
            g = pending.pop(ins.output, None)
            if g is None:
                continue
            inputs = tuple(values[s] if s else None for s in ins.inputs)
            for slot, need, grad in zip(ins.inputs, ins.needs_grad, ins.op.vjp(xp, g, ctx, inputs, ins.attrs)):
                if need and grad is not None:
                    pending[slot] = pending[slot] + grad if slot in pending else grad
        return pending
