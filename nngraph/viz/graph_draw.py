"""The model drawing under the name the CLI imports (`nngraph.viz.graph_draw.draw_models`)."""

from nngraph.viz.draw import DRAWING_SUFFIXES, draw_models

__all__ = ["DRAWING_SUFFIXES", "draw_models"]
