"""Plain geometry for the drawings: rectangles, routed links, text sizes, the finished scene.

Paths are lists of SVG-style commands (M, L, Q, C with their points) because both writers speak them:
SVG directly, matplotlib through `Path` codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nngraph.viz.drawing import Box, Link

# the drawings use a monospace font, whose advance is 0.6 em for every glyph: text widths are exact,
# so boxes can be sized to hold their text without measuring it in a renderer
CHAR_EM = 0.6
TITLE_SIZE = 13.0
LINE_SIZE = 11.0
LABEL_SIZE = 10.0
FRAME_LABEL_SIZE = (13.0, 11.0)  # a model frame's label, a time step's
PAD_X, PAD_Y = 10.0, 7.0
TITLE_HEIGHT, LINE_HEIGHT = 17.0, 14.0

Point = tuple[float, float]
Command = tuple[str, tuple[Point, ...]]


def text_width(text: str, size: float) -> float:
    return len(text) * CHAR_EM * size


def box_size(box: Box) -> tuple[float, float]:
    widest = max(
        [text_width(box.title, TITLE_SIZE)] + [text_width(t, LINE_SIZE) for t in box.lines]
    )
    return max(widest + 2 * PAD_X, 64.0), 2 * PAD_Y + TITLE_HEIGHT + LINE_HEIGHT * len(box.lines)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def shifted(self, dx: float, dy: float) -> Rect:
        return replace(self, x=self.x + dx, y=self.y + dy)

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )


@dataclass(frozen=True)
class Route:
    link: Link
    commands: tuple[Command, ...]
    label_at: Point | None = None

    def shifted(self, dx: float, dy: float) -> Route:
        moved = tuple((op, tuple((x + dx, y + dy) for x, y in pts)) for op, pts in self.commands)
        label = None if self.label_at is None else (self.label_at[0] + dx, self.label_at[1] + dy)
        return Route(self.link, moved, label)


@dataclass(frozen=True)
class Frame:
    label: str
    rect: Rect
    level: int  # 0: a model, 1: a time step inside an unrolled model


@dataclass
class Scene:
    width: float
    height: float
    boxes: list[tuple[Box, Rect]] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    caption: str = ""


def route(link: Link, *commands: Command, label_at: Point | None = None) -> Route:
    """A route whose label sits beside `label_at`, or beside its first segment's middle by default."""
    if not link.label:
        return Route(link, tuple(commands))
    x, y = label_at or _midpoint(commands)
    return Route(link, tuple(commands), (x + 5, y))


def _midpoint(commands) -> Point:
    """The middle of the first drawn segment: it lies in the free band below the source box."""
    start = commands[0][1][-1]
    op, pts = commands[1]
    if op == "C":
        return _cubic(start, *pts, 0.5)
    if op == "Q":
        return _quadratic(start, *pts, 0.5)
    return (start[0] + pts[-1][0]) / 2, (start[1] + pts[-1][1]) / 2


def _cubic(p0, p1, p2, p3, t) -> Point:
    s = 1 - t
    return tuple(
        s**3 * a + 3 * s * s * t * b + 3 * s * t * t * c + t**3 * d
        for a, b, c, d in zip(p0, p1, p2, p3)
    )


def _quadratic(p0, p1, p2, t) -> Point:
    s = 1 - t
    return tuple(s * s * a + 2 * s * t * b + t * t * c for a, b, c in zip(p0, p1, p2))
