"""Early stopping: watch one metric, keep the best parameters, stop after `patience` dull epochs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nngraph.backend import array_module
from nngraph.errors import TrainingError
from nngraph.train.optimizers import host_array


def mode_of(monitor: str) -> str:
    """'max' for accuracies (higher is better), 'min' for everything else (losses)."""
    return "max" if monitor.endswith("accuracy") else "min"


class EarlyStopping:
    """Counts epochs without an improvement of more than `min_delta` in `monitor`.

    The best parameters are copied (on their device) whenever the metric improves, and
    `restore` writes them back into the live parameters in place. A non-finite value never
    counts as an improvement.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 mode: str | None = None):
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = mode or mode_of(monitor)
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_params: dict[str, Any] | None = None

    def improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch: int, metrics: dict[str, float], params: dict[str, Any]) -> bool:
        """Record epoch `epoch`'s metrics; True when training should stop now."""
        if self.monitor not in metrics:
            raise TrainingError(f"early_stopping monitors '{self.monitor}', which this training does "
                                f"not report", hint="it reports " + ", ".join(sorted(metrics)))
        value = float(metrics[self.monitor])
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_params = {name: p.copy() for name, p in params.items()}
        else:
            self.wait += 1
        return self.wait >= self.patience

    def restore(self, params: dict[str, Any]) -> bool:
        """Write the best parameters back into `params` in place; False if none were kept."""
        if self.best_params is None:
            return False
        for name, best in self.best_params.items():
            params[name][...] = best
        return True

    # ---- checkpointing: progress as JSON for meta, best parameters as arrays ----

    def progress(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def best_state(self) -> dict[str, np.ndarray]:
        return {name: host_array(array_module(p), p) for name, p in (self.best_params or {}).items()}

    def load(self, progress: dict, best_state: dict[str, np.ndarray], params: dict[str, Any]) -> None:
        """Continue from `progress()` and `best_state()`; arrays go where `params` live."""
        self.best, self.best_epoch, self.wait = progress["best"], progress["best_epoch"], progress["wait"]
        if best_state:
            self.best_params = {name: _like(params[name], a) for name, a in best_state.items()}


def _like(target, host: np.ndarray):
    """A copy of `host` on the device and in the dtype of `target`."""
    copy = target.copy()
    copy[...] = array_module(target).asarray(host)
    return copy
