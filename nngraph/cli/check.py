"""`nngraph check FILE...` as a plain function: the command line's most frequent call starts without typer."""

from __future__ import annotations

import sys
from pathlib import Path

from nngraph.errors import NngraphError, plural


def check_files(paths: list[Path], out=None, err=None) -> int:
    """Print one ok line per model of each spec, or its errors; 0 when all are valid, else 1."""
    from nngraph.api import load
    from nngraph.cli.render import render_diagnostic, render_error
    from nngraph.graph.shapes import total_parameters

    out, err = out or sys.stdout, err or sys.stderr
    failed = False
    for path in paths:
        try:
            checked = load(path)
        except NngraphError as e:
            print(render_error(e, warnings=getattr(e, "warnings", [])), file=err)
            failed = True
            continue
        sources = {checked.spec.path: checked.spec.source}
        for warning in checked.warnings:
            print(render_diagnostic(warning, sources), file=err)
        for model in checked.models.values():
            graph = model.graph
            print(f"{path}: ok: model {model.name}: {plural(graph.number_of_nodes(), 'unit')}, "
                  f"{plural(graph.number_of_edges(), 'connection')}, "
                  f"{plural(total_parameters(model), 'parameter')}", file=out)
    return 1 if failed else 0
