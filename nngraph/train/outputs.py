"""A run's folder: metrics.jsonl, summary.json, checkpoint.npz and curves.png.

    runs/xor-20240501-093000/      (or the folder given with --out)
        metrics.jsonl    one JSON object per epoch, appended and flushed as training goes
        checkpoint.npz   the latest checkpoint (see checkpoint.py)
        summary.json     final metrics, epochs, wall time, spec hash, seed, versions
        curves.png       training curves, when nngraph.viz can draw them
        spec.nn          the spec as trained, its text as it was (spec.yaml for a YAML spec)
        run.json         how the run was made: the train block, the --set overrides, every setting as trained,
                         the model's structure, the data's preprocessing (also in every checkpoint's meta)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None

import numpy as np

import nngraph
from nngraph.atomic import (
    atomic_write_text,
    cannot_write,
    prepare_folder,
    prepare_output,
    refuse_overwriting,
    special_kind,
)
from nngraph.errors import OutputError, TrainingError
from nngraph.graph.vocabulary import RUNNING

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
CURVES_FILE = "curves.png"
RUN_FILE = "run.json"
SPEC_COPIES = {"nn": "spec.nn", "yaml": "spec.yaml"}  # by the spec's surface
RUN_FILES = (METRICS_FILE, CHECKPOINT_FILE, SUMMARY_FILE, CURVES_FILE, RUN_FILE, *SPEC_COPIES.values())


def spec_hash(text: str) -> str:
    """The identity of a spec: the first 16 hex digits of the sha256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class RunDir:
    """Where one training run writes; `spec_hash`, `record` (how the run was made: train/provenance.py) and
    `arrays` (the data's preprocessing statistics) go into every checkpoint it holds."""

    path: Path
    spec_hash: str | None = None
    record: dict | None = None
    arrays: dict = field(default_factory=dict)

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

    def record_start(self, spec_text: str, surface: str, record: dict, arrays: dict | None = None) -> None:
        """At the start of training: the spec's text as trained (spec.nn or spec.yaml) and run.json, each
        written whole; `record` and `arrays` then go into every checkpoint."""
        self.record, self.arrays = record, dict(arrays or {})
        atomic_write_text(self.path / SPEC_COPIES[surface], spec_text)
        for other in set(SPEC_COPIES.values()) - {SPEC_COPIES[surface]}:  # a resumed run's spec in another surface
            (self.path / other).unlink(missing_ok=True)
        atomic_write_text(self.path / RUN_FILE, json.dumps({**_finite(record), "spec_hash": self.spec_hash},
                                                           indent=2, sort_keys=True) + "\n")

    def write_summary(self, summary: dict) -> Path:
        """summary.json, replaced whole (a reader never sees half of it)."""
        target = self.path / SUMMARY_FILE
        atomic_write_text(target, json.dumps(_finite(summary), indent=2, sort_keys=True) + "\n")
        return target

    def finish(self, records: list[dict], summary: dict) -> None:
        """The end-of-run files: summary.json and curves.png (none when no epoch was trained: `epochs 0`)."""
        self.write_summary(summary)
        if records:
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
        # a folder, FIFO or device there is an OutputError (a FIFO blocked `train --resume` forever); what is there
        # otherwise is unlinked, not truncated, so a link to another file (the spec) leaves that file whole
        prepare_output(path).unlink(missing_ok=True)
        self.path = path
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by __exit__)

    def write(self, record: dict) -> None:
        """A full disk (or a file size limit) is an OutputError, as for the run's other files (it was exit 70)."""
        try:
            self.file.write(json.dumps(_finite(record)) + "\n")
            self.file.flush()
        except OSError as e:
            raise cannot_write(self.path, e) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.file.close()  # flushes what a failed write left in the buffer: it fails again
        except OSError as e:
            if exc[0] is None:
                raise cannot_write(self.path, e) from None


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
                 now: float | None = None, *, resume: bool = False, overwrite: bool = False,
                 inputs: dict | None = None) -> RunDir:
    """`out`, else a fresh `root/<spec-stem>-<timestamp>[-n]`.

    `out` is created if needed. A folder that already holds a run is refused unless it is to be continued
    (`resume`: it must hold a checkpoint) or replaced (`overwrite`: its run files are deleted first, so no
    stale checkpoint outlives the new metrics), and never where one of those files is one the run reads
    (`inputs`: what each is -> its path: the spec, the training data)."""
    digest = spec_hash(spec_text) if spec_text is not None else None
    if resume:
        return RunDir(_locked(_run_to_resume(Path(out))), digest)
    if out is not None:
        folder = _locked(_create(Path(out), exist_ok=True))
        _clear_or_refuse(folder, overwrite, inputs or {})
        return RunDir(folder, digest)
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
        raise OutputError(f"output folder {folder} is a file", None, "give --out a folder path")
    prepare_folder(folder.parent)
    try:
        folder.mkdir(exist_ok=exist_ok)
    except FileExistsError:
        raise  # make_run_dir tries the next name
    except OSError as e:
        raise OutputError(f"cannot create the output folder {folder}: {e.strerror}") from None
    return prepare_folder(folder)  # and writable


def _clear_or_refuse(folder: Path, overwrite: bool, inputs: dict) -> None:
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if not found:
        return
    if not overwrite:
        raise OutputError(f"{folder} already holds a training run ({', '.join(found)}); it is left as it is",
                          None, f"continue it with --resume {folder}, replace it with --overwrite, "
                                "or choose another --out")
    # what `sample` wrote there by default (samples.png, samples_filters.png, ...) was the old run's
    stem, suffix = Path(SAMPLES_FILE).stem, Path(SAMPLES_FILE).suffix
    found += sorted(p.name for p in folder.glob(f"{stem}*{suffix}")
                    if p.name == SAMPLES_FILE or p.name.startswith(f"{stem}_"))
    for name in found:  # all judged before any is deleted
        refuse_overwriting(folder / name, inputs, "move it out of the run folder, or choose another --out",
                           f"--overwrite would delete it with the run files in {folder}; nothing was deleted")
    for name in found:
        try:
            (folder / name).unlink()
        except OSError as e:
            raise OutputError(f"cannot replace the run in {folder}: {name}: {e.strerror}") from None


_HELD: dict[Path, int] = {}  # the run folders this process writes, each locked until its run ends


def _locked(folder: Path) -> Path:
    """`folder`, which one process writes at a time: two runs given the same --out (with --overwrite, or both
    before either had written) each deleted the other's files and wrote their own, leaving one run's metrics
    beside the other's summary. An flock on the folder itself, held until the run ends (`release_run_folders`)
    or the process does: a killed run leaves no stale lock. Where folders cannot be locked, nothing is."""
    key = folder.resolve()
    if key in _HELD or fcntl is None:
        return folder
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return folder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputError(f"{folder} is being written by another training run; it is left as it is", None,
                          "wait for that run to end, or choose another --out") from None
    except OSError:  # a file system without locks
        os.close(fd)
        return folder
    _HELD[key] = fd
    return folder


def release_run_folders() -> None:
    """Unlock the run folders this process locked (its run ended, however)."""
    while _HELD:
        os.close(_HELD.popitem()[1])


def _run_to_resume(folder: Path) -> Path:
    checkpoint = folder / CHECKPOINT_FILE
    if checkpoint.is_file():
        return prepare_folder(folder)
    if checkpoint.exists():  # a folder or a FIFO there was "the run stopped before its first checkpoint"
        kind = "a folder" if checkpoint.is_dir() else special_kind(checkpoint)
        raise TrainingError(f"nothing to resume: {checkpoint} is {kind}, not a checkpoint", None,
                            "give --resume the folder of an earlier run")
    if (folder / METRICS_FILE).is_file():
        raise TrainingError(f"nothing to resume in {folder}: the run stopped before its first checkpoint",
                            None, "start it again with --overwrite")
    raise TrainingError(f"nothing to resume: {checkpoint} does not exist",
                        None, "give --resume the folder of an earlier run")


SAMPLES_FILE = "samples.png"


def sample_path(request: dict) -> Path:
    """Where `nngraph sample` writes: `-o`, else samples.png in the run folder of the checkpoint
    (`request["run_folder"]`), beside what the run wrote, not in whatever folder the command ran from."""
    if request.get("output"):
        return Path(request["output"])
    return Path(request.get("run_folder") or ".") / SAMPLES_FILE


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "nngraph": nngraph.__version__}


def summarize(history, *, spec_hash: str | None, seed: int, backend: str, dtype: str,
              wall_time: float, test: dict[str, float] | None = None,
              train: dict[str, float] | None = None) -> dict:
    """summary.json's content: the metrics of the parameters the run ends with on each split, measured in
    eval mode as `nngraph eval` measures them (`train`, `validation`, `test`), the final epoch's running
    figures (`train_running`: averaged over its steps, dropout on), plus provenance.
    `epochs_run` counts the run's epochs, `resumed_from_epoch` those done before this call (0 when it
    started the run); `wall_time_s` is this call's."""
    last = _final_record(history)
    running = {k[: -len(RUNNING)]: v for k, v in last.items() if k.endswith(RUNNING)}
    validation = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    return {
        "train": dict(train or {}), "train_running": running, "validation": validation, "test": dict(test or {}),
        "epochs_run": len(history.records), "resumed_from_epoch": history.resumed_from,
        "stopped_early": history.stopped_early,
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
