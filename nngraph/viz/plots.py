"""The training plots under one name, as the trainer imports them (`nngraph.viz.plots.plot_curves`)."""

from nngraph.viz.curves import plot_curves
from nngraph.viz.grids import filter_grid, image_grid
from nngraph.viz.scatter import latent_scatter, scatter_samples

__all__ = ["filter_grid", "image_grid", "latent_scatter", "plot_curves", "scatter_samples"]
