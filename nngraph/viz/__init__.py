"""Views: model drawings (DOT, SVG, PNG) and training plots (curves, image grids, scatters).

Nothing here imports matplotlib at import time; each function that draws pixels imports it when called.
"""

from nngraph.viz.curves import plot_curves
from nngraph.viz.draw import draw_models
from nngraph.viz.grids import filter_grid, image_grid
from nngraph.viz.scatter import latent_scatter, scatter_samples

__all__ = [
    "draw_models",
    "filter_grid",
    "image_grid",
    "latent_scatter",
    "plot_curves",
    "scatter_samples",
]
