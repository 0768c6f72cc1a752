"""The one training loop every method shares: epochs, minibatches, metrics, checkpoints.

A training method (backprop, cd, vae, gan, ...: one module each) is any object with the
`Method` protocol below (every built-in one derives from `nngraph.train.method.Method`). The loop
owns everything around the update: shuffling with the checkpointed numpy `rng`, the learning-rate
schedule, validation, metrics.jsonl, early stopping, checkpoints and resume, and the non-finite-loss
guard. The method owns its parameters, gradients and optimizer, and makes the update itself
(`Method.apply_update`: penalties, clipping, the optimizer's step).

No step reads the device: a step's metrics come back as 0-d arrays where they were computed (on a GPU, they
stay there), and the loop keeps them (train/pending.py) and reads them to the host in one transfer at the
epoch's end, before a Ctrl-C checkpoint, and at most once per progress interval in between. The non-finite
check, the progress line, metrics.jsonl and early stopping see them then; a diverged step is still named by
its number.

Epochs are counted from 1 in records, messages and checkpoints (`meta["epoch"]` = epochs done).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nngraph import __version__
from nngraph.backend.threads import blas_yields_to_kernel_threads
from nngraph.data.augment import augment_batch, check_images
from nngraph.data.preprocessing import ARRAY_PREFIX as DATA_PREFIX
from nngraph.errors import TrainingError, plural
from nngraph.graph.vocabulary import RUNNING
from nngraph.train.checkpoint import (
    load_checkpoint,
    nest,
    restore_rng,
    rng_state,
    save_checkpoint,
    state_layout,
    trained_arrays,
    unnest,
)
from nngraph.train.feed import DataFeed
from nngraph.train.feeding import host_metrics
from nngraph.train.optimizers import settings
from nngraph.train.outputs import RunDir
from nngraph.train.parallel import DATA_PARALLEL_METHODS, ShardedGenerator, world
from nngraph.train.pending import PendingMetrics
from nngraph.train.progress import TrainingProgress
from nngraph.train.provenance import RUN_KEY
from nngraph.train.schedules import learning_rate
from nngraph.train.stopping import EarlyStopping

BEST_PREFIX = "__best__"  # checkpoint names of early stopping's best parameters
CHECKPOINT_FORMAT = 1  # what `_save` writes and `restore` reads; a newer layout gets a new number
UNFINISHED_KEY = "unfinished_epoch"  # meta of a checkpoint written between two steps (Ctrl-C)
UNFINISHED_ORDER = "__epoch__.order"  # that epoch's example order
DEFAULT_CHECKPOINT_SECONDS = 5.0  # when `checkpoint` is not set: every epoch, but not more often
NOT_METRICS = ("epoch", "lr", "time")


class Method(Protocol):
    """What the loop needs from a training method."""

    def train_step(self, batch, rng: np.random.Generator) -> dict:
        """One minibatch update (a `Dataset`); its metrics, e.g. {"loss": 0.3}, as 0-d arrays on the device
        (or numbers): reading them in the step would wait for the device, so the loop reads them later."""

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
    unfinished: EpochProgress | None = field(default=None, repr=False)  # a Ctrl-C checkpoint's epoch, to finish
    resumed_from: int = 0  # epochs done before the last `fit` call (0: a fresh run)

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
    Ctrl-C (SIGINT, in the main thread) stops training at the end of the current step: the loop writes a
    checkpoint there, from which `resume` continues exactly (`history.unfinished`: the epoch it stopped
    in), and raises `TrainingInterrupted`; a second Ctrl-C stops at once.
    """
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    history = history if history is not None else History()
    history.resumed_from = start_epoch
    if history.stopped_early:
        return history  # an early-stopped run is finished; resuming it changes nothing
    if len(train) == 0 and config.epochs > start_epoch:
        raise TrainingError("the training split is empty", config.spans.get("data"),
                            hint="use more data, or smaller `validation`/`test` fractions")
    check_data_parallel(config, method, train)
    check_augment(config, train)
    # work before the first epoch: a DBN's layers (train/dbn.py), a Boltzmann machine's visible biases
    pretrain = getattr(method, "pretrain", None)
    if pretrain is not None and start_epoch == 0:
        pretrain(train, rng, quiet)
    stopper = _stopper(config, validation, history, method)
    checkpoints = _CheckpointPolicy(config)
    unfinished, history.unfinished = _check_unfinished(history.unfinished, train), None
    clock = time.perf_counter() - _elapsed(history, unfinished)
    feed = DataFeed.for_run(train, getattr(method, "xp", np))  # on the device once, or streamed (train/feed.py)
    epoch, base_lr = start_epoch, float(settings(config.optimizer)["lr"])
    log = run.open_metrics(history.records) if run is not None else nullcontext()
    with TrainingProgress(config.epochs, start_epoch, quiet) as progress, log, StopOnCtrlC() as ctrl_c:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            steps = unfinished or EpochProgress.start(epoch, train, config.batch, rng)
            unfinished = None
            record = _run_epoch(method, feed, validation, config, rng, steps, base_lr, ctrl_c)
            if record is None:  # Ctrl-C between two steps
                steps.elapsed = time.perf_counter() - clock
                _interrupt(run, method, rng, history, stopper, epoch - 1, steps, len(train), config.batch)
            record["time"] = round(time.perf_counter() - clock, 6)
            _keep(record, history, log if run is not None else None, progress, stopper, method)
            if history.stopped_early or (on_epoch is not None and on_epoch(record)) or epoch == config.epochs:
                break
            if ctrl_c.requested:
                _interrupt(run, method, rng, history, stopper, epoch)
            if run is not None and checkpoints.due(epoch):
                _save(run, method, rng, history, stopper, epoch)
    if epoch > start_epoch or (start_epoch == 0 and not history.records):  # `epochs 0`: the initial state
        _finish(run, method, rng, history, stopper, epoch, config.epochs)
    return history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training between two steps. `checkpoint` (None when the run has no folder) holds the
    state there, and `resume` from it continues exactly as if nothing had stopped."""

    def __init__(self, epoch: int, step: int | None, steps: int | None, checkpoint: Path | None):
        where = f"epoch {epoch}, step {step} of {steps}" if step is not None else f"the end of epoch {epoch}"
        super().__init__(f"training interrupted at {where}")
        self.epoch, self.step, self.steps, self.checkpoint = epoch, step, steps, checkpoint
        self.where = where


class StopOnCtrlC:
    """While training: the first SIGINT only asks the loop to stop after the current step; a second one raises
    KeyboardInterrupt at once. Installed only where Python's own handler is (the main thread, not an
    application that handles SIGINT itself, not a process that ignores it)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopOnCtrlC:
        in_main = threading.current_thread() is threading.main_thread()
        # under MPI each rank would see the signal at its own step: there Ctrl-C stops the job (abort_on_error)
        if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler and not world().parallel:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class EpochProgress:
    """An epoch under way: its example order, the steps done and their summed metrics. A checkpoint written
    between two steps (Ctrl-C) keeps it, so a resumed run finishes the epoch with the same minibatches."""

    epoch: int
    order: np.ndarray | None  # the shuffled example order; None: the whole set is one batch
    steps: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    seen: int = 0
    elapsed: float = 0.0  # seconds trained when the epoch was interrupted (the records' `time`)
    pending: PendingMetrics = field(default_factory=PendingMetrics, repr=False, compare=False)  # not yet read

    @classmethod
    def start(cls, epoch: int, train, batch: int, rng) -> EpochProgress:
        """The epoch's order, drawn as `iterate_minibatches` draws it; when one batch holds the whole set, the
        set itself, as it is: the order inside one batch changes no update (up to rounding), and full-batch toy
        runs (XOR: one step an epoch) would otherwise spend most of their time copying four rows."""
        return cls(epoch, None if batch >= len(train) else rng.permutation(len(train)))

    def step_count(self, size: int, batch: int) -> int:
        return 1 if self.order is None else math.ceil(size / batch)

    def remaining(self, feed: DataFeed, batch: int):
        """The minibatches not yet trained on, in order, on the device (`feed`)."""
        if self.order is None:
            if self.steps == 0:
                yield feed.whole()
            return
        yield from feed.batches(self.order, self.steps * batch, batch)

    def add(self, metrics: dict, size: int) -> None:
        """One step's metrics (0-d device arrays, or numbers), weighted by its batch size, kept unread
        (train/pending.py) until `settle`: at the epoch's end, before a Ctrl-C checkpoint, and at most once per
        progress interval in between."""
        self.steps += 1
        if self.pending.add(self.steps, metrics, size):
            self.settle()

    def settle(self) -> None:
        """The kept steps' metrics read to the host in one read and summed in step order; a non-finite one
        stops training, named by the step that made it."""
        if not self.pending:
            return
        kept, values = self.pending.read()
        values = iter(values)
        for step, names, size in kept:
            for name, value in zip(names, values):
                if not math.isfinite(value):
                    raise TrainingError(
                        f"training diverged: {name} is {value} at epoch {self.epoch}, step {step}",
                        hint="lower the learning rate, set `clip`, or check the data for NaN/inf; "
                        "the last checkpoint is kept as it was")
                self.totals[name] = self.totals.get(name, 0.0) + size * value
            self.seen += size

    def means(self) -> dict[str, float]:
        self.settle()
        return {name: total / self.seen for name, total in self.totals.items()}

    def to_json(self) -> dict:
        self.settle()
        return {"epoch": self.epoch, "steps": self.steps, "totals": self.totals, "seen": self.seen,
                "elapsed": self.elapsed}

    @classmethod
    def from_json(cls, data: dict, order: np.ndarray | None) -> EpochProgress:
        return cls(int(data["epoch"]), order, int(data["steps"]), dict(data["totals"]), int(data["seen"]),
                   float(data["elapsed"]))


def _check_unfinished(unfinished: EpochProgress | None, train) -> EpochProgress | None:
    if unfinished is not None and unfinished.order is not None and len(unfinished.order) != len(train):
        raise TrainingError(f"the checkpoint stopped in epoch {unfinished.epoch} of a training split of "
                            f"{plural(len(unfinished.order), 'example')}; this one has {len(train)}",
                            hint="resume with the data and the splits the run started with")
    return unfinished


def _elapsed(history: History, unfinished: EpochProgress | None) -> float:
    """Seconds the run had trained before this call (the records' `time` goes on from there)."""
    if unfinished is not None:
        return unfinished.elapsed
    return history.records[-1].get("time", 0.0) if history.records else 0.0


def _run_epoch(method, feed: DataFeed, validation, config, rng, steps: EpochProgress, base_lr: float,
               ctrl_c: StopOnCtrlC) -> dict | None:
    """The epoch's (remaining) steps and validation: its record, or None when Ctrl-C stopped it between two
    steps."""
    lr = learning_rate(config.schedule, base_lr, steps.epoch - 1, config.epochs)
    method.set_learning_rate(lr)
    last = steps.step_count(len(feed.data), config.batch)
    for part in steps.remaining(feed, config.batch):
        if config.augment is not None:  # drawn from the global batch's rng: under MPI every rank draws alike
            part = augment_batch(part, config.augment, rng)
        steps.add(run_train_step(method, part, rng), len(part))
        if ctrl_c.requested and steps.steps < last:
            steps.settle()  # a diverged step stops the run here, before any checkpoint
            return None
    record = {"epoch": steps.epoch, "lr": lr, **{name + RUNNING: v for name, v in steps.means().items()}}
    if validation is not None and len(validation):
        record.update({f"val_{k}": float(v) for k, v in evaluate(method, validation).items()})
    return record


def evaluate(method, data) -> dict[str, float]:
    """`method.evaluate(data)`; under MPI each rank evaluates its contiguous share of the split and the means
    are reduced, weighted by the shares (a method's `evaluation_means`, then its `evaluation_result` from the
    whole split's means). A method whose evaluation does not split (`splits_evaluation` false), or a split
    smaller than the world, is evaluated whole on every rank: the same parameters give the same figures."""
    ranks = world()
    unit = getattr(method, "evaluation_unit", 1)
    units = len(data) // unit
    if not ranks.parallel or not getattr(method, "splits_evaluation", False) or units < ranks.size:
        return method.evaluate(data)
    share = ranks.shard(units)
    part = data.take(np.arange(share.start * unit, share.stop * unit))
    means = host_metrics(method.evaluation_means(part))
    return method.evaluation_result(ranks.reduce_metrics(means, _metric_rows(method, part), check_names=True), data)


def run_train_step(method, batch, rng) -> dict[str, float]:
    """One step on a global batch: under MPI on this rank's shard of it, with this rank's view of the random
    draws, its metrics averaged over the ranks (train/parallel.py); otherwise the method's step as it is."""
    ranks = world()
    with blas_policy(method):
        if not ranks.parallel:
            return method.train_step(batch, rng)
        shard = ranks.shard(len(batch))
        part = batch.take(slice(shard.start, shard.stop))
        with ranks.step(shard):
            metrics = method.train_step(part, ShardedGenerator(rng, shard))
    return ranks.reduce_metrics(host_metrics(metrics), _metric_rows(method, part))  # it sums floats over the ranks


def blas_policy(method):
    """The BLAS on one thread through a convolutional method's step (`Method.convolutional`: its convolutions
    split over the kernel threads; two pools spinning on the same cores slowed a DCGAN's epochs 4.4x on 2 cores)."""
    if getattr(method, "convolutional", False):
        return blas_yields_to_kernel_threads(method.xp)
    return nullcontext()


def _metric_rows(method, data) -> int:
    """The rows `method`'s metrics of `data` are means over (`Method.metric_rows`): its examples by default."""
    rows = getattr(method, "metric_rows", None)
    return rows(data) if rows is not None else len(data)


def check_augment(config, train) -> None:
    """`augment` moves pixels: the training examples must be images [channels, rows, columns]. (`check` refuses
    a model without such an input; this is for the data a method with several models feeds, a gan's.)"""
    if config.augment is not None and train is not None:
        check_images(train.feature_shape, train.name, config.spans.get("augment"))


def check_data_parallel(config, method, train=None) -> None:
    """Under MPI the spec's `batch` is the global batch, split evenly across the ranks; a method whose result
    would differ from one process's is refused."""
    ranks = world()
    if not ranks.parallel:
        return
    if config.method.name not in DATA_PARALLEL_METHODS:
        raise TrainingError(f"method '{config.method.name}' does not train data-parallel yet: its random draws are "
                            "not split across the ranks, so the run would not be the one-process run",
                            config.method.span or config.spans.get("method"),
                            hint="run it in one process (without mpiexec)")
    plan = getattr(method, "plan", None)  # an agent's network: its forward passes do not take the loop's draws
    if config.env is not None and plan is not None and plan.random:
        raise TrainingError("dropout or noise in an agent's network does not train data-parallel yet: its draws "
                            "are not split across the ranks", config.spans.get("model"),
                            hint="run it in one process (without mpiexec)")
    chains = config.method.options.get("chains") or 0
    if 0 < chains < ranks.size:
        raise TrainingError(f"{plural(chains, 'persistent chain')} cannot be shared by {ranks.size} MPI ranks",
                            config.method.span or config.spans.get("method"),
                            hint=f"each rank steps its share of the chains: use at least {ranks.size}")
    if config.env is None and config.batch % ranks.size:  # an agent's minibatches are shared as they come
        raise TrainingError(f"batch {config.batch} cannot be split evenly across {ranks.size} MPI ranks",
                            config.spans.get("batch"),
                            hint=f"`batch` is the global batch under MPI: make it a multiple of {ranks.size}, "
                                 f"or start as many ranks as divide it")


def _keep(record: dict, history: History, log, progress, stopper, method) -> None:
    """An epoch's record into the history, metrics.jsonl and the progress line; early stopping's verdict."""
    history.records.append(record)
    if log is not None:
        log.write(record)
    progress.epoch_done(record["epoch"], _metrics(record))
    if stopper is not None:
        history.stopped_early = stopper.update(record["epoch"], record, trained_arrays(method))
        history.stopping = stopper.progress()


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
                            hint=f"add e.g. `validation 0.2`, or monitor `loss{RUNNING}`")
    stopper = EarlyStopping(monitor, options.get("patience", 10), options.get("min_delta", 0.0))
    if history.stopping:
        stopper.load(history.stopping, history.best_params or {}, trained_arrays(method))
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
    if complete and stopper is not None and stopper.best_epoch != epoch and stopper.restore(trained_arrays(method)):
        history.best_epoch = stopper.best_epoch
    if run is not None:
        _save(run, method, rng, history, stopper, epoch, complete)


def _interrupt(run, method, rng, history: History, stopper, epoch: int, unfinished: EpochProgress | None = None,
               size: int = 0, batch: int = 1) -> None:
    """Ctrl-C: a checkpoint here (after `epoch` whole epochs and `unfinished`'s steps of the next), then
    TrainingInterrupted saying where it stopped and where the checkpoint is."""
    checkpoint = None
    if run is not None:
        _save(run, method, rng, history, stopper, epoch, unfinished=unfinished)
        checkpoint = run.checkpoint
    if unfinished is None:
        raise TrainingInterrupted(epoch, None, None, checkpoint)
    raise TrainingInterrupted(unfinished.epoch, unfinished.steps, unfinished.step_count(size, batch), checkpoint)


def _save(run: RunDir, method, rng, history: History, stopper, epoch: int, complete=False,
          unfinished: EpochProgress | None = None) -> None:
    state = dict(method.state())
    if stopper is not None:
        state.update(nest(BEST_PREFIX, stopper.best_state()))
    state.update(run.arrays)  # the data's preprocessing (data/preprocessing.py)
    meta = {"format": CHECKPOINT_FORMAT, "nngraph": __version__, "spec_hash": run.spec_hash, "epoch": epoch,
            "complete": complete, "rng": rng_state(rng), "history": history.to_json()}
    if run.record is not None:
        meta[RUN_KEY] = run.record
    if unfinished is not None:
        meta[UNFINISHED_KEY] = unfinished.to_json()
        if unfinished.order is not None:
            state[UNFINISHED_ORDER] = unfinished.order
    save_checkpoint(run.checkpoint, state, meta)


def restore(method: Method, checkpoint: str | Path, rng: np.random.Generator,
            expect_spec_hash: str | None = None, check=None) -> tuple[int, History]:
    """Load a checkpoint into `method` and `rng` (in place); (epochs done, history) to continue.
    `check(path, meta)` judges whether the checkpoint is of this model (train/provenance.py: `Expected`)."""
    state, meta = load_checkpoint(checkpoint, expect_spec_hash, state_layout(method, BEST_PREFIX), check)
    _check_meta(checkpoint, meta)
    unfinished = _unfinished_epoch(checkpoint, meta, state.get(UNFINISHED_ORDER))
    best = unnest(BEST_PREFIX, state)
    method.load_state(method_state(state))
    restore_rng(rng, meta["rng"])
    history = History.from_json(meta["history"], best)
    history.unfinished = unfinished
    return int(meta["epoch"]), history


def _check_meta(checkpoint, meta: dict) -> None:
    """What resuming reads of a checkpoint's metadata, judged before anything is restored: a format this
    version reads, and a count of epochs done that is a whole number and the length of the history's records
    (a hand-edited `"epoch": "x"` was exit 70, and `-5` resumed as "16 epochs (-4-11, resumed)")."""
    missing = [k for k in ("epoch", "rng", "history") if k not in meta]
    if missing:
        raise TrainingError(f"checkpoint {checkpoint} lacks '{missing[0]}'; it is not a training checkpoint")
    if meta.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        raise TrainingError(f"checkpoint {checkpoint} is of format {meta['format']!r}, written by nngraph "
                            f"{meta.get('nngraph', '(unknown)')}; this nngraph ({__version__}) reads format "
                            f"{CHECKPOINT_FORMAT}", hint="resume it with the nngraph that wrote it")
    history, epoch = meta["history"], meta["epoch"]
    records = history.get("records") if isinstance(history, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TrainingError(f"checkpoint {checkpoint} has a corrupt 'history' (expected records of epochs)")
    if type(epoch) is not int or epoch != len(records):
        raise TrainingError(f"checkpoint {checkpoint} has a corrupt 'epoch' ({epoch!r}; its history records "
                            f"{plural(len(records), 'epoch')})")


def method_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A checkpoint's arrays without the loop's own (early stopping's best parameters, an unfinished epoch's
    order): what `Method.load_state` takes."""
    return {k: v for k, v in state.items()
            if not k.startswith((BEST_PREFIX + ".", UNFINISHED_ORDER, DATA_PREFIX + "."))}


def _unfinished_epoch(checkpoint, meta: dict, order: np.ndarray | None) -> EpochProgress | None:
    """The epoch a Ctrl-C checkpoint stopped in, or None for a checkpoint written between epochs."""
    if UNFINISHED_KEY not in meta:
        return None
    try:
        unfinished = EpochProgress.from_json(meta[UNFINISHED_KEY], order)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise TrainingError(f"checkpoint {checkpoint} has a corrupt '{UNFINISHED_KEY}' ({e})") from None
    if unfinished.epoch != int(meta["epoch"]) + 1 or (order is not None and order.ndim != 1):
        raise TrainingError(f"checkpoint {checkpoint} has a corrupt '{UNFINISHED_KEY}'")
    return unfinished


def resume(method: Method, checkpoint: str | Path, train, validation, config, run: RunDir | None = None,
           rng: np.random.Generator | None = None, expect_spec_hash: str | None = None,
           quiet: bool = True, on_epoch: Callable[[dict], bool | None] | None = None, check=None) -> History:
    """Continue an interrupted run from `checkpoint` exactly as if it had never stopped.

    The checkpoint is judged by `check(path, meta)` (is it of this model? `train/provenance.Expected`) where
    given, else its spec hash against `expect_spec_hash`, or else against `run.spec_hash`.
    """
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    expected = None if check is not None else expect_spec_hash or (run.spec_hash if run is not None else None)
    done, history = restore(method, checkpoint, rng, expected, check)
    return fit(method, train, validation, config, run, rng, done, history, quiet, on_epoch)
