"""The one training loop every method shares: epochs, minibatches, metrics, checkpoints.

A training method (backprop, cd, vae, gan, ...: one module each) is any object with the
`Method` protocol below. The loop owns everything around the update: shuffling with the
checkpointed numpy `rng`, the learning-rate schedule, validation, metrics.jsonl, early
stopping, checkpoints and resume, and the non-finite-loss guard. The method owns its
parameters, gradients and optimizer: it applies `regularize.add_penalties(..., config.l1,
config.l2, xp)` and `regularize.clip_by_global_norm(grads, config.clip, xp)` itself (it holds
the gradients), then `optimizer.update(params, grads)`.

Epochs are counted from 1 in records, messages and checkpoints (`meta["epoch"]` = epochs done).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nngraph import __version__
from nngraph.data.splitting import iterate_minibatches
from nngraph.errors import TrainingError
from nngraph.graph.vocabulary import OPTIMIZERS
from nngraph.train.checkpoint import (
    load_checkpoint,
    nest,
    restore_rng,
    rng_state,
    save_checkpoint,
    state_layout,
    unnest,
)
from nngraph.train.outputs import RunDir
from nngraph.train.progress import TrainingProgress
from nngraph.train.schedules import learning_rate
from nngraph.train.stopping import EarlyStopping

BEST_PREFIX = "__best__"  # checkpoint names of early stopping's best parameters
DEFAULT_CHECKPOINT_SECONDS = 5.0  # when `checkpoint` is not set: every epoch, but not more often
NOT_METRICS = ("epoch", "lr", "time")


class Method(Protocol):
    """What the loop needs from a training method."""

    def train_step(self, batch, rng: np.random.Generator) -> dict[str, float]:
        """One minibatch update (a `Dataset`); its metrics as Python floats, e.g. {"loss": 0.3}."""

    def evaluate(self, data) -> dict[str, float]:
        """Metrics on a whole split, e.g. {"loss": ..., "accuracy": ...}; must not use the rng."""

    def state(self) -> dict[str, np.ndarray]:
        """Everything to checkpoint (params, optimizer state, chains...) as host arrays, flat names."""

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back what `state()` returned."""

    def set_learning_rate(self, lr: float) -> None:
        """Called at the start of every epoch with the schedule's rate."""

    @property
    def params(self) -> dict[str, Any]:
        """The live parameter arrays (early stopping copies and restores them in place)."""


@dataclass
class History:
    """Per-epoch records (as written to metrics.jsonl) and how the run ended."""

    records: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None  # set when early stopping restored that epoch's parameters
    stopping: dict | None = None  # early stopping's progress, for resume
    best_params: dict[str, np.ndarray] | None = field(default=None, repr=False)  # kept as arrays

    def to_json(self) -> dict:
        return {"records": self.records, "stopped_early": self.stopped_early,
                "best_epoch": self.best_epoch, "stopping": self.stopping}

    @classmethod
    def from_json(cls, data: dict, best_params: dict[str, np.ndarray] | None = None) -> History:
        return cls(list(data.get("records", [])), bool(data.get("stopped_early", False)),
                   data.get("best_epoch"), data.get("stopping"), best_params or None)

    def series(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]


def fit(method: Method, train, validation, config, run: RunDir | None = None,
        rng: np.random.Generator | None = None, start_epoch: int = 0, history: History | None = None,
        quiet: bool = True, on_epoch: Callable[[dict], bool | None] | None = None) -> History:
    """Train `method` for epochs `start_epoch+1 .. config.epochs`; return the history.

    `on_epoch(record)` runs after each epoch; returning True stops training there (the run
    can be resumed from its checkpoint, unlike an early stop). A non-finite metric from a
    step raises TrainingError naming the epoch and step, and no checkpoint is written.
    """
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    history = history if history is not None else History()
    if history.stopped_early:
        return history  # an early-stopped run is finished; resuming it changes nothing
    if len(train) == 0 and config.epochs > start_epoch:
        raise TrainingError("the training split is empty", config.spans.get("data"),
                            hint="use more data, or smaller `validation`/`test` fractions")
    stopper = _stopper(config, validation, history, method)
    checkpoints = _CheckpointPolicy(config)
    clock = time.perf_counter() - (history.records[-1].get("time", 0.0) if history.records else 0.0)
    epoch, base_lr = start_epoch, _base_lr(config)
    log = run.open_metrics(history.records) if run is not None else nullcontext()
    with TrainingProgress(config.epochs, start_epoch, quiet) as progress, log:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            record = _run_epoch(method, train, validation, config, rng, epoch, base_lr)
            record["time"] = round(time.perf_counter() - clock, 6)
            history.records.append(record)
            if run is not None:
                log.write(record)
            progress.epoch_done(epoch, _metrics(record))
            if stopper is not None and stopper.update(epoch, record, method.params):
                history.stopped_early = True
            if stopper is not None:
                history.stopping = stopper.progress()
            if history.stopped_early or (on_epoch is not None and on_epoch(record)):
                break
            if run is not None and checkpoints.due(epoch) and epoch < config.epochs:
                _save(run, method, rng, history, stopper, epoch)
    if epoch > start_epoch:
        _finish(run, method, rng, history, stopper, epoch, config.epochs)
    return history


def _run_epoch(method, train, validation, config, rng, epoch: int, base_lr: float) -> dict:
    lr = learning_rate(config.schedule, base_lr, epoch - 1, config.epochs)
    method.set_learning_rate(lr)
    record = {"epoch": epoch, "lr": lr, **_train_epoch(method, train, config.batch, rng, epoch)}
    if validation is not None and len(validation):
        record.update({f"val_{k}": float(v) for k, v in method.evaluate(validation).items()})
    return record


def _base_lr(config) -> float:
    return float({**OPTIMIZERS.get(config.optimizer.name, {}), **config.optimizer.options}["lr"])


def _train_epoch(method, train, batch: int, rng, epoch: int) -> dict[str, float]:
    """Step metrics averaged over the epoch, each step weighted by its batch size."""
    totals: dict[str, float] = {}
    seen = 0
    for step, part in enumerate(_minibatches(train, batch, rng), start=1):
        metrics = method.train_step(part, rng)
        for name, value in metrics.items():
            if not math.isfinite(value):
                raise TrainingError(
                    f"training diverged: {name} is {value} at epoch {epoch}, step {step}",
                    hint="lower the learning rate, set `clip`, or check the data for NaN/inf; "
                    "the last checkpoint is kept as it was")
            totals[name] = totals.get(name, 0.0) + len(part) * value
        seen += len(part)
    return {name: total / seen for name, total in totals.items()}


def _minibatches(train, batch: int, rng):
    """Shuffled minibatches; when one batch holds the whole set, the set itself, as it is:
    the order inside one batch changes no update (up to rounding), and full-batch toy runs (XOR: one step
    an epoch) would otherwise spend most of their time copying four rows."""
    if batch >= len(train):
        yield train
        return
    for index in iterate_minibatches(len(train), batch, rng):
        yield train.take(index)


def _metrics(record: dict) -> dict[str, float]:
    return {k: v for k, v in record.items() if k not in NOT_METRICS}


def _stopper(config, validation, history: History, method) -> EarlyStopping | None:
    options = config.early_stopping
    if not options:
        return None
    monitor = options.get("monitor", "val_loss")
    if monitor.startswith("val_") and (validation is None or len(validation) == 0):
        raise TrainingError(f"early_stopping monitors '{monitor}' but there is no validation split",
                            config.spans.get("early_stopping"),
                            hint="add e.g. `validation 0.2`, or monitor `loss`")
    stopper = EarlyStopping(monitor, options.get("patience", 10), options.get("min_delta", 0.0))
    if history.stopping:
        stopper.load(history.stopping, history.best_params or {}, method.params)
    return stopper


class _CheckpointPolicy:
    """`checkpoint N` set in the spec: every N epochs exactly. Not set: every epoch, but at
    most once per DEFAULT_CHECKPOINT_SECONDS, so a 2000-epoch toy run is not 2000 fsyncs."""

    def __init__(self, config):
        self.every = config.checkpoint_every
        self.min_seconds = 0.0 if "checkpoint" in config.spans else DEFAULT_CHECKPOINT_SECONDS
        self.last = time.monotonic()

    def due(self, epoch: int) -> bool:
        if epoch % self.every or time.monotonic() - self.last < self.min_seconds:
            return False
        self.last = time.monotonic()
        return True


def _finish(run, method, rng, history: History, stopper, epoch: int, epochs: int) -> None:
    """Write the last checkpoint; a finished run (all epochs, or stopped early) first gets
    early stopping's best parameters back. A run stopped by `on_epoch` is left resumable."""
    complete = history.stopped_early or epoch == epochs
    if complete and stopper is not None and stopper.best_epoch != epoch and stopper.restore(method.params):
        history.best_epoch = stopper.best_epoch
    if run is not None:
        _save(run, method, rng, history, stopper, epoch, complete)


def _save(run: RunDir, method, rng, history: History, stopper, epoch: int, complete=False) -> None:
    state = dict(method.state())
    if stopper is not None:
        state.update(nest(BEST_PREFIX, stopper.best_state()))
    meta = {"format": 1, "nngraph": __version__, "spec_hash": run.spec_hash, "epoch": epoch,
            "complete": complete, "rng": rng_state(rng), "history": history.to_json()}
    save_checkpoint(run.checkpoint, state, meta)


def restore(method: Method, checkpoint: str | Path, rng: np.random.Generator,
            expect_spec_hash: str | None = None) -> tuple[int, History]:
    """Load a checkpoint into `method` and `rng` (in place); (epochs done, history) to continue."""
    state, meta = load_checkpoint(checkpoint, expect_spec_hash, state_layout(method, BEST_PREFIX))
    missing = [k for k in ("epoch", "rng", "history") if k not in meta]
    if missing:
        raise TrainingError(f"checkpoint {checkpoint} lacks '{missing[0]}'; it is not a training checkpoint")
    best = unnest(BEST_PREFIX, state)
    method.load_state({k: v for k, v in state.items() if not k.startswith(BEST_PREFIX + ".")})
    restore_rng(rng, meta["rng"])
    return int(meta["epoch"]), History.from_json(meta["history"], best)


def resume(method: Method, checkpoint: str | Path, train, validation, config, run: RunDir | None = None,
           rng: np.random.Generator | None = None, expect_spec_hash: str | None = None,
           quiet: bool = True, on_epoch: Callable[[dict], bool | None] | None = None) -> History:
    """Continue an interrupted run from `checkpoint` exactly as if it had never stopped.

    The spec hash is checked against `expect_spec_hash`, or else against `run.spec_hash`.
    """
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    expected = expect_spec_hash or (run.spec_hash if run is not None else None)
    done, history = restore(method, checkpoint, rng, expected)
    return fit(method, train, validation, config, run, rng, done, history, quiet, on_epoch)
