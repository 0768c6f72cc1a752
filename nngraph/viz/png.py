"""A `Scene` drawn with matplotlib on the Agg canvas: the same picture as the SVG, as pixels.

The axes span the whole figure with one data unit per 1/100 inch, so scene coordinates are used as they are
and a font of s scene units is s * 0.72 points. Boxes and links go in a few collections, not one artist each,
so a drawing of thousands of units renders in seconds. A scene too large for MAX_PIXELS a side or MAX_AREA
in all at full sharpness is drawn smaller; text that would come out under MIN_TEXT_PIXELS tall is left out
(it could not be read, and FreeType refuses sizes near zero): the SVG keeps every word at any size.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from nngraph.errors import OutputError
from nngraph.viz.geometry import (
    FRAME_LABEL_SIZE,
    LABEL_SIZE,
    LINE_HEIGHT,
    LINE_SIZE,
    PAD_Y,
    TITLE_HEIGHT,
    TITLE_SIZE,
    Route,
    Scene,
)
from nngraph.viz.labels import IMPLICIT_COLOUR, LINK_COLOUR, STYLES
from nngraph.viz.output import new_figure, save_figure

POINTS_PER_UNIT = 0.72
SHARPNESS = 1.5  # pixels per scene unit
MAX_PIXELS = 12000  # per side; larger scenes are drawn at a lower resolution
MAX_AREA = 25e6  # pixels in all: more takes seconds to encode and tens of MB to store
MIN_TEXT_PIXELS = 4.0
LINK_WIDTH = 1.4 * POINTS_PER_UNIT * 1.4
ARROW_LENGTH, ARROW_HALF_WIDTH = 9.0, 3.6  # scene units, as the SVG's marker


def picture_scale(width: float, height: float) -> float:
    """Pixels per scene unit: full sharpness, unless the picture would pass MAX_PIXELS or MAX_AREA."""
    return min(SHARPNESS, MAX_PIXELS / max(width, height), math.sqrt(MAX_AREA / (width * height)))


def scene_to_png(scene: Scene, path: Path) -> None:
    scale = picture_scale(scene.width, scene.height)
    pixels = (int(scene.width * scale), int(scene.height * scale))  # as the canvas counts them
    if min(pixels) < 1:  # 20,000 units in one column: 0 x 12000 pixels, 'cannot write empty image' (exit 70)
        raise OutputError(f"cannot draw {path} as a PNG: the drawing is {scene.width:,.0f} x {scene.height:,.0f} "
                          f"scene units, and at most {MAX_PIXELS:,} pixels a side it would be "
                          f"{pixels[0]:,} x {pixels[1]:,} pixels", None,
                          "draw it as .svg (any size), or without --expand")
    figure = new_figure(scene.width / 100, scene.height / 100, dpi=100 * scale)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    text = _Text(ax, scale)
    if scene.caption:
        text(16, 18, scene.caption, 14, weight="bold", ha="left")
    for frame in scene.frames:
        _frame(ax, text, frame)
    _links(ax, scene.routes)
    _boxes(ax, scene.boxes)
    for box, rect in scene.boxes:
        text(rect.cx, rect.y + PAD_Y + TITLE_HEIGHT / 2, box.title, TITLE_SIZE, weight="bold")
        for n, line in enumerate(box.lines):
            y = rect.y + PAD_Y + TITLE_HEIGHT + LINE_HEIGHT * (n + 0.5)
            text(rect.cx, y, line, LINE_SIZE, colour="#2d3748")
    for route in scene.routes:
        if route.label_at:
            text(*route.label_at, route.link.label, LABEL_SIZE, ha="left", background=True)
    # a light compression: the default level spends seconds on a large picture for a few percent
    save_figure(figure, path, facecolor="white", pil_kwargs={"compress_level": 3})


class _Text:
    """Writes text in scene units, leaving out what would be too small to read at this scale."""

    def __init__(self, ax, scale: float):
        self.ax, self.scale = ax, scale

    def __call__(
        self, x, y, text, size, weight="normal", ha="center", colour="#1a202c", background=False
    ):
        if size * self.scale < MIN_TEXT_PIXELS:
            return
        box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85}
        self.ax.text(
            x,
            y,
            text,
            fontsize=size * POINTS_PER_UNIT,
            family="monospace",
            weight=weight,
            ha=ha,
            va="center",
            color=colour,
            bbox=box if background else None,
        )


def _frame(ax, text: _Text, frame) -> None:
    from matplotlib.patches import FancyBboxPatch

    r = frame.rect
    colour, style = ("#718096", "-") if frame.level == 0 else ("#cbd5e0", "--")
    patch = FancyBboxPatch(
        (r.x, r.y),
        r.w,
        r.h,
        boxstyle="round,pad=0,rounding_size=8",
        fill=False,
        edgecolor=colour,
        linestyle=style,
    )
    ax.add_artist(patch)  # not add_patch: the limits are set, and updating them costs per patch
    label_size = FRAME_LABEL_SIZE[frame.level]
    text(r.x + 10, r.y + 11, frame.label, label_size, weight="bold", ha="left", colour="#4a5568")


def _mpl_path(commands):
    from matplotlib.path import Path as MplPath

    codes = {"M": MplPath.MOVETO, "L": MplPath.LINETO, "Q": MplPath.CURVE3, "C": MplPath.CURVE4}
    vertices, kinds = [], []
    for op, points in commands:
        vertices += list(points)
        kinds += [codes[op]] * len(points)
    return MplPath(vertices, kinds)


def _links(ax, routes: list[Route]) -> None:
    """Every link path in one collection per line style, and every arrowhead in one per colour."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.transforms import IdentityTransform

    paths, heads = defaultdict(list), defaultdict(list)
    for route in routes:
        link = route.link
        colour = IMPLICIT_COLOUR if link.implicit else LINK_COLOUR
        paths[colour, link.dashed].append(_mpl_path(route.commands))
        if link.arrow:
            heads[colour].append(arrowhead(route.commands))
    for (colour, dashed), group in paths.items():
        lines = PathCollection(
            group,
            facecolors="none",
            edgecolors=colour,
            linewidths=LINK_WIDTH,
            linestyles=(0, (4, 3)) if dashed else "solid",
            transform=ax.transData,
        )
        lines.set_offset_transform(IdentityTransform())
        ax.add_collection(lines, autolim=False)
    for colour, group in heads.items():
        ax.add_collection(
            PolyCollection(group, facecolors=colour, edgecolors="none"), autolim=False
        )


def arrowhead(commands) -> list[tuple[float, float]]:
    """The triangle at a path's end, pointing the way the path arrives (its last distinct point)."""
    points = [p for _, pts in commands for p in pts]
    tip = points[-1]
    before = next((p for p in reversed(points[:-1]) if p != tip), (tip[0], tip[1] - 1))
    dx, dy = tip[0] - before[0], tip[1] - before[1]
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm, dy / norm
    base = (tip[0] - ux * ARROW_LENGTH, tip[1] - uy * ARROW_LENGTH)
    side = (-uy * ARROW_HALF_WIDTH, ux * ARROW_HALF_WIDTH)
    return [tip, (base[0] + side[0], base[1] + side[1]), (base[0] - side[0], base[1] - side[1])]


def _boxes(ax, boxes) -> None:
    """Every unit's box in one collection, each keeping its role's colours and line."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import FancyBboxPatch

    patches = []
    for box, rect in boxes:
        style = STYLES.get(box.role, STYLES["layer"])
        patches.append(
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
    ax.add_collection(PatchCollection(patches, match_original=True), autolim=False)
