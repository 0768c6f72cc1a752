"""A run's folder: metrics.jsonl, summary.json, checkpoint.npz and curves.png.

    runs/xor-20240501-093000/      (or the folder given with --out)
        metrics.jsonl    one JSON object per epoch, appended and flushed as training goes
        checkpoint.npz   the latest checkpoint (see checkpoint.py)
        summary.json     final metrics, epochs, wall time, spec hash, seed, versions
        curves.png       training curves, when nngraph.viz can draw them
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import nngraph
from nngraph.errors import TrainingError

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
CURVES_FILE = "curves.png"


def spec_hash(text: str) -> str:
    """The identity of a spec: the first 16 hex digits of the sha256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class RunDir:
    """Where one training run writes; `spec_hash` goes into every checkpoint it holds."""

    path: Path
    spec_hash: str | None = None

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    def open_metrics(self, earlier: list[dict] = ()) -> MetricsLog:
        """metrics.jsonl started afresh with the `earlier` records (a resumed run's history),
        so epochs redone after a crash, or an old run in a reused --out folder, leave no trace."""
        log = MetricsLog(self.metrics)
        for record in earlier:
            log.write(record)
        return log

    def write_summary(self, summary: dict) -> Path:
        """summary.json, replaced whole (a reader never sees half of it)."""
        target = self.path / SUMMARY_FILE
        tmp = target.with_name(f".{SUMMARY_FILE}.tmp")
        tmp.write_text(json.dumps(_finite(summary), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return target

    def finish(self, records: list[dict], summary: dict) -> None:
        """The end-of-run files: summary.json and curves.png."""
        self.write_summary(summary)
        self.plot_curves(records)

    def plot_curves(self, records: list[dict]) -> Path:
        """curves.png: loss and metrics per epoch (matplotlib, imported only here)."""
        from nngraph.viz import plot_curves

        target = self.path / CURVES_FILE
        plot_curves(records, target)
        return target


class MetricsLog:
    """metrics.jsonl kept open for a run; each line is flushed so a crash loses at most one."""

    def __init__(self, path: Path):
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by __exit__)

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(_finite(record)) + "\n")
        self.file.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def _finite(value):
    """NaN and inf as null, so the files are strict JSON that any reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def make_run_dir(spec_path: str | Path | None = None, out: str | Path | None = None,
                 root: str | Path = "runs", spec_text: str | None = None,
                 now: float | None = None) -> RunDir:
    """`out` (created if needed, reused if there), else a fresh `root/<spec-stem>-<timestamp>[-n]`."""
    digest = spec_hash(spec_text) if spec_text is not None else None
    if out is not None:
        return RunDir(_create(Path(out), exist_ok=True), digest)
    stem = Path(spec_path).stem if spec_path else "run"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = Path(root) / f"{stem}-{stamp}"
    for n in range(1, 1000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            return RunDir(_create(candidate, exist_ok=False), digest)
        except FileExistsError:
            continue  # another run started in the same second
    raise TrainingError(f"could not find a free run folder name next to {base}")


def _create(folder: Path, exist_ok: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"output folder {folder} is a file", hint="give --out a folder path")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(exist_ok=exist_ok)
    except FileExistsError:
        raise  # make_run_dir tries the next name
    except OSError as e:
        raise TrainingError(f"cannot create the output folder {folder} ({e.strerror})") from e
    return folder


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "nngraph": nngraph.__version__}


def summarize(history, *, spec_hash: str | None, seed: int, backend: str, dtype: str,
              wall_time: float, test: dict[str, float] | None = None) -> dict:
    """summary.json's content: the final epoch's train and validation metrics, plus provenance."""
    last = _final_record(history)
    train = {k: v for k, v in last.items() if k not in ("epoch", "lr", "time") and not k.startswith("val_")}
    validation = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    return {
        "train": train, "validation": validation, "test": dict(test or {}),
        "epochs_run": len(history.records), "stopped_early": history.stopped_early,
        "best_epoch": history.best_epoch, "wall_time_s": round(wall_time, 3),
        "spec_hash": spec_hash, "seed": seed, "backend": backend, "dtype": dtype,
        "versions": versions(),
    }


def _final_record(history) -> dict:
    """The epoch whose parameters the run ends with: the best one when early stopping restored it."""
    if history.best_epoch is not None:
        for record in history.records:
            if record.get("epoch") == history.best_epoch:
                return record
    return history.records[-1] if history.records else {}
