"""The geometric half of the layered layout: coordinates for one group's boxes, then its links' paths.

x: each layer is packed left to right at the minimum gap, pulled toward the mean x of its neighbours in
the layer before (alternating down and up sweeps); packing keeps the order and never lets boxes overlap.
y: one band per layer, as tall as its tallest box, with a gap below for edge labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from nngraph.viz.drawing import Box, Link
from nngraph.viz.geometry import LABEL_SIZE, Rect, Route, box_size, route, text_width
from nngraph.viz.layers import Layered, build_layers, downward_ends

GAP_X, GAP_Y = 34.0, 58.0
DUMMY_WIDTH = 14.0
LOOP_REACH = 24.0  # how far a self-loop bulges right of its box
ARC_LIFT = 30.0  # how far a same-layer link arcs above its layer
X_SWEEPS = 4


@dataclass
class GroupLayout:
    rects: dict[str, Rect]  # box id -> its place
    routes: list[Route]
    boxes: list[Box]  # in the order given


def layout_group(boxes: list[Box], links: list[Link]) -> GroupLayout:
    sizes = {b.id: box_size(b) for b in boxes}
    layered = build_layers([b.id for b in boxes], links, {b.id: b.role for b in boxes})
    loops = _self_loops(links)
    centres = _x_centres(layered, sizes, {v: _loop_room(ks) for v, ks in loops.items()})
    bands = _bands(layered, sizes)
    rects = {
        v: Rect(
            centres[v] - w / 2,
            bands[layered.layer[v]][0] + (bands[layered.layer[v]][1] - h) / 2,
            w,
            h,
        )
        for v, (w, h) in sizes.items()
    }
    router = _Router(layered, rects, bands, centres)
    routes = [router.link(i, k) for i, k in enumerate(links) if k.source != k.target]
    routes += [_loop(rects[v], k, n, len(ks)) for v, ks in loops.items() for n, k in enumerate(ks)]
    return GroupLayout(rects, routes, boxes)


def _self_loops(links: list[Link]) -> dict[str, list[Link]]:
    loops: dict[str, list[Link]] = {}
    for link in links:
        if link.source == link.target:
            loops.setdefault(link.source, []).append(link)
    return loops


def _reach(n: int) -> float:
    return LOOP_REACH * (1 + 0.7 * n)


def _loop_room(loops: list[Link]) -> float:
    return _reach(len(loops) - 1) + 8 + max(text_width(k.label, LABEL_SIZE) for k in loops)


def _loop(r: Rect, link: Link, n: int, count: int) -> Route:
    reach = _reach(n) / 0.75  # a cubic with both controls at x + c reaches x + 0.75 c
    top, bottom = (r.right, r.cy - r.h * 0.25), (r.right, r.cy + r.h * 0.25)
    controls = ((r.right + reach, top[1] - 12), (r.right + reach, bottom[1] + 12))
    # labels of nested loops stack beside the outermost one
    label_at = (r.right + _reach(count - 1), r.cy + (n - (count - 1) / 2) * LABEL_SIZE * 1.3)
    return route(link, ("M", (top,)), ("C", (*controls, bottom)), label_at=label_at)


# ---- coordinates ------------------------------------------------------------------------------


def _x_centres(layered: Layered, sizes, room: dict[str, float]) -> dict[str, float]:
    def half(v):
        return sizes[v][0] / 2 if v in sizes else DUMMY_WIDTH / 2

    def pack(row, desired):
        xs: list[float] = []
        for i, v in enumerate(row):
            least = (
                xs[-1] + half(row[i - 1]) + room.get(row[i - 1], 0) + GAP_X + half(v)
                if i
                else desired[v]
            )
            xs.append(max(desired[v], least))
        shift = sum(desired[v] - x for v, x in zip(row, xs)) / len(row)
        centre.update({v: x + shift for v, x in zip(row, xs)})

    centre: dict[str, float] = {}
    for row in layered.order:
        pack(row, {v: 0.0 for v in row})
    ups = layered.up()
    for sweep in range(X_SWEEPS):
        down = sweep % 2 == 0
        near = ups if down else layered.down
        for row in layered.order[1:] if down else layered.order[-2::-1]:
            pack(row, {v: _mean([centre[u] for u in near[v]], centre[v]) for v in row})
    return centre


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _bands(layered: Layered, sizes) -> list[tuple[float, float]]:
    """(top, height) of each layer's band."""
    bands, top = [], 0.0
    for row in layered.order:
        height = max((sizes[v][1] for v in row if v in sizes), default=0.0)
        bands.append((top, height))
        top += height + GAP_Y
    return bands


# ---- links ------------------------------------------------------------------------------------


class _Router:
    """Paths for one group's links: between layers through dummy nodes, within a layer by an arc."""

    def __init__(self, layered: Layered, rects: dict[str, Rect], bands, centres):
        self.layered, self.rects, self.bands, self.centres = layered, rects, bands, centres
        self.ports = _Ports()

    def link(self, index: int, link: Link) -> Route:
        layer = self.layered.layer
        ends = downward_ends(link, layer)
        return self._down(index, link, *ends) if ends else self._arc(link)

    def _down(self, index: int, link: Link, upper: str, lower: str) -> Route:
        bends = []
        for dummy in self.layered.chains.get(index, []):
            top, height = self.bands[self.layered.layer[dummy]]
            bends += [(self.centres[dummy], top), (self.centres[dummy], top + height)]
        u, v = self.rects[upper], self.rects[lower]
        start = (self.ports.place(upper, "bottom", u, (bends or [(v.cx, v.y)])[0][0]), u.bottom)
        end = (self.ports.place(lower, "top", v, (bends or [start])[-1][0]), v.y)
        points = [start, *bends, end]
        if upper != link.source:
            points.reverse()
        return route(link, ("M", (points[0],)), *(("L", (p,)) for p in points[1:]))

    def _arc(self, link: Link) -> Route:
        s, t = self.rects[link.source], self.rects[link.target]
        lift = min(s.y, t.y) - ARC_LIFT
        return route(link, ("M", ((s.cx, s.y),)), ("C", ((s.cx, lift), (t.cx, lift), (t.cx, t.y))))


class _Ports:
    """Spreads the ends of several links on one side of a box, ordered by where they come from."""

    SLOTS = (0, -1, 1, -2, 2, -3, 3)  # steps from the centre

    def __init__(self):
        self.free: dict[tuple[str, str], list[float]] = {}  # (box, side) -> x of each free slot

    def place(self, box: str, side: str, rect: Rect, toward_x: float) -> float:
        # links are routed one at a time, so ends are spread by arrival, nudged toward their far end,
        # the three middle slots first; once every slot is taken the rest meet at the centre
        step = min(14.0, rect.w * 0.3)
        free = self.free.get((box, side))
        if free is None:
            xs = (rect.cx + step * k for k in self.SLOTS)
            free = self.free[box, side] = [x for x in xs if rect.x + 4 < x < rect.right - 4]
        if not free:
            return rect.cx
        x = min(free, key=lambda c: (abs(c - rect.cx) > step * 1.5, abs(c - toward_x)))
        free.remove(x)
        return x
