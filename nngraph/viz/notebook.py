"""What Jupyter shows for a checked spec and a compiled Program: the drawing `nngraph viz` writes, and the table
`nngraph inspect` prints, as HTML.

`import nngraph` inside IPython calls `register` with the shell's display formatter, which then shows the two
classes by these functions (looked up by name: graph and compile never import viz, which sits above them).
Jupyter shows the richest representation an object has, HTML before SVG, so the HTML holds the drawing too; the
SVG alone serves the frontends that take pictures only (nbconvert to PDF, say)."""

from __future__ import annotations

from html import escape

from nngraph.graph.ir import ModelGraph
from nngraph.viz.canvas import layout_drawing
from nngraph.viz.drawing import build_drawing
from nngraph.viz.svg import scene_to_svg
from nngraph.viz.table import COLUMNS, model_rows, model_totals


def models_svg(models: list[ModelGraph]) -> str:
    """The models drawn as one SVG document (as `nngraph viz -o FILE.svg` draws them)."""
    return scene_to_svg(layout_drawing(build_drawing(list(models), None, False)))


def models_html(models: list[ModelGraph], note: str = "") -> str:
    """The drawing, then one table per model with its totals, and `note` (plain text) under them."""
    parts = [f"<div>{models_svg(models)}</div>"] + [model_table(m) for m in models]
    if note:
        parts.append(f"<p>{escape(note)}</p>")
    return "<div class=\"nngraph\">" + "\n".join(parts) + "</div>"


def model_table(model: ModelGraph) -> str:
    """`nngraph inspect`'s table of one model as an HTML table, its totals under it."""
    head = "".join(f"<th style=\"text-align:{align}\">{escape(name)}</th>" for name, align in COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td style=\"text-align:{align}\">{escape(cell)}</td>"
                                    for cell, (_, align) in zip(row, COLUMNS)) + "</tr>"
                   for row in model_rows(model))
    return (f"<table><caption style=\"text-align:left\">model {escape(model.name)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{escape(model_totals(model))}</p>")


def checked_svg(checked) -> str:
    return models_svg(list(checked.models.values()))


def checked_html(checked) -> str:
    return models_html(list(checked.models.values()))


def program_svg(program) -> str | None:
    """None for a Program made without its model (IPython then shows the next representation)."""
    return None if program.model is None else models_svg([program.model])


def program_html(program) -> str | None:
    if program.model is None:
        return None
    count = sum(int(a.size) for a in program.params.values())
    return models_html([program.model], f"compiled: {count:,} parameters on {program.backend.name}, "
                                        f"{program.backend.xp.dtype(program.backend.dtype).name}")


SHOWN = {  # (module, class name) -> what IPython shows of it, by MIME type
    ("nngraph.graph.check", "CheckedSpec"): {"image/svg+xml": checked_svg, "text/html": checked_html},
    ("nngraph.compile.program", "Program"): {"image/svg+xml": program_svg, "text/html": program_html},
}


def register(display_formatter) -> None:
    """Teach an IPython display formatter (`get_ipython().display_formatter`) to show the classes above."""
    for (module, name), shows in SHOWN.items():
        for mime, show in shows.items():
            display_formatter.formatters[mime].for_type_by_name(module, name, show)
