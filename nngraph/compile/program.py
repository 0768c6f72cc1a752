"""A Program runs a Plan on a backend: parameters allocated once, forward and backward through the one
interpreter (`compile.interpret`). Every model that has a forward pass compiles to one: feedforward and
recurrent alike.

A recurrent plan (`plan.sequence`) takes its inputs batch-major, (batch, steps, *shape), and works on
time-major rows inside (step t of b sequences is rows [t b, (t + 1) b)). It starts from a carried `state`
(what `final_state` returned for the previous window of the same sequences: truncated BPTT), else from the
learned initial state where the plan has one, else from zeros. Its losses read the window's loss `rows`
(time-major indices; None: every row) and a target given at those rows.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from nngraph.backend import Backend, accel, device_scalar, get_backend
from nngraph.compile import interpret
from nngraph.compile.fuse import for_device
from nngraph.compile.gibbs import device_generator
from nngraph.compile.lower import mark_gradients
from nngraph.compile.plan import BUFFER, MASKED_INIT, PARAM, ROWS, TARGET, Plan
from nngraph.errors import DataError

UNSEEDED_PASS_SEED = 0  # the generator of a pass that is given none (evaluation): the same draws every time


def init_parameter(spec, rng: np.random.Generator, dtype) -> np.ndarray:
    """Glorot-uniform for tanh/sigmoid/linear units, He-uniform for rectifiers, zero biases; an LSTM's
    forget-gate biases start at 1 (Gers et al. 2000; Jozefowicz et al. 2015): the cell remembers by default,
    which long-range tasks such as the adding problem need."""
    if spec.init.startswith(MASKED_INIT):  # the masked entries of an autoregressive link's weight start zero
        return np.triu(init_parameter(replace(spec, init=spec.init.removeprefix(MASKED_INIT)), rng, dtype), 1)
    if spec.init == "ones":
        return np.ones(spec.shape, dtype)
    if spec.init in ("zeros", "lstm_bias"):
        value = np.zeros(spec.shape, dtype)
        if spec.init == "lstm_bias":
            width = spec.shape[0] // 4
            value[width:2 * width] = 1
        return value
    if spec.init == "standard_normal":
        return rng.standard_normal(spec.shape).astype(dtype)
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


def time_major(a: np.ndarray) -> np.ndarray:
    """(batch, steps, ...) -> (steps * batch, ...): step t is the block of rows [t * batch, ...). On the array's
    own device (a minibatch of resident data stays there)."""
    a = a if hasattr(a, "swapaxes") else np.asarray(a)
    return a.swapaxes(0, 1).reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


class Program:
    """Parameters by name, and the forward and backward passes of a training plan and an eval plan."""

    model = None  # the checked ModelGraph it was compiled from (`compile_model` sets it), for its pictures

    def __init__(self, train_plan: Plan, eval_plan: Plan, backend: Backend | None = None, seed: int = 0):
        self.backend = backend or get_backend()
        self.xp = self.backend.xp
        if accel.path(self.xp) == accel.CUDA:  # a GPU's plans: fewer, fused kernels
            train_plan, eval_plan = for_device(train_plan), for_device(eval_plan)
        self.train_plan, self.eval_plan = train_plan, eval_plan
        init_rng = np.random.default_rng(seed)
        dtype = self.backend.dtype
        values = {name: init_parameter(spec, init_rng, dtype) for name, spec in train_plan.params.items()}
        self.params = flat_parameters(values, self.backend)
        # non-trainable state (running statistics), on the backend; checkpoints save it as `buffers.NAME`
        self.buffers = {name: self.xp.asarray(init_parameter(spec, init_rng, dtype))
                        for name, spec in train_plan.buffers.items()}
        self._param_slots = {PARAM + n: a for n, a in self.params.items()}
        # each loss term's weight, by label; a method may change them between steps (KL warm-up)
        self.loss_weights = {ls.label: ls.weight for ls in train_plan.losses}
        self._toward: dict[tuple, list] = {}  # slots -> the training plan marked for their gradients alone

    @property
    def plan(self) -> Plan:
        return self.train_plan

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

    def feeds(self, inputs: dict, target=None, rng=None, training=False, state: dict | None = None,
              rows=None) -> dict:
        """Slot values for one batch: data inputs, the target, fresh random draws; for a recurrent plan
        also the state before the first step and the loss rows."""
        plan = self.train_plan if training else self.eval_plan
        values = interpret.Slots(self._param_slots)
        values.update((BUFFER + name, a) for name, a in self.buffers.items())
        for name in plan.feeds:
            if name not in inputs:
                raise DataError(f"no data for input unit '{name}'")
        first = inputs[plan.feeds[0]] if plan.feeds else next(iter(inputs.values()))
        batch, steps = first.shape[0], (first.shape[1] if plan.sequence else 1)
        for name in plan.feeds:
            values[name] = self.backend.asarray(time_major(inputs[name]) if plan.sequence else inputs[name])
        if target is not None:
            values[TARGET] = self.backend.asarray(target)
        if plan.sequence:
            values[ROWS] = None if rows is None else self.backend.asarray(rows)  # host rows: a counted copy
            self._initial_values(plan, values, batch, state)
        if plan.random:
            # on a GPU the draws are made there, by a generator seeded from the caller's (the loop's, which it
            # checkpoints); on numpy the caller's generator draws them itself, as it always has. A pass given
            # none (an evaluation's) draws the same numbers every time, so that it is repeatable
            draw = device_generator(self.xp, rng) if rng is not None else self.backend.rng(UNSEEDED_PASS_SEED)
            for r in plan.random:
                values[r.slot] = self._draw(draw, r, batch, 1 if r.per_sequence else steps)
        return values

    def _initial_values(self, plan: Plan, values: dict, batch: int, state: dict | None) -> None:
        """Each state before the first step: carried (then a learned state is not used), else zeros."""
        for initial in plan.initial:
            rows = (initial.blocks * batch,) + initial.shape
            if state is not None and initial.unit in state:
                # a carried state is the program's own output, on the device already: no copy to count
                values[initial.slot] = self.xp.asarray(state[initial.unit], self.backend.dtype).reshape(rows)
                values.given.add(initial.slot)
            else:
                values[initial.feed] = self.xp.zeros(rows, dtype=self.backend.dtype)

    def _draw(self, rng, r, batch: int, blocks: int):
        """Drawn with the caller's generator (the loop's checkpointed one, so resume is exact), `blocks` blocks
        of `batch` rows (a recurrent plan's steps, time-major). A generator with a `rows` method (one MPI rank's
        view, train/parallel.py) draws the global batch's numbers and gives this rank's rows of each block, so
        a data-parallel run draws what one process would."""
        shape = (batch * blocks, *r.shape)
        dtype = np.dtype(self.backend.dtype)
        rows = getattr(rng, "rows", None)

        def sample(name: str, **options):
            return rows(name, shape, blocks, **options) if rows else getattr(rng, name)(shape, **options)

        if r.kind == "dropout":
            keep = 1.0 - r.rate
            draw = (sample("random", dtype=dtype) < keep).astype(dtype) * dtype.type(1.0 / keep)
        elif r.kind == "uniform":
            draw = sample("random", dtype=dtype) * 2 - 1
        else:
            draw = sample("standard_normal", dtype=dtype)
        return draw

    def run(self, values: dict, training: bool, with_loss: bool = True) -> list:
        """Forward: fills `values` slot by slot; returns each instruction's vjp context. Slots that
        `feeds` or `forward` were given (a carried state; a VAE's latent set by hand) are not recomputed."""
        plan = self.train_plan if training else self.eval_plan
        ctxs = interpret.forward(self.xp, plan.instrs if with_loss else plan.instrs[: plan.body], values)
        for name, slot in plan.buffer_updates.items():
            self.buffers[name][...] = values[slot]  # the training pass's explicit outputs, kept for the next
        return ctxs

    def run_on(self, x, training: bool = False, rng=None) -> tuple[dict, list]:
        """(slot values, vjp contexts) of a forward pass without the losses over `x`, the array of the plan's
        one data input: what an agent acts and learns by, tens of thousands of times in a run of a small net
        (DQN on CartPole: a batch-1 pass per environment step). A plain feedforward plan (one input; no random
        draws, running statistics or carried state) takes a lean path, the same instructions on the same arrays
        without `feeds`' checks and copies; any other plan the general one (`feeds`, `run`), its draws (dropout
        masks) made with `rng`."""
        plan = self.train_plan if training else self.eval_plan
        if not self._plain(plan):
            values = self.feeds({plan.feeds[0]: x}, rng=rng, training=training)
            return values, self.run(values, training, with_loss=False)
        values = dict(self._param_slots)
        values[plan.feeds[0]] = self.backend.asarray(x)
        return values, interpret.forward(self.xp, plan.instrs[: plan.body], values)

    def _plain(self, plan: Plan) -> bool:
        return (len(plan.feeds) == 1 and not (plan.sequence or plan.random or plan.initial or plan.buffer_updates
                                              or self.buffers))

    def forward(self, inputs: dict, training: bool = False, rng=None, state: dict | None = None,
                given: dict | None = None) -> dict:
        """Every unit's value for named input arrays (eval mode: no dropout); batch-major (batch, steps,
        *shape) for a recurrent plan. `given` sets slots by hand (a VAE's latent)."""
        values = self.feeds(inputs, rng=rng, training=training, state=state)
        values.update(given or {})
        values.given.update(given or {})
        self.run(values, training, with_loss=False)
        plan = self.train_plan if training else self.eval_plan
        return {u: self.batch_major(values[plan.slot(u)], plan, len(next(iter(inputs.values()))))
                for u in plan.shapes if plan.slot(u) in values}

    def batch_major(self, a, plan: Plan, batch: int):
        """A slot as the data is laid out: (batch, steps, *shape) for a recurrent plan's time-major rows."""
        if not plan.sequence or a is None:
            return a
        return self.xp.swapaxes(a.reshape((a.shape[0] // batch, batch) + a.shape[1:]), 0, 1)

    def final_state(self, values: dict, batch: int, plan: Plan | None = None) -> dict:
        """What the next window of the same sequences starts from: each unit's last `blocks` steps
        (copies, not views), by unit (an LSTM's c as `NAME:cell`); `values` from a pass of `plan` (default: the
        training plan)."""
        plan = plan or self.train_plan
        state = {}
        for initial in plan.initial:
            if not initial.carried:
                continue
            rows = initial.blocks * batch
            past = self.xp.concatenate([values[initial.slot], values[plan.slot(initial.unit)]])
            state[initial.unit] = past[len(past) - rows:].copy()
        return state

    def loss(self, values: dict, plan: Plan) -> tuple[Any, dict]:
        """(weighted total, each term unweighted) from a forward pass's values, as 0-d arrays on the device:
        reading them would wait for the step's kernels (the training loop reads a step's metrics later)."""
        terms = {ls.label: values[ls.slot] for ls in plan.losses}
        total = sum(self.loss_weights[ls.label] * terms[ls.label] for ls in plan.losses)
        return total, terms

    def loss_and_grads(self, inputs: dict, target=None, rng=None, state: dict | None = None, rows=None):
        """(total loss, loss terms, gradients by parameter name, slot values) for one training batch."""
        values = self.feeds(inputs, target, rng, training=True, state=state, rows=rows)
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
        """(parameter gradients, gradients of the data inputs and noise units, by name): a GAN's discriminator
        hands the first to its generator, whose fill-in searches its noise with the second. Needs a program
        compiled with `input_grads=True`."""
        pending = self._sweep(values, ctxs, seeds)
        params = {name: pending[PARAM + name] if PARAM + name in pending else self.xp.zeros_like(p)
                  for name, p in self.params.items()}
        plan = self.train_plan
        sources = plan.feeds + [r.slot for r in plan.random if r.slot in plan.shapes]  # a noise unit's slot: its name
        return params, {name: pending.get(name) for name in sources}

    def slot_gradients(self, values: dict, ctxs: list, slots, seeds: dict | None = None) -> dict:
        """Gradients of the losses (or of `seeds`) with respect to slots of a training pass, by slot (None where
        none flows): a VAE refines its posterior's moments by them. No parameter's gradient is computed."""
        slots = tuple(slots)
        if slots not in self._toward:
            self._toward[slots] = mark_gradients(self.train_plan.instrs, set(), sources=set(slots))
        pending = self._sweep(values, ctxs, seeds, self._toward[slots])
        return {slot: pending.get(slot) for slot in slots}

    def _sweep(self, values: dict, ctxs: list, seeds: dict | None, instrs: list | None = None) -> dict:
        """The reverse walk from `seeds` (slot -> cotangent), by default the loss weights, through `instrs`
        (the training plan's, or the same marked for other gradients)."""
        plan = self.train_plan
        if seeds is None:
            dtype = self.backend.dtype
            seeds = {ls.slot: device_scalar(self.xp, self.loss_weights[ls.label], dtype) for ls in plan.losses}
        # the contexts are of the instructions run: all, or the body alone (`run(..., with_loss=False)`)
        instrs = plan.instrs if instrs is None else instrs
        return interpret.backward(self.xp, instrs[: len(ctxs)], values, ctxs, dict(seeds))
