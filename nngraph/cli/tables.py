"""`nngraph inspect`: one table per model (units, shapes, parameters, FLOPs), then totals."""

from __future__ import annotations

from nngraph.graph.check import CheckedSpec
from nngraph.viz.table import COLUMNS, describe_edge, describe_unit, model_rows, model_totals  # noqa: F401 (API)


def print_tables(checked: CheckedSpec) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.on_broken_pipe = _broken_pipe  # rich would exit 1 itself; `nngraph.cli.run` says 141 for everyone
    for model in checked.models.values():
        table = Table(title=f"model {model.name}", title_justify="left")
        for col, justify in COLUMNS:
            table.add_column(col, justify=justify)
        for row in model_rows(model):
            table.add_row(*row)
        console.print(table)
        console.print(model_totals(model) + "\n")


def _broken_pipe() -> None:
    raise BrokenPipeError("stdout's reader went away")
