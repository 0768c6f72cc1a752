"""What the commands share: the options they have in common, loading a spec, and the source texts read.

Every option names its value (`--out DIR`) and says what it does; `tests/cli/test_help.py` holds each to it.
"""

from __future__ import annotations

from pathlib import Path

import typer

from nngraph.cli.render import render_diagnostic

SPEC = typer.Argument(..., metavar="SPEC", help="spec file (.nn or .yaml)")
BACKEND = typer.Option("numpy", "--backend", metavar="NAME", help="numpy (CPU) or cupy (GPU)")
SET = typer.Option(None, "--set", metavar="KEY=VALUE", help="override a train setting: --set epochs=5 (repeatable)")
TRAIN = typer.Option(None, "--train", metavar="NAME", help="which train block, when the spec has several")
CHECKPOINT = typer.Option(..., "--checkpoint", metavar="FILE", help="checkpoint.npz of a training run")

# The spec texts this invocation has read, by path: errors found after loading (in the data setting, say)
# show their line from here instead of reading the file again. Emptied by `app.run` for each invocation.
SOURCES: dict[str, str] = {}


def load_spec(spec: Path, overrides=None, train=None, recorded=()):
    """Parse and check a spec (with the overrides a run `recorded`, then the `--set` ones); print its
    warnings; remember its text."""
    from nngraph.api import RECORDED_PATH, SET_PATH, load

    SOURCES[SET_PATH] = "\n".join(overrides or [])  # line i of `<--set>` is the i-th override
    SOURCES[RECORDED_PATH] = "\n".join(recorded)
    checked = load(spec, overrides or [], train, recorded)
    SOURCES[checked.spec.path] = checked.spec.source
    for warning in checked.warnings:
        typer.echo(render_diagnostic(warning, SOURCES), err=True)
    return checked
