"""A whole `Drawing` -> a `Scene`: groups laid out one by one, then set side by side in their frames.

Groups (models, or the time steps of an unrolled model) sit left to right. A model gets a labelled frame when
several models are drawn; each time step of an unrolled model gets a lighter frame of its own. Links between
groups (an unrolled delay) are routed last, once every box has its place. The steps of one model are the
same picture, so it is laid out once and copied into each step.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

from nngraph.viz.drawing import Box, Drawing, Link
from nngraph.viz.geometry import (
    FRAME_LABEL_SIZE,
    LABEL_SIZE,
    Frame,
    Rect,
    Route,
    Scene,
    route,
    text_width,
)
from nngraph.viz.place import GAP_Y, GroupLayout, layout_group

MARGIN = 16.0
CAPTION = 24.0  # room above the drawing for the model name when it has no frame
FRAME_PAD = (16.0, 12.0)  # padding inside a model frame, a step frame
FRAME_TITLE = (22.0, 18.0)  # room for the frame's label above its content
GROUP_GAP = (36.0, 64.0)  # between models, between time steps (room for a `delay 1` label)
ELBOW = 10.0  # how far an unrolled delay runs out of its box before turning
LANE_STEP, LANES = 5.0, 4  # unrolled delays from one step run in parallel lanes


def layout_drawing(drawing: Drawing) -> Scene:
    framed_models = len(drawing.models) > 1
    scene = Scene(0.0, 0.0, caption="" if framed_models else drawing.models[0])
    top = MARGIN + (0.0 if framed_models else CAPTION)
    x = MARGIN
    corridors: dict[int, float] = {}  # group index -> x of the free lane right of its frame
    members, between = drawing.split()
    for model in drawing.models:
        x = _place_model(drawing, members, scene, model, x, top, framed_models, corridors)
        x += GROUP_GAP[0]
    _route_between_groups(drawing, between, scene, corridors)
    _fit(scene)
    return scene


def _place_model(
    drawing: Drawing,
    members: list[tuple[list[Box], list[Link]]],
    scene: Scene,
    model: str,
    x0: float,
    top: float,
    framed: bool,
    corridors: dict[int, float],
) -> float:
    """Place the model's groups from x0; return the right edge of what was placed."""
    indices = [i for i, g in enumerate(drawing.groups) if g.model == model]
    inner_top = top + (FRAME_TITLE[0] + FRAME_PAD[0] if framed else 0.0)
    x = x0 + (FRAME_PAD[0] if framed else 0.0)
    first_frame = len(scene.frames)
    first = layout_group(*members[indices[0]])
    for n, index in enumerate(indices):
        step = drawing.groups[index].step is not None
        group = first if n == 0 else _same_picture(first, members[indices[0]], members[index])
        x = _place_group(scene, drawing.groups[index].label, group, x, inner_top, step)
        corridors[index] = x + GROUP_GAP[1] / 2
        x += GROUP_GAP[1] if step else 0.0
        if step and n == len(indices) - 1:
            x -= GROUP_GAP[1]
    _even_step_frames(scene.frames[first_frame:])
    if not framed:
        return x
    bottom = (
        max(f.rect.bottom for f in scene.frames[first_frame:])
        if step
        else _bottom(scene, [b.id for i in indices for b in members[i][0]])
    )
    right = max(x + FRAME_PAD[0], x0 + text_width(model, FRAME_LABEL_SIZE[0]) + 24)
    scene.frames.insert(
        first_frame, Frame(model, Rect(x0, top, right - x0, bottom + FRAME_PAD[0] - top), 0)
    )
    return right


def _bottom(scene: Scene, ids: list[str]) -> float:
    ids = set(ids)
    return max(r.bottom for b, r in scene.boxes if b.id in ids)


def _same_picture(
    layout: GroupLayout,
    laid_out: tuple[list[Box], list[Link]],
    step: tuple[list[Box], list[Link]],
) -> GroupLayout:
    """Another time step's layout: its k-th box and k-th link take the places of the first step's."""
    box = {a.id: b for a, b in zip(laid_out[0], step[0], strict=True)}
    link = {id(a): b for a, b in zip(laid_out[1], step[1], strict=True)}
    return GroupLayout(
        {box[v].id: r for v, r in layout.rects.items()},
        [Route(link[id(r.link)], r.commands, r.label_at) for r in layout.routes],
        [box[b.id] for b in layout.boxes],
    )


def _place_group(
    scene: Scene, label: str, group: GroupLayout, x0: float, top: float, step: bool
) -> float:
    left, low, right, high = _extent(group.rects.values(), group.routes)
    dx = x0 - left + (FRAME_PAD[1] if step else 0.0)
    dy = top - low + (FRAME_TITLE[1] + FRAME_PAD[1] if step else 0.0)
    scene.boxes += [(b, group.rects[b.id].shifted(dx, dy)) for b in group.boxes]
    scene.routes += [r.shifted(dx, dy) for r in group.routes]
    if not step:
        return right + dx
    frame = Rect(
        x0, top, right - left + 2 * FRAME_PAD[1], high - low + FRAME_TITLE[1] + 2 * FRAME_PAD[1]
    )
    scene.frames.append(Frame(label, frame, 1))
    return frame.right


def _even_step_frames(frames: list[Frame]) -> None:
    """Steps of one model are the same picture; give their frames one height."""
    tallest = max((f.rect.h for f in frames), default=0.0)
    for i, f in enumerate(frames):
        frames[i] = Frame(f.label, Rect(f.rect.x, f.rect.y, f.rect.w, tallest), f.level)


def _extent(rects, routes: list[Route]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of boxes, paths (their control points bound them) and labels."""
    xs, ys = [], []
    for r in rects:
        xs += [r.x, r.right]
        ys += [r.y, r.bottom]
    for rt in routes:
        for _, points in rt.commands:
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
        if rt.label_at:
            xs.append(rt.label_at[0] + text_width(rt.link.label, LABEL_SIZE))
            ys += [rt.label_at[1] - LABEL_SIZE, rt.label_at[1] + LABEL_SIZE]
    return min(xs), min(ys), max(xs), max(ys)


def _route_between_groups(
    drawing: Drawing, between: list[Link], scene: Scene, corridors: dict[int, float]
) -> None:
    group = {b.id: b.group for b in drawing.boxes}
    rects = {box.id: rect for box, rect in scene.boxes}
    rows = _Rows(rects.values())
    lanes: dict[int, int] = {}
    for link in between:
        source_group = group[link.source]
        lane = lanes.get(source_group, 0)
        lanes[source_group] = lane + 1
        scene.routes.append(_between(link, rects, rows, corridors[source_group], lane % LANES))


def _between(link: Link, rects: dict[str, Rect], rows: _Rows, corridor: float, lane: int) -> Route:
    """An unrolled delay, kept off every box: it leaves the source sideways, runs along the free gap under
    the source's layer to the lane between steps, then along the gap under the target's layer (every step is
    the same picture, so those gaps are free in the steps it passes) and enters the target from the left."""
    s, t = rects[link.source], rects[link.target]
    if s.cy == t.cy and rows.clear(s, t):
        return route(
            link, ("M", ((s.right, s.cy),)), ("L", ((t.x, t.cy),)), label_at=(s.right, s.cy - 9)
        )
    offset = LANE_STEP * lane
    corridor += offset
    below_source, below_target = s.bottom + GAP_Y / 2 + offset, t.bottom + GAP_Y / 2 + offset
    out, into = s.right + ELBOW + offset, t.x - ELBOW - offset
    points = [
        (s.right, s.cy),
        (out, s.cy),
        (out, below_source),
        (corridor, below_source),
        (corridor, below_target),
        (into, below_target),
        (into, t.cy),
        (t.x, t.cy),
    ]
    label_at = (
        corridor - offset - GROUP_GAP[1] / 2 + 2,
        below_source - offset - LABEL_SIZE * (1 + 1.2 * lane),
    )
    return route(link, ("M", (points[0],)), *(("L", (p,)) for p in points[1:]), label_at=label_at)


class _Rows:
    """The boxes of each layer band, left to right, to ask what lies between two boxes of one band.

    Boxes are centred in their band, so a band is the boxes that share a centre line; the only boxes
    between two steps of an unrolled model are its own, whose bands are the same in every step.
    """

    def __init__(self, rects):
        rows: dict[float, list[Rect]] = defaultdict(list)
        for r in rects:
            rows[round(r.cy, 1)].append(r)
        self.rows = {cy: sorted(row, key=lambda r: r.x) for cy, row in rows.items()}
        self.rights = {cy: [r.right for r in row] for cy, row in self.rows.items()}

    def clear(self, s: Rect, t: Rect) -> bool:
        """Whether the straight line from s's right side to t's left side meets no other box."""
        cy = round(s.cy, 1)
        row, rights = self.rows[cy], self.rights[cy]
        # boxes in a band never overlap, so sorted by x they are sorted by right side too
        nearest = bisect_right(rights, s.right)
        return nearest == len(row) or row[nearest] is t or row[nearest].x >= t.x


def _fit(scene: Scene) -> None:
    """Grow the canvas to hold everything, shifting right/down if a path strayed above or left."""
    left, low, right, high = _extent(
        [r for _, r in scene.boxes] + [f.rect for f in scene.frames], scene.routes
    )
    dx, dy = max(0.0, MARGIN - left), max(0.0, MARGIN + (CAPTION if scene.caption else 0.0) - low)
    if dx or dy:
        scene.boxes = [(b, r.shifted(dx, dy)) for b, r in scene.boxes]
        scene.routes = [r.shifted(dx, dy) for r in scene.routes]
        scene.frames = [Frame(f.label, f.rect.shifted(dx, dy), f.level) for f in scene.frames]
    scene.width, scene.height = right + dx + MARGIN, high + dy + MARGIN
