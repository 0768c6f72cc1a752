"""A `Scene` drawn with matplotlib on the Agg canvas: the same picture as the SVG, as pixels.

The axes span the whole figure with one data unit per 1/100 inch, so scene coordinates are used as they are
and a font of s scene units is s * 0.72 points.
"""

from __future__ import annotations

from pathlib import Path

from nngraph.viz.geometry import (
    FRAME_LABEL_SIZE,
    LABEL_SIZE,
    LINE_HEIGHT,
    LINE_SIZE,
    PAD_Y,
    TITLE_HEIGHT,
    TITLE_SIZE,
    Scene,
)
from nngraph.viz.labels import IMPLICIT_COLOUR, LINK_COLOUR, STYLES
from nngraph.viz.output import new_figure, save_figure

POINTS_PER_UNIT = 0.72
SHARPNESS = 1.5  # pixels per scene unit
MAX_PIXELS = 12000  # per side; larger scenes are drawn at a lower resolution


def scene_to_png(scene: Scene, path: Path) -> None:
    scale = min(SHARPNESS, MAX_PIXELS / max(scene.width, scene.height))
    figure = new_figure(scene.width / 100, scene.height / 100, dpi=100 * scale)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    if scene.caption:
        _text(ax, 16, 18, scene.caption, 14, weight="bold", ha="left")
    for frame in scene.frames:
        _frame(ax, frame)
    for route in scene.routes:
        _route(ax, route)
    for box, rect in scene.boxes:
        _box(ax, box, rect)
    for route in scene.routes:
        if route.label_at:
            _text(ax, *route.label_at, route.link.label, LABEL_SIZE, ha="left", background=True)
    save_figure(figure, path, facecolor="white")


def _text(ax, x, y, text, size, weight="normal", ha="center", colour="#1a202c", background=False):
    box = (
        {"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85}
        if background
        else None
    )
    ax.text(
        x,
        y,
        text,
        fontsize=size * POINTS_PER_UNIT,
        family="monospace",
        weight=weight,
        ha=ha,
        va="center",
        color=colour,
        bbox=box,
    )


def _frame(ax, frame) -> None:
    from matplotlib.patches import FancyBboxPatch

    r = frame.rect
    colour, style = ("#718096", "-") if frame.level == 0 else ("#cbd5e0", "--")
    ax.add_patch(
        FancyBboxPatch(
            (r.x, r.y),
            r.w,
            r.h,
            boxstyle="round,pad=0,rounding_size=8",
            fill=False,
            edgecolor=colour,
            linestyle=style,
        )
    )
    _text(
        ax,
        r.x + 10,
        r.y + 11,
        frame.label,
        FRAME_LABEL_SIZE[frame.level],
        weight="bold",
        ha="left",
        colour="#4a5568",
    )


def _mpl_path(commands):
    from matplotlib.path import Path as MplPath

    codes = {"M": MplPath.MOVETO, "L": MplPath.LINETO, "Q": MplPath.CURVE3, "C": MplPath.CURVE4}
    vertices, kinds = [], []
    for op, points in commands:
        vertices += list(points)
        kinds += [codes[op]] * len(points)
    return MplPath(vertices, kinds)


def _route(ax, route) -> None:
    from matplotlib.patches import FancyArrowPatch, PathPatch

    link = route.link
    colour = IMPLICIT_COLOUR if link.implicit else LINK_COLOUR
    style = {
        "color": colour,
        "linewidth": 1.4 * POINTS_PER_UNIT * 1.4,
        "linestyle": (0, (4, 3)) if link.dashed else "-",
    }
    path = _mpl_path(route.commands)
    if link.arrow:
        ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=12, **style))
    else:
        ax.add_patch(PathPatch(path, fill=False, **style))


def _box(ax, box, rect) -> None:
    from matplotlib.patches import FancyBboxPatch

    style = STYLES.get(box.role, STYLES["layer"])
    ax.add_patch(
        FancyBboxPatch(
            (rect.x, rect.y),
            rect.w,
            rect.h,
            boxstyle="round,pad=0,rounding_size=6",
            facecolor=style.fill,
            edgecolor=style.stroke,
            linewidth=style.stroke_width * POINTS_PER_UNIT * 1.4,
            linestyle="--" if style.dashed else "-",
        )
    )
    _text(ax, rect.cx, rect.y + PAD_Y + TITLE_HEIGHT / 2, box.title, TITLE_SIZE, weight="bold")
    for n, line in enumerate(box.lines):
        _text(
            ax,
            rect.cx,
            rect.y + PAD_Y + TITLE_HEIGHT + LINE_HEIGHT * (n + 0.5),
            line,
            LINE_SIZE,
            colour="#2d3748",
        )
