"""Models -> a `Drawing`: plain data naming every box, link and group, before any geometry.

One drawing serves every output: DOT writes it as text, the layout turns it into coordinates for SVG and PNG.
Unrolling and collapsing happen here, so the writers never know about time or stacks: an unrolled model is just
one group per step, and a `repeat=` stack drawn as one box (stacks.py) is just a box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.errors import ValidationError
from nngraph.graph.ir import EdgeSpec, ModelGraph
from nngraph.viz.labels import edge_label
from nngraph.viz.stacks import Piece, model_pieces

# past this the picture is unreadable and the canvas too large to render
MAX_UNROLL = 32


@dataclass(frozen=True)
class Group:
    """Boxes laid out together: one model, or one time step of an unrolled model."""

    model: str
    step: int | None = None

    @property
    def label(self) -> str:
        return self.model if self.step is None else f"t{self.step}"


@dataclass(frozen=True)
class Box:
    id: str  # unique in the drawing
    title: str
    lines: tuple[str, ...]
    role: str
    group: int  # index into Drawing.groups


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    label: str = ""
    delay: int = 0
    symmetric: bool = False
    implicit: bool = False

    @property
    def dashed(self) -> bool:
        return self.delay > 0 or self.implicit

    @property
    def arrow(self) -> bool:
        return not self.symmetric


@dataclass
class Drawing:
    groups: list[Group] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(g.model for g in self.groups))

    @property
    def unrolled(self) -> bool:
        return any(g.step is not None for g in self.groups)

    def split(self) -> tuple[list[tuple[list[Box], list[Link]]], list[Link]]:
        """Each group's boxes and own links, in the order added, and the links between groups."""
        members: list[tuple[list[Box], list[Link]]] = [([], []) for _ in self.groups]
        between = []
        group = {}
        for b in self.boxes:
            members[b.group][0].append(b)
            group[b.id] = b.group
        for k in self.links:
            same = group[k.source] == group[k.target]
            (members[group[k.source]][1] if same else between).append(k)
        return members, between


def build_drawing(
    models: list[ModelGraph], unroll: int | None = None, expand: bool = False
) -> Drawing:
    """Every model once, or each recurrent model once per time step when `unroll` is given.

    A `repeat=` stack is one box unless `expand` asks for every unit.
    """
    _check_unroll(models, unroll)
    drawing = Drawing()
    for model in models:
        pieces, edges = model_pieces(model, expand)
        steps = unroll if unroll and model.is_recurrent else None
        if steps:
            _add_unrolled(drawing, model.name, pieces, edges, steps)
        else:
            _add_group(drawing, model.name, pieces, None)
            drawing.links += [_link(e, model.name, None, None) for e in edges]
    return drawing


def _check_unroll(models: list[ModelGraph], unroll: int | None) -> None:
    if not models:
        raise ValidationError("there is no model to draw", None, "check the spec defines a model")
    if unroll is None:
        return
    if isinstance(unroll, bool) or not isinstance(unroll, int) or not 1 <= unroll <= MAX_UNROLL:
        raise ValidationError(
            f"unroll: expected a whole number of steps from 1 to {MAX_UNROLL}, got {unroll!r}",
            None,
            "for example --unroll 3",
        )
    if not any(m.is_recurrent for m in models):
        raise ValidationError(
            "unroll draws a recurrent model over time; no model here is recurrent",
            None,
            "leave --unroll out to draw the model once",
        )


def box_id(model: str, unit: str, step: int | None) -> str:
    return f"{model}/{unit}" if step is None else f"{model}/{unit}@t{step}"


def _add_group(drawing: Drawing, model: str, pieces: list[Piece], step: int | None) -> None:
    index = len(drawing.groups)
    drawing.groups.append(Group(model, step))
    suffix = "" if step is None else f"@t{step}"
    drawing.boxes += [
        Box(box_id(model, p.name, step), p.name + suffix, p.lines, p.role, index) for p in pieces
    ]


def _add_unrolled(
    drawing: Drawing, model: str, pieces: list[Piece], edges: list[EdgeSpec], steps: int
) -> None:
    for t in range(steps):
        _add_group(drawing, model, pieces, t)
    for edge in edges:
        for t in range(steps - edge.delay):  # a delay-k edge runs from step t to step t+k
            drawing.links.append(_link(edge, model, t, t + edge.delay))


def _link(edge: EdgeSpec, model: str, source_step: int | None, target_step: int | None) -> Link:
    return Link(
        box_id(model, edge.source, source_step),
        box_id(model, edge.target, target_step),
        edge_label(edge),
        edge.delay,
        edge.symmetric,
        edge.implicit,
    )
