"""`nngraph check FILE...` as a plain function: the command line's most frequent call starts without typer."""

from __future__ import annotations

import sys
from pathlib import Path

from nngraph.errors import NngraphError


def check_files(paths: list[Path], out=None, err=None) -> int:
    """Print one ok line per model of each spec, or its errors; 0 when all are valid, else 1."""
    from nngraph.api import load
    from nngraph.graph.shapes import total_parameters
    from nngraph.render import render_diagnostic, render_error

    out, err = out or sys.stdout, err or sys.stderr
    failed = False
    for path in paths:
        try:
            checked = load(path)
        except NngraphError as e:
            print(render_error(e, warnings=getattr(e, "warnings", [])), file=err)
            failed = True
            continue
        for warning in checked.warnings:
            print(render_diagnostic(warning, {}), file=err)
        for model in checked.models.values():
            print(f"{path}: ok: model {model.name}: {model.graph.number_of_nodes()} units, "
                  f"{model.graph.number_of_edges()} connections, {total_parameters(model):,} parameters", file=out)
    return 1 if failed else 0


def main() -> None:
    """The console script: `check` with only file arguments runs here; everything else goes to typer."""
    args = sys.argv[1:]
    if len(args) > 1 and args[0] == "check" and not any(a.startswith("-") for a in args[1:]):
        sys.exit(check_files([Path(a) for a in args[1:]]))
    from nngraph.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
