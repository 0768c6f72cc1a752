"""What a drawing says about each unit and connection, and how each role looks.

Shared by the DOT, SVG and PNG writers, so the three agree word for word and colour for colour.
"""

from __future__ import annotations

from dataclasses import dataclass

from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec


@dataclass(frozen=True)
class Style:
    fill: str
    stroke: str
    stroke_width: float = 1.2
    dashed: bool = False


STYLES = {
    "input": Style("#dbe9f6", "#2b6cb0", 1.6),
    "noise": Style("#ece3f7", "#6b46c1", 1.6),
    "output": Style("#fde4c8", "#c05621", 2.4),
    "layer": Style("#f7f7f7", "#4a5568"),
    "visible": Style("#d9f2e0", "#2f855a", 1.6),
    "hidden": Style("#fff5c2", "#b7791f", 1.6),
    "sample": Style("#fde2ec", "#b83280", 1.6, dashed=True),
}
LINK_COLOUR = "#2d3748"
IMPLICIT_COLOUR = "#a0aec0"


def role_style(unit: UnitSpec) -> Style:
    return STYLES.get(unit.role, STYLES["layer"])


def shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "[?]"


def kind_text(unit: UnitSpec) -> str:
    """The one word a reader needs after the name: what the unit computes or samples."""
    if unit.role == "noise":
        return f"noise: {unit.distribution}"
    if unit.role == "sample":
        return f"~ {unit.distribution}"
    if unit.stochastic:
        return unit.stochastic
    if unit.role == "input":
        return "sequence" if unit.sequence else "input"
    word = unit.cell or ("linear" if unit.activation == "identity" else unit.activation)
    extras = [unit.norm] if unit.norm else []
    extras += ["bidirectional"] if unit.bidirectional else []
    extras += [f"dropout {unit.dropout:g}"] if unit.dropout else []
    extras += ["learned initial"] if unit.learned_initial else []
    return ", ".join([word, *extras])


def unit_lines(model: ModelGraph, unit: UnitSpec) -> tuple[str, ...]:
    """The lines under the unit's name: its inferred shape and its kind."""
    shape = model.shapes.get(unit.name, unit.declared_shape)
    return (shape_text(shape), kind_text(unit))


def _pair_text(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return f"{value}x{value}"


def _window_text(edge: EdgeSpec) -> str:
    kernel = edge.option("kernel")
    text = _pair_text(kernel)
    stride = edge.option("stride")
    if edge.kind in ("conv", "deconv"):
        return (
            f"{edge.kind} {text} /{stride or 1} p{edge.option('padding') or 0} x{edge.option('filters')}"
        )
    text = f"{edge.kind} {kernel if not isinstance(kernel, (tuple, list)) else text}"
    if stride not in (None, kernel):
        text += f" /{stride}"
    return text + (f" p{edge.option('padding')}" if edge.option("padding") else "")


def _upsampling_text(edge: EdgeSpec) -> str:
    """`upsample x2 bilinear`, `pixelshuffle x2`, `upsample x2x3`."""
    factor = edge.option("factor", 2)
    text = f"{edge.kind} x{_pair_text(factor) if isinstance(factor, (list, tuple)) else factor}"
    return text + (f" {edge.option('mode')}" if edge.kind == "upsample" and edge.option("mode") != "nearest" else "")


def edge_label(edge: EdgeSpec) -> str:
    """Dense, identity and symmetric links speak through their line style; others name their kind."""
    parts = []
    if edge.kind in ("conv", "deconv", "maxpool", "avgpool"):
        parts.append(_window_text(edge))
    elif edge.kind in ("upsample", "pixelshuffle"):
        parts.append(_upsampling_text(edge))
    elif edge.kind == "tied":
        parts.append("tied to {}->{}".format(*edge.tied_to))
    elif edge.kind not in ("dense", "identity", "symmetric"):
        parts.append(edge.kind)
    if edge.delay:
        parts.append(f"delay {edge.delay}")
    return ", ".join(parts)
