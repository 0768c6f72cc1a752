"""A `Drawing` as graphviz DOT text, for people who have graphviz and want its layout."""

from __future__ import annotations

from nngraph.viz.drawing import Box, Drawing, Link
from nngraph.viz.labels import IMPLICIT_COLOUR, STYLES


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def drawing_to_dot(drawing: Drawing) -> str:
    lines = [
        "digraph nngraph {",
        "  rankdir=TB;",
        "  compound=true;",
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans Mono", fontsize=11];',
        '  edge [fontname="DejaVu Sans Mono", fontsize=10];',
    ]
    framed = len(drawing.models) > 1
    boxes = [group_boxes for group_boxes, _ in drawing.split()[0]]
    for model in drawing.models:
        lines += _model(drawing, boxes, model, framed)
    lines += ["  " + _edge(link) for link in drawing.links]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _model(drawing: Drawing, boxes: list[list[Box]], model: str, framed: bool) -> list[str]:
    body = []
    for index, group in enumerate(drawing.groups):
        if group.model != model:
            continue
        nodes = ["  " + _node(b) for b in boxes[index]]
        if group.step is not None:  # a time step: its own lighter cluster
            nodes = _cluster(f"{model}_t{group.step}", group.label, nodes, "dashed", "gray70")
        body += nodes
    if framed:
        return _cluster(model, model, body, "rounded", "gray40")
    return [f"  label={quote(model)};", "  labelloc=t;", *body]


def _cluster(name: str, label: str, body: list[str], style: str, colour: str) -> list[str]:
    head = f"  subgraph {quote('cluster_' + name)} {{ label={quote(label)}; style={style}; color={colour};"
    return [head, *("  " + line for line in body), "  }"]


def _node(box: Box) -> str:
    style = STYLES.get(box.role, STYLES["layer"])
    label = "\n".join((box.title, *box.lines))
    extra = ', style="rounded,filled,dashed"' if style.dashed else ""
    return (
        f"{quote(box.id)} [label={quote(label)}, fillcolor={quote(style.fill)}, "
        f"color={quote(style.stroke)}, penwidth={style.stroke_width:g}{extra}];"
    )


def edge_attributes(link: Link) -> list[str]:
    attrs = []
    if link.label:
        attrs.append(f"label={quote(link.label)}")
    if link.dashed:
        # a recurrent link must not pull ranks: the same-step links alone decide the layers
        attrs += ["style=dashed", "constraint=false"]
    if link.implicit:
        attrs += [f"color={quote(IMPLICIT_COLOUR)}", f"fontcolor={quote(IMPLICIT_COLOUR)}"]
    if link.symmetric:
        attrs.append("dir=none")
    return attrs


def _edge(link: Link) -> str:
    attrs = edge_attributes(link)
    return (
        f"{quote(link.source)} -> {quote(link.target)}"
        + (f" [{', '.join(attrs)}]" if attrs else "")
        + ";"
    )
