"""A reader that stops early (`nngraph check *.nn | head -1`) ends the command quietly with 141, as SIGPIPE
would, instead of an internal error and Python's second complaint at exit."""

import subprocess
import sys

import pytest

from nngraph.cli import EXIT_PIPE_CLOSED

from .helpers import REPO, SPECS


def _closed_early(*args) -> subprocess.CompletedProcess:
    """`nngraph ARGS` whose stdout is a pipe closed before the command writes to it."""
    code = ("import os, sys\n"
            "read, write = os.pipe()\n"
            "os.close(read)\n"  # nobody will read: the first write raises BrokenPipeError (SIGPIPE is ignored)
            "os.dup2(write, 1)\n"
            "from nngraph.cli import main\n"
            f"sys.argv = ['nngraph', *{list(map(str, args))!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("args", [("check", SPECS / "xor.nn", SPECS / "rbm_bars.nn"),  # the fast path
                                  ("inspect", SPECS / "xor.nn")])  # the typer app, through rich
def test_a_closed_pipe_ends_quietly_with_141(args):
    done = _closed_early(*args)
    assert done.returncode == EXIT_PIPE_CLOSED, done.stderr
    assert done.stderr == ""
