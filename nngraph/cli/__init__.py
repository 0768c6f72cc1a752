"""The `nngraph` command line.

`main` is the console script, `python -m nngraph` and `python -m nngraph.cli`. A plain `nngraph check FILE...`
(the most frequent call) runs `check.check_files` at once, without importing typer, rich or anything numeric
beyond what checking needs (`benchmarks/check_speed.py` measures it); every other command goes on to the
typer app in `app.py`, which imports the heavy modules inside the commands that need them.

    check.py      check_files: one ok line per model, or the errors
    formatting.py format_files: `fmt`, the canonical layout with the comments kept
    render.py     diagnostics as compilers print them (`path:line:col: error: ...`, the line, a caret, a hint)
    tables.py     inspect's table of units
    help.py       help pages in plain text
    common.py     the options the commands share, and loading a spec
    app.py        the typer app, the spec commands (check, inspect, viz, convert), its outcomes -> exit codes
    training.py   the commands around training: train, eval, predict, sample, export
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Every exit code the command uses, for `--help` and the README.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 0, 1, 2, 70, 130, 141
EXIT_CODES = (
    (EXIT_OK, "success"),
    (EXIT_ERROR, "an error in the spec, the data, a checkpoint or an output path, or training that had to stop; "
                 "a dependency not installed"),
    (EXIT_USAGE, "a usage error: an unknown command or option, a missing or malformed argument"),
    (EXIT_INTERNAL, "an internal error: a bug in nngraph (please report it)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); `train` first writes a checkpoint to resume from"),
    (EXIT_PIPE_CLOSED, "the output's reader stopped early (`nngraph check *.nn | head`), as for SIGPIPE"),
)

MAX_TERMINAL_DIGITS = 6  # COLUMNS and LINES: a terminal of a million columns is none

# the modules of pyproject's `dependencies`, by the distribution that brings each: one missing means an install
# that went wrong (or a checkout run without installing), not a bug
REQUIRED_MODULES = {"numpy": "numpy", "lark": "lark", "yaml": "pyyaml", "networkx": "networkx", "typer": "typer",
                    "rich": "rich", "matplotlib": "matplotlib", "threadpoolctl": "threadpoolctl"}


def main() -> None:
    """The console script: `check` with only file arguments runs here; everything else goes to typer."""
    sys.exit(run(sys.argv[1:]))


def run(args: list[str]) -> int:
    """The exit code of `nngraph ARGS`. Ctrl-C and anything unexpected end here, on every path, never as a
    traceback."""
    _ignore_impossible_terminal_size()
    try:
        if len(args) > 1 and args[0] == "check" and not any(a.startswith("-") for a in args[1:]):
            from nngraph.cli.check import check_files

            return check_files([Path(a) for a in args[1:]])
        from nngraph.cli.app import run_app

        return run_app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _pipe_closed()
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in REQUIRED_MODULES:
            return _internal_error(e)
        print(f"error: nngraph needs the package '{REQUIRED_MODULES[e.name.split('.')[0]]}', which is not installed "
              f"for {sys.executable}\n  hint: install nngraph with pip (`pip install nngraph`, or `pip install -e .` "
              "in a checkout): it installs what nngraph needs", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the last line of defence against a traceback
        return _internal_error(e)


def _ignore_impossible_terminal_size() -> None:
    """COLUMNS or LINES of more digits than any terminal has: rich reads a run of digits with int(), which
    refuses more than 4,300 of them (COLUMNS=111...1 ended the first progress bar of a run in 'internal error:
    ValueError: Exceeds the limit', exit 70, its run folder half made); without them the terminal says its size."""
    for name in ("COLUMNS", "LINES"):
        if len(os.environ.get(name, "")) > MAX_TERMINAL_DIGITS:
            del os.environ[name]


def _internal_error(e: BaseException) -> int:
    print(f"internal error: {type(e).__name__}: {e}\n  hint: this is a bug in nngraph; please report it "
          "with the spec that caused it", file=sys.stderr)
    return EXIT_INTERNAL


def _pipe_closed() -> int:
    """The reader of stdout went away (`| head`): stop quietly, as `cat` and `git` do. Python would flush
    stdout again at exit and print a second BrokenPipeError, so stdout is pointed at /dev/null first."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no real file (a test's capture): nothing is flushed at exit
        pass
    return EXIT_PIPE_CLOSED
