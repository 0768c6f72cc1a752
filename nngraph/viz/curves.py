"""Training curves: one panel for every loss, one per other metric family, train and held-out together.
The training split's line is the epoch's running figure (`loss_running`, solid), the held-out ones are measured
in eval mode at the end of each epoch (`val_loss`, dashed)."""

from __future__ import annotations

import math
from pathlib import Path

from nngraph.errors import DataError
from nngraph.graph.vocabulary import RUNNING
from nngraph.viz.output import PLOT_SUFFIXES, new_figure, output_path, save_figure

SPLITS = ("val", "test", "train")  # key prefixes naming the data a metric was measured on
SPLIT_STYLE = {"train": "-", "val": "--", "test": ":"}
PANEL_SIZE = (5.0, 3.4)  # inches
COLUMNS = 2
# values drawn beyond this size are drawn at it: matplotlib's axis margins and log ticks overflow float64 near 1e300
# (a diverged loss of 1e306 was an internal error), and no curve is read at such sizes anyway
PLOT_LIMIT = 1e100


def split_key(key: str) -> tuple[str, str]:
    """'val_accuracy' -> ('accuracy', 'val'); 'loss_running' (the epoch's running figure) and 'loss' ->
    ('loss', 'train')."""
    if key.endswith(RUNNING) and len(key) > len(RUNNING):
        key = key[: -len(RUNNING)]
    for split in SPLITS:
        if key.startswith(split + "_") and len(key) > len(split) + 1:
            return key[len(split) + 1 :], split
    return key, "train"


def metric_panels(history: list[dict]) -> dict[str, list[str]]:
    """Panel title -> the history keys drawn on it; every key ending in 'loss' shares the 'loss' panel."""
    panels: dict[str, list[str]] = {}
    for key in _numeric_keys(history):
        family, _ = split_key(key)
        panels.setdefault("loss" if family.endswith("loss") else family, []).append(key)
    return dict(sorted(panels.items(), key=lambda kv: kv[0] != "loss"))


def _numeric_keys(history: list[dict]) -> list[str]:
    keys = dict.fromkeys(k for row in history for k in row if k not in ("epoch", "time"))  # time: a clock, not a curve
    return [k for k in keys if any(_number(row.get(k)) is not None for row in history)]


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:  # numpy scalars and 0-d arrays
            value = float(value)
        except (TypeError, ValueError):
            return None
    return float(value)


def _check_history(history) -> None:
    if not isinstance(history, (list, tuple)) or not all(isinstance(row, dict) for row in history):
        raise DataError(
            f"history: expected a list of per-epoch dicts, got {type(history).__name__}",
            None,
            "pass trainer history such as [{'epoch': 1, 'loss': 0.7}, ...]",
        )
    if not history:
        raise DataError(
            "history is empty: there is nothing to plot", None, "train for at least one epoch"
        )


def plot_curves(history: list[dict], path: str | Path) -> Path:
    """One panel per metric family (all losses on one), each split (train, val, test) with its own line style."""
    _check_history(history)
    path = output_path(path, PLOT_SUFFIXES, "training curves")
    panels = metric_panels(history)
    if not panels:
        raise DataError(
            "history has no numeric metric to plot", None, "each epoch's dict needs e.g. 'loss'"
        )
    rows = math.ceil(len(panels) / COLUMNS)
    columns = min(COLUMNS, len(panels))
    figure = new_figure(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for n, (title, keys) in enumerate(panels.items()):
        _panel(figure.add_subplot(rows, columns, n + 1), title, keys, epochs, history)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def _clamped(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return value
    return max(-PLOT_LIMIT, min(PLOT_LIMIT, value))


def _panel(ax, title: str, keys: list[str], epochs: list, history: list[dict]) -> None:
    colours, clipped = {}, False
    for key in keys:
        family, split = split_key(key)
        colour = colours.setdefault(family, f"C{len(colours)}")
        values = [_number(row.get(key)) for row in history]
        clipped |= any(v is not None and math.isfinite(v) and abs(v) > PLOT_LIMIT for v in values)
        values = [_clamped(v) for v in values]
        ax.plot(
            epochs,
            [math.nan if v is None else v for v in values],
            SPLIT_STYLE[split],
            color=colour,
            label=key,
            marker="o" if len(history) == 1 else None,
        )
    finite = [
        _clamped(v)
        for key in keys
        for row in history
        if (v := _number(row.get(key))) is not None and math.isfinite(v)
    ]
    if title == "loss" and finite and min(finite) > 0 and max(finite) / min(finite) > 50:
        ax.set_yscale(
            "log"
        )  # losses fall over decades; a linear axis hides all but the first epochs
    ax.set_title(title + (f" (drawn at most {PLOT_LIMIT:.0e} in size)" if clipped else ""))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
