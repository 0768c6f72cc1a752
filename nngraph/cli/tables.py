"""`nngraph inspect`: one table per model (units, shapes, parameters, FLOPs), then totals.

The tables are drawn here, a line per row, in rich's heavy-headed box style: rich's Table measured and wrapped every
cell through its renderables (~0.6 ms a row), so a model of 20,000 units took 12 s to print."""

from __future__ import annotations

import sys

from nngraph.graph.check import CheckedSpec
from nngraph.viz.table import COLUMNS, describe_edge, describe_unit, model_rows, model_totals  # noqa: F401 (API)


def print_tables(checked: CheckedSpec) -> None:
    out = sys.stdout
    for model in checked.models.values():
        out.write(f"model {model.name}\n")
        out.write(table_text([heading for heading, _ in COLUMNS], model_rows(model),
                             [justify for _, justify in COLUMNS]))
        out.write(model_totals(model) + "\n\n")
    out.flush()


def table_text(headings: list[str], rows: list[tuple[str, ...]], justify: list[str]) -> str:
    """The table as text: a heavy header box, a light one for the rows, each column as wide as its widest cell
    (cells are not wrapped: a wide table is wide), right-justified columns padded on the left."""
    from rich.cells import cell_len  # a wide character takes two columns

    widths = [max(cell_len(cell) for cell in column) for column in zip(headings, *rows)]

    def line(cells, bar: str) -> str:
        padded = (_pad(cell, width, cell_len(cell), side) for cell, width, side in zip(cells, widths, justify))
        return f"{bar} " + f" {bar} ".join(padded) + f" {bar}\n"

    def rule(left: str, fill: str, joint: str, right: str) -> str:
        return left + joint.join(fill * (width + 2) for width in widths) + right + "\n"

    return "".join((rule("┏", "━", "┳", "┓"), line(headings, "┃"), rule("┡", "━", "╇", "┩"),
                    *(line(row, "│") for row in rows), rule("└", "─", "┴", "┘")))


def _pad(cell: str, width: int, length: int, side: str) -> str:
    room = " " * (width - length)
    return room + cell if side == "right" else cell + room
