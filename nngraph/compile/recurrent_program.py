"""A RecurrentProgram runs a RecurrentPlan: parameters by name, forward over the steps, losses, BPTT.

Data comes batch-major, (batch, steps, *shape) per input unit, and is laid out time-major inside (see
`recurrent_steps`). A forward pass may start from a carried `state` (what `final_state` returned for the
previous window of the same sequences: truncated BPTT), else from the learned initial state where the plan
has one, else from zeros. Losses read the rows that `select_rows` picks: every valid step (per-step
targets) or each sequence's last valid step (one target per sequence); padded steps contribute nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nngraph.backend import Backend, get_backend
from nngraph.compile.program import Program, init_parameter
from nngraph.compile.recurrent import RecurrentPlan
from nngraph.compile.recurrent_steps import (
    Grads,
    Run,
    loop_backward,
    loop_forward,
    parallel_backward,
    parallel_forward,
)
from nngraph.ops import get_op


@dataclass
class Targets:
    """Which time-major rows of a window the losses read, and the data's targets there."""

    rows: np.ndarray | None  # None: every row
    data: np.ndarray | None  # None: every term compares with another unit


def select_rows(y, lengths, per_step: bool, batch: int, start: int, steps: int, total: int) -> Targets | None:
    """The loss rows of the window [start, start + steps) of sequences `total` steps long (None: the
    window has none).

    per_step: y is (batch, total, ...); the rows are the steps t < length. Otherwise y is (batch, ...),
    one target per sequence, read at its last valid step (length - 1) when that falls in the window.
    `lengths` None means every sequence is `total` steps long.
    """
    lengths = np.full(batch, total) if lengths is None else np.asarray(lengths)
    if not per_step:
        last = lengths - 1 - start
        chosen = np.flatnonzero((last >= 0) & (last < steps))
        return Targets(last[chosen] * batch + chosen, None if y is None else y[chosen]) if len(chosen) else None
    window = None if y is None else time_major(y[:, start:start + steps])
    valid = (np.arange(start, start + steps)[:, None] < lengths[None, :]).reshape(-1)
    if valid.all():
        return Targets(None, window)
    rows = np.flatnonzero(valid)
    return Targets(rows, None if window is None else window[rows]) if len(rows) else None


def time_major(a: np.ndarray) -> np.ndarray:
    """(batch, steps, ...) -> (steps * batch, ...): step t is the block of rows [t * batch, ...)."""
    return np.swapaxes(a, 0, 1).reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


def _row_sparse_units(units, losses) -> set[str]:
    """Units whose whole gradient can stay at the loss rows (a last-step classifier's output): no edge
    leaves them, and exactly one loss reads them, through its logits, and none compares with them."""
    sources = {e.source for u in units for e in (*u.outer, *u.inner)}
    read = [loss.unit for loss in losses] + [loss.target for loss in losses if loss.target]
    return {loss.unit for loss in losses
            if loss.logits and loss.unit not in sources and read.count(loss.unit) == 1}


class RecurrentProgram:
    """Parameters by name (as `Program`), forward passes over sequences, losses and their gradients."""

    get = Program.get
    set = Program.set

    def __init__(self, plan: RecurrentPlan, backend: Backend | None = None, seed: int = 0):
        self.plan = plan
        self.backend = backend or get_backend()
        self.xp = self.backend.xp
        init_rng = np.random.default_rng(seed)
        self.params = {name: self.backend.asarray(init_parameter(spec, init_rng, self.backend.dtype))
                       for name, spec in plan.params.items()}
        self._open_forget_gates()
        self.loss_weights = {ls.label: ls.weight for ls in plan.losses}
        self.units = [u for s in plan.stages for u in s.units]
        self._row_sparse = _row_sparse_units(self.units, plan.losses)

    def _open_forget_gates(self) -> None:
        """LSTM forget-gate biases start at 1 (Gers et al. 2000; Jozefowicz et al. 2015): the cell
        remembers by default, which long-range tasks such as the adding problem need."""
        for unit in (u for s in self.plan.stages for u in s.units if u.cell == "lstm" and u.bias):
            self.params[unit.bias][unit.width:2 * unit.width] = 1

    # ---- forward ----------------------------------------------------------------------------

    def start(self, inputs: dict, state: dict | None = None) -> Run:
        """Buffers for one pass: inputs laid out time-major, initial rows from `state` or the start."""
        xp, dtype = self.xp, self.backend.dtype
        first = next(iter(inputs.values()))
        batch, steps = first.shape[0], first.shape[1]
        run = Run(steps, batch, self.plan.history)
        for name, shape in self.plan.shapes.items():
            width = int(np.prod(shape))
            run.values[name] = xp.zeros(((self.plan.history[name] + steps) * batch, width), dtype=dtype)
        for name in self.plan.feeds:
            data = time_major(np.asarray(inputs[name]))
            run.value(name)[...] = self.backend.asarray(data.reshape(steps * batch, -1))
        for unit in self.units:
            if unit.cell == "lstm":
                run.cells[unit.name] = xp.zeros(((1 + steps) * batch, unit.width), dtype=dtype)
        self._initial_rows(run, state or {})
        run.carried = bool(state)
        return run

    def _initial_rows(self, run: Run, state: dict) -> None:
        for name, value in run.values.items():
            rows = run.rows(0, self.plan.history[name])
            self._fill(value[rows], state.get(name), self.plan.initial.get(name))
        for name, cells in run.cells.items():
            self._fill(cells[run.rows(0)], state.get(name + ":cell"), self.plan.initial.get(name + ":cell"))

    def _fill(self, rows, carried, learned) -> None:
        if carried is not None:
            rows[...] = self.backend.asarray(carried).reshape(rows.shape)
        elif learned is not None:
            rows[...] = self.params[learned]

    def run(self, inputs: dict, state: dict | None = None, rng=None, loss_rows=None) -> Run:
        """The forward pass; `rng` (training only) draws the dropout masks. With `loss_rows` (a Targets'
        rows), a unit that only a loss reads through its logits (see `_row_sparse_units`) is computed
        at those rows alone: a last-step classifier is not run at every step to be read at one."""
        run = self.start(inputs, state)
        rows = None if loss_rows is None else self.xp.asarray(loss_rows)
        for stage in self.plan.stages:
            if stage.loop:
                loop_forward(self.xp, run, stage, self.params)
            else:
                unit = stage.units[0]
                parallel_forward(self.xp, run, unit, self.params, rng, rows if unit.name in self._row_sparse else None)
        return run

    def final_state(self, run: Run) -> dict:
        """What the next window of the same sequences starts from (copies, not views)."""
        state = {name: buf[len(buf) - self.plan.history[name] * run.batch:].copy()
                 for name, buf in run.values.items() if self.plan.history[name]}
        state.update({name + ":cell": cells[len(cells) - run.batch:].copy() for name, cells in run.cells.items()})
        return state

    def output(self, run: Run, unit: str) -> np.ndarray:
        """A unit's values as a host array (batch, steps, *shape)."""
        values = self.backend.to_numpy(run.value(unit))
        return np.swapaxes(values.reshape((run.steps, run.batch) + self.plan.shapes[unit]), 0, 1)

    # ---- losses and gradients ---------------------------------------------------------------

    def _loss_inputs(self, run: Run, loss, targets: Targets):
        pred = run.pre[loss.unit] if loss.logits else run.value(loss.unit)
        target = run.value(loss.target) if loss.target else self.backend.asarray(targets.data)
        if targets.rows is not None:
            rows = self.xp.asarray(targets.rows)
            pred = pred if loss.logits and loss.unit in run.at_rows else pred[rows]
            target = target[rows] if loss.target else target
        return pred, target.reshape(pred.shape) if target.dtype.kind == "f" else target

    def loss(self, run: Run, targets: Targets) -> tuple[float, dict, list]:
        """(weighted total, each term unweighted, each term's vjp context)."""
        terms, ctxs = {}, []
        for loss in self.plan.losses:
            pred, target = self._loss_inputs(run, loss, targets)
            value, ctx = get_op(loss.op).forward(self.xp, (pred, target), self._loss_attrs(loss))
            terms[loss.label] = float(value)
            ctxs.append(ctx)
        total = sum(self.loss_weights[label] * value for label, value in terms.items())
        return total, terms, ctxs

    def backward(self, run: Run, targets: Targets, ctxs: list) -> dict:
        """Gradients of the weighted loss by parameter name: backprop through all steps of the run."""
        xp = self.xp
        grads = Grads({u.name: xp.zeros_like(run.values[u.name]) for u in self.units},
                      cells={name: xp.zeros((run.batch, c.shape[1]), dtype=c.dtype) for name, c in run.cells.items()})
        self._seed(run, targets, ctxs, grads)
        feeds = set(self.plan.feeds)

        def needs(source: str) -> bool:  # data inputs need no gradient
            return source not in feeds

        for stage in reversed(self.plan.stages):
            if stage.loop:
                loop_backward(xp, run, grads, stage, self.params, needs)
            else:
                parallel_backward(xp, run, grads, stage.units[0], self.params, needs)
        if not run.carried:
            self._initial_grads(run, grads)
        return {name: grads.params[name] if name in grads.params else xp.zeros_like(p)
                for name, p in self.params.items()}

    def _loss_attrs(self, loss) -> dict:
        """A target that is a unit computed by the model gets a gradient too (`mse(q, h)`); data does not."""
        return {"needs_target_grad": loss.target is not None and loss.target not in self.plan.feeds}

    def _seed(self, run: Run, targets: Targets, ctxs: list, grads: Grads) -> None:
        xp = self.xp
        for loss, ctx in zip(self.plan.losses, ctxs):
            pred, target = self._loss_inputs(run, loss, targets)
            weight = xp.asarray(self.loss_weights[loss.label], dtype=self.backend.dtype)
            g, g_target = get_op(loss.op).vjp(xp, weight, ctx, (pred, target), self._loss_attrs(loss))
            if g_target is not None:
                run.shifted(grads.values[loss.target], loss.target, 0)[...] += self._all_rows(run, targets, g_target)
            if targets.rows is not None and loss.unit in self._row_sparse:
                grads.rows[loss.unit] = (xp.asarray(targets.rows), g)
                continue
            g = self._all_rows(run, targets, g)
            if loss.logits:
                grads.pre[loss.unit] = grads.pre[loss.unit] + g if loss.unit in grads.pre else g
            else:
                run.shifted(grads.values[loss.unit], loss.unit, 0)[...] += g

    def _all_rows(self, run: Run, targets: Targets, g):
        """A gradient at the loss rows as (steps * batch, width) rows, zero at the others."""
        g = g.reshape(len(g), -1)
        if targets.rows is None:
            return g
        full = self.xp.zeros((run.steps * run.batch, g.shape[1]), dtype=g.dtype)
        full[self.xp.asarray(targets.rows)] = g
        return full

    def _initial_grads(self, run: Run, grads: Grads) -> None:
        for key, name in self.plan.initial.items():
            unit, _, cell = key.partition(":")
            source = grads.cells[unit] if cell else grads.values[unit]
            rows = run.rows(0, 1 if cell else self.plan.history[unit])
            grads.params[name] = source[rows].sum(axis=0)

    def loss_and_grads(self, inputs: dict, targets: Targets, state: dict | None = None, rng=None):
        """(total, terms, gradients by parameter name, the run) for one window of a batch."""
        run = self.run(inputs, state, rng, targets.rows)
        total, terms, ctxs = self.loss(run, targets)
        return total, terms, self.backward(run, targets, ctxs), run
