"""Training progress on stderr: epoch i/N, loss and metrics, time.

On a terminal, a live bar; in a Jupyter notebook too, where ipywidgets is installed (rich draws its live display
with them). Elsewhere (a pipe, a CI log, a batch job) no control codes: a plain line for the
first epoch, then at most one every LINE_SECONDS, and one for the last, as pip and tqdm do. Nothing when
`quiet`.
"""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

SHOWN_METRICS = 4  # more than this makes the line wrap on an 80-column terminal
LINE_SECONDS = 5.0  # without a terminal: the most often a progress line is printed


def format_metrics(metrics: dict[str, float], limit: int = SHOWN_METRICS) -> str:
    """`loss 0.1234  val_loss 0.2345`: the losses first, then the others in their order."""
    names = sorted(metrics, key=lambda k: ("loss" not in k, list(metrics).index(k)))
    return "  ".join(f"{k} {_number(metrics[k])}" for k in names[:limit])


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel, detected as rich (and tqdm) detect it: IPython's shell class."""
    return Console().is_jupyter


def _live_in(console: Console) -> bool:
    """A notebook that can show a live bar: rich needs ipywidgets there (without, it warns at every update)."""
    if not console.is_jupyter:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class TrainingProgress:
    """A context manager; call `epoch_done(epoch, metrics)` after each epoch (epochs from 1).
    `mode`: "bar" (a terminal), "lines" (anything else) or "off" (quiet)."""

    def __init__(self, epochs: int, start_epoch: int = 0, quiet: bool = False,
                 console: Console | None = None, clock=time.monotonic):
        self.console = console or Console(stderr=True)
        self.mode = "off" if quiet else "bar" if self.console.is_terminal or _live_in(self.console) else "lines"
        self.epochs, self.start_epoch = epochs, start_epoch
        self._bar: Progress | None = None
        self._task = None
        self._clock = clock
        self._started = self._last_line = clock()
        self._lines = 0

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def __enter__(self):
        if self.mode == "bar":
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
        elif self.mode == "lines" and self._line_due(epoch):
            now = self._clock()
            self._last_line, self._lines = now, self._lines + 1
            line = f"epoch {epoch}/{self.epochs}  {format_metrics(metrics)}  ({now - self._started:.1f}s)"
            print(line, file=self.console.file, flush=True)

    def _line_due(self, epoch: int) -> bool:
        return self._lines == 0 or epoch == self.epochs or self._clock() - self._last_line >= LINE_SECONDS

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
