"""Run the `nngraph` command in-process (fast) or as a real subprocess (what a user runs)."""

import contextlib
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from nngraph.cli import main

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def run_cli(*args) -> Result:
    """`nngraph ARGS` through `nngraph.cli.main`, the way the console script calls it."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["nngraph", *map(str, args)]), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def run_subprocess(*args, cwd: Path = REPO) -> Result:
    done = subprocess.run([sys.executable, "-m", "nngraph.cli", *map(str, args)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
