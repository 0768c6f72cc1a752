"""2-D scatter plots: a generator's samples over the data, and a latent space coloured by class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nngraph.errors import DataError
from nngraph.viz.output import PLOT_SUFFIXES, new_figure, output_path, save_figure

FIGURE_SIZE = (5.5, 5.0)  # inches
MAX_LEGEND = 20  # more classes than this get a colour bar instead of a legend


def points_2d(values, what: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: expected an array of numbers ({e})") from None
    if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
        raise DataError(
            f"{what}: expected n >= 1 points of shape (n, 2), got shape {a.shape}",
            None,
            "plot two coordinates, e.g. a 2-D latent space or a projection such as values[:, :2]",
        )
    return a


def _axes(title: str):
    figure = new_figure(*FIGURE_SIZE)
    ax = figure.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    return figure, ax


def _finish(figure, ax, path: Path) -> Path:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, markerscale=2)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def scatter_samples(samples, data, path: str | Path) -> Path:
    """Generated points (n, 2) drawn over the training data (m, 2) when given."""
    samples = points_2d(samples, "samples")
    data = None if data is None else points_2d(data, "data")
    path = output_path(path, PLOT_SUFFIXES, "a scatter plot")
    figure, ax = _axes("samples over data" if data is not None else "samples")
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=4, color="0.65", alpha=0.5, label="data", linewidths=0)
    ax.scatter(
        samples[:, 0], samples[:, 1], s=6, color="C3", alpha=0.7, label="samples", linewidths=0
    )
    return _finish(figure, ax, path)


def latent_scatter(means, labels, path: str | Path) -> Path:
    """Latent means (n, 2), coloured by their class label when labels (n,) are given."""
    means = points_2d(means, "latent means")
    path = output_path(path, PLOT_SUFFIXES, "a latent scatter plot")
    figure, ax = _axes("latent space")
    if labels is None:
        ax.scatter(means[:, 0], means[:, 1], s=6, color="C0", alpha=0.7, linewidths=0)
        return _finish(figure, ax, path)
    labels = _labels(labels, len(means))
    classes = np.unique(labels)
    if len(classes) > MAX_LEGEND:
        dots = ax.scatter(means[:, 0], means[:, 1], c=labels, s=6, cmap="viridis", linewidths=0)
        figure.colorbar(dots, ax=ax)
    else:
        for k, value in enumerate(classes):
            chosen = labels == value
            ax.scatter(
                means[chosen, 0],
                means[chosen, 1],
                s=6,
                color=f"C{k % 10}" if len(classes) <= 10 else _tab20(k),
                label=str(value),
                linewidths=0,
            )
    return _finish(figure, ax, path)


def _labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:  # one-hot rows
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.shape != (n,):
        raise DataError(
            f"labels: expected one label per point, shape ({n},), got {labels.shape}",
            None,
            "pass the class of each point, or None",
        )
    return labels


def _tab20(k: int):
    from matplotlib import colormaps

    return colormaps["tab20"](k % 20)
