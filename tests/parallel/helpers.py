"""Run `nngraph train` in one process or under `mpiexec -n N`, and read what the run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 240  # a job that hangs in a collective fails the test instead of blocking the suite


def mpiexec() -> Path:
    """The `mpiexec` of the `mpi` extra, beside this Python. Tests skip only where mpi4py is not installed;
    where it is (CI installs the extra) a missing launcher is a failure."""
    pytest.importorskip("mpi4py")
    launcher = Path(sys.executable).parent / "mpiexec"
    assert launcher.exists(), f"mpi4py is installed but {launcher} is not: install the `mpi` extra (mpich)"
    return launcher


@dataclass
class Run:
    code: int
    out: str
    err: str
    folder: Path

    def records(self) -> list[dict]:
        return [json.loads(line) for line in (self.folder / "metrics.jsonl").read_text().splitlines()]

    def final(self) -> dict[str, float]:
        """summary.json's last metrics: the final validation, test and training-split evaluations."""
        return self.summary()["final"]

    def params(self) -> dict[str, np.ndarray]:
        """The final parameters, and the buffers beside them (batch normalisation's running moments, a DBN's
        generative biases)."""
        with np.load(self.folder / "checkpoint.npz") as saved:
            return {k: saved[k] for k in saved.files if k.startswith(("params.", "buffers.", "dbn."))}

    def summary(self) -> dict:
        return json.loads((self.folder / "summary.json").read_text())


def command(ranks: int, *args) -> list[str]:
    python = [sys.executable, "-m", "nngraph.cli", *map(str, args)]
    return python if ranks == 1 else [str(mpiexec()), "-n", str(ranks), *python]


def run(ranks: int, *args, folder: Path) -> Run:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    done = subprocess.run(command(ranks, *args), capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          cwd=folder.parent)
    return Run(done.returncode, done.stdout, done.stderr, folder)


def train(ranks: int, spec: Path, folder: Path, *more) -> Run:
    result = run(ranks, "train", spec, "--out", folder, "--threads", "1", *more, folder=folder)
    assert result.code == 0, result.err
    return result
