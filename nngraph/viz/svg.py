"""A `Scene` as SVG text: no renderer, no system binary, just elements.

Elements carry classes a test or a stylesheet can select: `frame`, `unit` (one group per unit, holding its
rect and text), `link` (plus `delayed`, `symmetric`, `implicit`), `link-label`. What every element of a kind
shares (colours, weights, anchors) is said once in a style sheet, keyed by those classes, so a drawing of
thousands of units stays a few hundred bytes per unit; what varies (places, font sizes, dashes) is in
attributes. No style rule sets a property an element also gives as an attribute (a rule would win).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from nngraph.viz.geometry import (
    FRAME_LABEL_SIZE,
    LABEL_SIZE,
    LINE_HEIGHT,
    LINE_SIZE,
    PAD_Y,
    TITLE_HEIGHT,
    TITLE_SIZE,
    Command,
    Frame,
    Rect,
    Route,
    Scene,
)
from nngraph.viz.labels import IMPLICIT_COLOUR, LINK_COLOUR, STYLES, Style

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
ARROW = (
    '<marker id="{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
)

SHEET = (
    "text{dominant-baseline:central;text-anchor:middle;fill:#1a202c}"
    ".caption,.frame-label,.link-label{text-anchor:start}"
    ".caption,.frame-label,.title{font-weight:bold}"
    ".line,.link-label{fill:#2d3748}"
    ".frame-label{fill:#4a5568}"
    f".link{{fill:none;stroke:{LINK_COLOUR};stroke-width:1.4}}"
    f".link.implicit{{stroke:{IMPLICIT_COLOUR}}}"
)


def _role_rule(role: str, style: Style) -> str:
    line = f"stroke:{style.stroke};stroke-width:{style.stroke_width:g}"
    dash = ";stroke-dasharray:5 3" if style.dashed else ""
    return f"rect.{role}{{fill:{style.fill};{line}{dash}}}"


def scene_to_svg(scene: Scene) -> str:
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{scene.width:.0f}" height="{scene.height:.0f}" '
            f'viewBox="0 0 {scene.width:.1f} {scene.height:.1f}" font-family="{FONT}">'
        ),
        "<defs>"
        + ARROW.format(id="arrow", colour=LINK_COLOUR)
        + ARROW.format(id="arrow-light", colour=IMPLICIT_COLOUR)
        + "</defs>",
        "<style>" + SHEET + "".join(_role_rule(*item) for item in STYLES.items()) + "</style>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    if scene.caption:
        parts.append(_text(16, 18, scene.caption, 14, "caption"))
    parts += [_frame(f) for f in scene.frames]
    parts += [_route(r) for r in scene.routes]
    parts += [_box(box, rect) for box, rect in scene.boxes]
    parts += [_label(r) for r in scene.routes if r.label_at]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def path_data(commands: tuple[Command, ...]) -> str:
    return " ".join(op + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) for op, points in commands)


def _text(x, y, text, size, cls) -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size:g}">{escape(text)}</text>'


def _frame(frame: Frame) -> str:
    r = frame.rect
    stroke, dash = ("#718096", "") if frame.level == 0 else ("#cbd5e0", ' stroke-dasharray="4 3"')
    size = FRAME_LABEL_SIZE[frame.level]
    return (
        f'<g class="frame"><rect x="{r.x:.1f}" y="{r.y:.1f}" width="{r.w:.1f}" height="{r.h:.1f}" rx="8" '
        f'fill="none" stroke="{stroke}"{dash}/>'
        + _text(r.x + 10, r.y + 11, frame.label, size, "frame-label")
        + "</g>"
    )


def _route(r: Route) -> str:
    link = r.link
    classes = ["link"] + [
        c
        for c, on in (
            ("delayed", link.delay > 0),
            ("symmetric", link.symmetric),
            ("implicit", link.implicit),
        )
        if on
    ]
    attrs = ' stroke-dasharray="6 4"' if link.dashed else ""
    if link.arrow:
        attrs += f' marker-end="url(#{"arrow-light" if link.implicit else "arrow"})"'
    return (
        f'<path class="{" ".join(classes)}" d="{path_data(r.commands)}"{attrs}>'
        f"<title>{escape(link.source)} -&gt; {escape(link.target)}</title></path>"
    )


def _label(r: Route) -> str:
    x, y = r.label_at
    return _text(x, y, r.link.label, LABEL_SIZE, "link-label")


def _box(box, rect: Rect) -> str:
    role = box.role if box.role in STYLES else "layer"
    parts = [
        f'<g class="unit" id={quoteattr(box.id)}>',
        (
            f'<rect class="{role}" x="{rect.x:.1f}" y="{rect.y:.1f}" width="{rect.w:.1f}" '
            f'height="{rect.h:.1f}" rx="6"/>'
        ),
        _text(rect.cx, rect.y + PAD_Y + TITLE_HEIGHT / 2, box.title, TITLE_SIZE, "title"),
    ]
    for n, line in enumerate(box.lines):
        y = rect.y + PAD_Y + TITLE_HEIGHT + LINE_HEIGHT * (n + 0.5)
        parts.append(_text(rect.cx, y, line, LINE_SIZE, "line"))
    parts.append("</g>")
    return "".join(parts)
