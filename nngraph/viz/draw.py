"""`draw_models`: the one entry point for model drawings, choosing the writer by the file's suffix."""

from __future__ import annotations

from pathlib import Path

from nngraph.atomic import atomic_write_text
from nngraph.graph.ir import ModelGraph
from nngraph.viz.canvas import layout_drawing
from nngraph.viz.dot import drawing_to_dot
from nngraph.viz.drawing import build_drawing
from nngraph.viz.output import output_path
from nngraph.viz.svg import scene_to_svg

DRAWING_SUFFIXES = (".svg", ".png", ".dot")


def draw_models(
    models: list[ModelGraph], path: str | Path, unroll: int | None = None, expand: bool = False
) -> Path:
    """Draw the models to `path` (.svg, .png or .dot); with `unroll=T`, recurrent models over T steps.

    A `repeat=` stack is drawn as one box standing for its copies; `expand=True` draws every unit.
    """
    path = output_path(path, DRAWING_SUFFIXES, "a model drawing")
    drawing = build_drawing(list(models), unroll, expand)
    suffix = path.suffix.lower()
    if suffix == ".dot":
        atomic_write_text(path, drawing_to_dot(drawing))
    elif suffix == ".svg":
        atomic_write_text(path, scene_to_svg(layout_drawing(drawing)))
    else:
        from nngraph.viz.png import scene_to_png  # matplotlib only when a PNG is asked for

        scene_to_png(layout_drawing(drawing), path)
    return path
