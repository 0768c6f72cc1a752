"""`nngraph inspect`: one table per model (units, shapes, parameters, FLOPs), then totals."""

from __future__ import annotations

from nngraph.errors import plural
from nngraph.graph.check import CheckedSpec
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.graph.shapes import total_parameters, unit_flops, unit_parameters
from nngraph.viz.labels import kind_text


def describe_unit(unit: UnitSpec) -> str:
    """The word the drawing shows (`viz.labels.kind_text`, so `inspect` and `viz` agree), with what a table has
    room for: an activation's options, a sample unit's parameters."""
    if unit.role == "sample":
        return f"~ {unit.distribution}({', '.join(unit.sample_params)})"
    if not unit.activation_args:
        return kind_text(unit)
    args = ", ".join(f"{k}={v}" for k, v in unit.activation_args)
    return f"{unit.activation}({args})" + (f", dropout {unit.dropout:g}" if unit.dropout else "")


def describe_edge(edge: EdgeSpec) -> str:
    arrow = "<->" if edge.symmetric else "<-"
    text = f"{arrow} {edge.source}"
    if edge.kind not in ("dense", "symmetric"):
        opts = ", ".join(f"{k}={v}" for k, v in edge.options if v is not None)
        text += f" {edge.kind}" + (f"({opts})" if opts else "")
    if edge.delay:
        text += f" delay {edge.delay}"
    return text


def model_rows(model: ModelGraph) -> list[tuple[str, ...]]:
    rows = []
    for unit in model.units:
        edges = model.incoming(unit.name)
        shape = model.shapes.get(unit.name)
        rows.append((
            unit.name, unit.role, str(list(shape)) if shape else "?", describe_unit(unit),
            ", ".join(describe_edge(e) for e in edges) or "-",
            f"{unit_parameters(model, unit.name):,}", f"{unit_flops(model, unit.name):,}",
        ))
    return rows


def print_tables(checked: CheckedSpec) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.on_broken_pipe = _broken_pipe  # rich would exit 1 itself; `nngraph.cli.run` says 141 for everyone
    for model in checked.models.values():
        table = Table(title=f"model {model.name}", title_justify="left")
        for col, justify in (("unit", "left"), ("role", "left"), ("shape", "left"), ("activation / kind", "left"),
                             ("inputs", "left"), ("parameters", "right"), ("FLOPs", "right")):
            table.add_column(col, justify=justify)
        for row in model_rows(model):
            table.add_row(*row)
        console.print(table)
        flops = sum(unit_flops(model, u) for u in model.graph.nodes)
        step = " per time step" if model.is_recurrent else ""
        console.print(f"total: {plural(total_parameters(model), 'parameter')}, {flops:,} forward FLOPs per example"
                      f"{step}\n")


def _broken_pipe() -> None:
    raise BrokenPipeError("stdout's reader went away")
