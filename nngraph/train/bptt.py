"""Method `backprop` on recurrent models: backprop through time, whole or truncated (`bptt N`).

Data: inputs (n, steps, *shape) per input unit (several vector inputs: their features side by side), or
integer character codes (n, steps) from `data text`, one-hot encoded here into the single input's width.
Targets are read per step or once per sequence (see `per_step_targets`): per step the loss is the mean
over every valid step of every sequence; once per sequence it is read at the sequence's last valid step.
`Dataset.lengths` marks sequences shorter than the batch's steps; their padded steps contribute nothing.

Truncated BPTT (`bptt N`): each minibatch is cut into consecutive windows of N steps; each window runs
forward from the state the previous window ended in (carried as a constant), backpropagates inside the
window only, and updates the parameters (gradient penalties, clipping and the optimizer step, as ever).
A window without any loss row (one target per sequence, read later) only runs forward.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from nngraph.backend.threads import blas_yields_to_kernel_threads
from nngraph.compile import compile_model
from nngraph.compile.program import Program, time_major
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError, Span
from nngraph.graph.ir import ModelGraph
from nngraph.graph.training import TrainConfig
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import target_for
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties, clip_by_global_norm
from nngraph.train.text import Vocabulary, one_hot, sample_text

EVAL_CHUNK = 256  # sequences per evaluation pass


def build(checked, config: TrainConfig, backend) -> Bptt:
    model = checked.models[config.model]
    return Bptt(model, compile_model(model, config.loss, backend, seed=config.seed), config)


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


def per_step_targets(data: Dataset) -> bool:
    """Per-step targets when the data says so (`info["target"]`, text), else when y has a step axis:
    (n, steps, k) floats or (n, steps) integer labels. Otherwise one target per sequence: (n, k) or (n,)."""
    if "target" in data.info:
        return data.info["target"] == "per_step"
    if data.task == "text":
        return True
    y = data.y
    return y is not None and (y.ndim >= 3 or (y.dtype.kind in "iu" and y.ndim == 2))


class Bptt:
    """Implements the trainer's Method protocol (see nngraph.train.loop) for recurrent models."""

    def __init__(self, model: ModelGraph, program: Program, config: TrainConfig):
        self.model, self.program, self.config = model, program, config
        self.plan, self.xp = program.train_plan, program.xp
        self.optimizer = make_optimizer(config.optimizer, program.params, self.xp)
        self.vocabulary: Vocabulary | None = None

    @property
    def params(self) -> dict:
        return self.program.params

    def set_learning_rate(self, lr: float) -> None:
        self.optimizer.lr = lr

    # ---- data -------------------------------------------------------------------------------

    def check_data(self, data: Dataset, span: Span | None) -> None:
        """The data must be sequences that fit the inputs, within any declared max_length."""
        if data.vocabulary is not None:
            self.vocabulary = Vocabulary(data.vocabulary)
            self.vocabulary.check_fits(self.model, self.plan, span)
        x = data.x
        want = [self.plan.shapes[name] for name in self.plan.feeds]
        codes = data.vocabulary is not None and x.ndim == 2
        got = (want[0] if codes else tuple(x.shape[2:])) if x.ndim >= 2 else None
        fits = got == want[0] if len(want) == 1 else got == (sum(int(np.prod(s)) for s in want),)
        if not fits:
            names = ", ".join(f"{n}{list(s)}" for n, s in zip(self.plan.feeds, want))
            raise DataError(f"data '{data.name}' has examples of shape {list(x.shape[1:])}, but recurrent "
                            f"model '{self.model.name}' takes sequences of {names}", span,
                            "a recurrent model reads examples of shape [steps, features]")
        _check_lengths(data, span)
        self._check_max_length(data, span)

    def _check_max_length(self, data: Dataset, span) -> None:
        longest = int(data.lengths.max()) if data.lengths is not None else data.x.shape[1]
        for unit in (self.model.unit(n) for n in self.plan.feeds):
            if unit.max_length is not None and longest > unit.max_length:
                raise DataError(f"data '{data.name}' has sequences of {longest} steps, longer than "
                                f"max_length={unit.max_length} of input '{unit.name}'", span or unit.span,
                                "cut the sequences shorter, or raise max_length")

    def _inputs(self, x: np.ndarray) -> dict:
        if x.dtype.kind in "iu":
            x = one_hot(x, self.plan.shapes[self.plan.feeds[0]][0], self.program.backend.dtype)
        if len(self.plan.feeds) == 1:
            return {self.plan.feeds[0]: x}
        out, start = {}, 0
        for name in self.plan.feeds:
            width = int(np.prod(self.plan.shapes[name]))
            out[name] = x[..., start:start + width]
            start += width
        return out

    # ---- training ---------------------------------------------------------------------------

    def train_step(self, batch: Dataset, rng) -> dict[str, float]:
        with blas_yields_to_kernel_threads(self.xp):
            return self._train_step(batch, rng)

    def _train_step(self, batch: Dataset, rng) -> dict[str, float]:
        inputs, y, per_step = self._inputs(batch.x), target_for(self.plan, batch.y), per_step_targets(batch)
        total = batch.x.shape[1]
        window = self.config.bptt or total
        state, tally = None, _Tally()
        for start in range(0, total, window):
            steps = min(window, total - start)
            part = {name: x[:, start:start + steps] for name, x in inputs.items()}
            targets = select_rows(y, batch.lengths, per_step, len(batch), start, steps, total)
            if targets is None:
                values = self.program.feeds(part, rng=rng, training=True, state=state)
                self.program.run(values, training=True, with_loss=False)
            else:
                loss, terms, grads, values = self.program.loss_and_grads(
                    part, self._target(targets), rng, state, targets.rows)
                self._update(grads)
                tally.add(loss, terms, self._metrics(values, targets, batch), _count(targets, len(batch), steps))
            if start + steps < total:
                state = self.program.final_state(values, len(batch))
        return tally.means(len(self.plan.losses) > 1)

    def _target(self, targets: Targets):
        """The data's targets at the loss rows, numbers shaped as the unit they are compared with."""
        data = targets.data
        if data is None or data.dtype.kind != "f" or self.plan.scored is None:
            return data
        return data.reshape((len(data),) + self.plan.shapes[self.plan.scored])

    def _update(self, grads: dict) -> None:
        cfg = self.config
        if cfg.l1 or cfg.l2:
            add_penalties(self.params, grads, cfg.l1, cfg.l2, self.xp)
        if cfg.clip:
            clip_by_global_norm(grads, cfg.clip, self.xp)
        self.optimizer.update(self.params, grads)

    def _metrics(self, values: dict, targets: Targets, data: Dataset) -> dict[str, float]:
        """Accuracy (labels) or MSE (numbers) of the scored unit at the loss rows."""
        if self.plan.scored is None or targets.data is None or data.y is None:
            return {}
        out = self.program.backend.to_numpy(values[self.plan.slot(self.plan.scored)])
        out = out.reshape(len(out), -1)
        if targets.rows is not None and self.plan.scored not in self.plan.at_rows:
            out = out[targets.rows]
        if data.y.dtype.kind in "iu":
            predicted = (out[:, 0] > 0.5) if out.shape[1] == 1 else out.argmax(axis=1)
            return {"accuracy": float((predicted == data_labels(targets)).mean())}
        return {"mse": float(((out - targets.data.reshape(out.shape)) ** 2).mean())}

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Loss terms and accuracy or MSE over whole sequences (no truncation), without dropout."""
        with blas_yields_to_kernel_threads(self.xp):
            return self._evaluate(data)

    def _evaluate(self, data: Dataset) -> dict[str, float]:
        tally, per_step = _Tally(), per_step_targets(data)
        for start in range(0, len(data), EVAL_CHUNK):
            part = data.take(np.arange(start, min(start + EVAL_CHUNK, len(data))))
            steps = part.x.shape[1]
            targets = select_rows(target_for(self.plan, part.y), part.lengths, per_step, len(part), 0, steps, steps)
            if targets is None:
                continue
            values = self.program.feeds(self._inputs(part.x), self._target(targets), rows=targets.rows)
            self.program.run(values, training=False)
            loss, terms = self.program.loss(values, self.program.eval_plan)
            tally.add(loss, terms, self._metrics(values, targets, part), _count(targets, len(part), steps))
        return tally.means(len(self.plan.losses) > 1)

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """A unit's values at every step: (n, steps, *shape)."""
        unit = unit or self.plan.outputs[0]
        with blas_yields_to_kernel_threads(self.xp):
            values = self.program.forward(self._inputs(x))
        return self.program.backend.to_numpy(values[unit])

    def sample(self, request: dict, splits) -> str:
        return sample_text(self, request)

    # ---- checkpoints ------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        params = {k: self.program.get(k) for k in self.params}
        state = {**nest("params", params), **nest("optimizer", self.optimizer.state_dict())}
        if self.vocabulary is not None:
            state["text.vocabulary"] = self.vocabulary.as_array()
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name, value in unnest("params", state).items():
            self.program.set(name, value)
        self.optimizer.load_state_dict(unnest("optimizer", state))
        if "text.vocabulary" in state:
            self.vocabulary = Vocabulary.from_array(state["text.vocabulary"])


def data_labels(targets: Targets) -> np.ndarray:
    """Class labels at the loss rows, also where they were turned into one-hot rows or a 0/1 column."""
    data = np.asarray(targets.data)
    if data.dtype.kind == "f":
        return data[:, 0] > 0.5 if data.shape[-1] == 1 else data.argmax(axis=-1)
    return data.reshape(-1)


def _count(targets: Targets, batch: int, steps: int) -> int:
    return batch * steps if targets.rows is None else len(targets.rows)


def _check_lengths(data: Dataset, span) -> None:
    lengths = data.lengths
    if lengths is None:
        return
    if lengths.shape != (len(data),) or lengths.min() < 1 or lengths.max() > data.x.shape[1]:
        raise DataError(f"data '{data.name}': lengths must be one whole number per sequence, between 1 and "
                        f"the {data.x.shape[1]} steps of the padded sequences", span)


class _Tally:
    """Metrics of several windows or chunks, each weighted by how many loss rows it had."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.rows = 0

    def add(self, loss: float, terms: dict, metrics: dict, rows: int) -> None:
        for key, value in {"loss": loss, **terms, **metrics}.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * rows
        self.rows += rows

    def means(self, with_terms: bool) -> dict[str, float]:
        keep = {k: v / max(self.rows, 1) for k, v in self.sums.items()}
        return {k: v for k, v in keep.items() if with_terms or "(" not in k}
