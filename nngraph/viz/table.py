"""A model as the rows of `nngraph inspect`'s table (units, roles, shapes, kinds, inputs, parameters, FLOPs): what
the command line prints with rich and a notebook shows as HTML (`viz/notebook.py`)."""

from __future__ import annotations

from nngraph.errors import plural
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.graph.shapes import total_parameters, unit_flops, unit_parameters
from nngraph.viz.labels import kind_text

# (heading, alignment) of each column of `model_rows`
COLUMNS = (("unit", "left"), ("role", "left"), ("shape", "left"), ("activation / kind", "left"),
           ("inputs", "left"), ("parameters", "right"), ("FLOPs", "right"))


def describe_unit(unit: UnitSpec) -> str:
    """The word the drawing shows (`viz.labels.kind_text`, so `inspect` and `viz` agree), with what a table has
    room for: an activation's options, a sample unit's parameters and learned prior."""
    if unit.role == "sample":
        prior = f", prior mixture({unit.prior_components})" if unit.prior_components else ""
        return f"~ {unit.distribution}({', '.join(unit.sample_params)}){prior}"
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


def model_totals(model: ModelGraph) -> str:
    """The line under a model's table: its parameters and forward FLOPs."""
    flops = sum(unit_flops(model, u) for u in model.graph.nodes)
    step = " per time step" if model.is_recurrent else ""
    return f"total: {plural(total_parameters(model), 'parameter')}, {flops:,} forward FLOPs per example{step}"
