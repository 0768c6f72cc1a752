"""A progress line for training on the terminal: epoch i/N, loss and metrics, time left.

Silent when `quiet` or when the console is not a terminal (pipes, CI logs, tests), so
captured output never fills with control codes.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

SHOWN_METRICS = 4  # more than this makes the line wrap on an 80-column terminal


def format_metrics(metrics: dict[str, float], limit: int = SHOWN_METRICS) -> str:
    """`loss 0.1234  val_loss 0.2345`: the losses first, then the others in their order."""
    names = sorted(metrics, key=lambda k: ("loss" not in k, list(metrics).index(k)))
    return "  ".join(f"{k} {_number(metrics[k])}" for k in names[:limit])


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


class TrainingProgress:
    """A context manager; call `epoch_done(epoch, metrics)` after each epoch (epochs from 1)."""

    def __init__(self, epochs: int, start_epoch: int = 0, quiet: bool = False,
                 console: Console | None = None):
        self.console = console or Console()
        self.active = not quiet and self.console.is_terminal
        self.epochs, self.start_epoch = epochs, start_epoch
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self):
        if self.active:
            self._bar = Progress(
                TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                TextColumn("{task.fields[metrics]}"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.epochs, completed=self.start_epoch,
                                            metrics="")
        return self

    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=epoch, metrics=format_metrics(metrics))

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
