"""What `nngraph sample` writes, for every method, as the output's suffix asks: an array (.npy), text, or
pictures: image grids of samples, reconstructions and fill-ins, RBM weight filters, generated 2-D points
over the data, latent means coloured by class. The methods decide what to sample; this module writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nngraph.errors import DataError, plural
from nngraph.viz.grids import filter_grid, image_grid
from nngraph.viz.scatter import latent_scatter, scatter_samples

RECONSTRUCTIONS = 32  # test images shown beside their reconstructions
PER_ROW = 8
SERIES_SHOWN = 8  # sequences drawn by `write_series_fills`


def sibling(path: Path, tag: str) -> Path:
    """`samples.png` -> `samples_recon.png`: the other pictures of one `nngraph sample` call."""
    return path.with_name(f"{path.stem}_{tag}{path.suffix}")


def is_array(path: Path) -> bool:
    return path.suffix.lower() == ".npy"


def picture_shape(shape: tuple[int, ...], info: dict | None = None) -> tuple[int, ...] | None:
    """The picture an example of `shape` is: the data's `image_shape`, its own shape when it has two or three
    axes, or a square; None for anything else."""
    if info and info.get("image_shape"):
        return tuple(info["image_shape"])
    if len(shape) in (2, 3):
        return shape
    side = int(np.sqrt(shape[0])) if len(shape) == 1 else 0
    return (side, side) if side > 1 and side * side == shape[0] else None


def write_samples(path: Path, x: np.ndarray, shape: tuple[int, ...], per_row: int | None = None,
                  array: np.ndarray | None = None) -> Path:
    """Examples `x` to `path`: an image grid of `shape` pictures, `per_row` to a row, or a .npy of `array`
    (default: `x`)."""
    if is_array(path):
        from nngraph.atomic import atomic_save_npy

        atomic_save_npy(path, x if array is None else array)
        return path
    return image_grid(x.reshape(len(x), -1), path, shape, nrow=per_row)


def write_generated(path: Path, x: np.ndarray, data) -> Path:
    """Examples generated like those of the data set `data`: a .npy, 2-D points drawn over the data's, or
    pictures of the data's picture shape."""
    shape = picture_shape(data.feature_shape, data.info)
    if not is_array(path) and x.ndim == 2 and x.shape[1] == 2:
        return scatter_samples(x, data.x.reshape(len(data), -1), path)
    if shape is None and not is_array(path):
        raise DataError(f"generated examples of shape {list(x.shape[1:])} are neither 2-D points nor pictures",
                        None, "write them as an array: -o samples.npy")
    return write_samples(path, x, shape)


def write_reconstructions(path: Path, data, reconstruct: Callable) -> Path | None:
    """Beside `path`, rows of PER_ROW of the first examples of `data`, each row followed by their
    reconstructions (`reconstruct(examples)`); None where they are no pictures, or none are there."""
    shape = picture_shape(data.feature_shape, data.info)
    per_row = min(PER_ROW, len(data))
    originals = data.x[:min(RECONSTRUCTIONS, len(data)) // per_row * per_row] if per_row else data.x[:0]
    if shape is None or not len(originals):
        return None
    flat = [a.reshape(len(a) // per_row, 1, per_row, -1) for a in (originals, reconstruct(originals))]
    pairs = np.concatenate(flat, axis=1).reshape(2 * len(originals), -1)
    return image_grid(pairs, sibling(path, "recon"), shape, nrow=per_row)


def write_latents(path: Path, means: np.ndarray, labels) -> Path:
    """Beside `path`: 2-D latent means, coloured by their class labels where there are any."""
    return latent_scatter(means, labels, sibling(path, "latent"))


def write_filters(path: Path, weights: np.ndarray, shape) -> Path:
    """Beside `path`: each hidden unit's visible weights as a picture of `shape`."""
    return filter_grid(weights, sibling(path, "filters"), shape)


def write_text(text: str, output) -> str:
    """Generated text to the file `output`, or (without one) the text itself to print."""
    if output is None:
        return text
    from nngraph.atomic import atomic_write_text
    from nngraph.viz.output import output_path

    atomic_write_text(output_path(output, (".txt",), "generated text"), text)
    return f"wrote {plural(len(text), 'character')} to {output}"


def write_side_by_side(path: Path, columns: list[np.ndarray]) -> Path:
    """One row per example, its pictures (n, C, H, W) from each of `columns` side by side (super-resolution:
    low, bicubic, model, truth)."""
    rows = np.stack([np.asarray(c, np.float64) for c in columns], axis=1)  # (n, columns, C, H, W)
    return image_grid(rows.reshape(-1, *rows.shape[2:]), path, nrow=len(columns))


def write_series_fills(path: Path, values: np.ndarray, missing: np.ndarray, filled: np.ndarray,
                       truth: np.ndarray | None) -> Path:
    """Filled-in sequences (n, T, F), one panel each for the first few (first feature): the known steps, the
    filled ones, and the truth where it is known."""
    from nngraph.viz.output import PLOT_SUFFIXES, new_figure, output_path, save_figure

    path = output_path(path, PLOT_SUFFIXES, "filled-in sequences")
    shown = min(SERIES_SHOWN, len(filled))
    figure = new_figure(8.0, 1.6 * shown)
    steps = np.arange(filled.shape[1])
    for k in range(shown):
        ax = figure.add_subplot(shown, 1, k + 1)
        gap = missing[k].reshape(len(steps), -1)[:, 0]
        if truth is not None:
            ax.plot(steps, truth[k].reshape(len(steps), -1)[:, 0], color="0.6", lw=2, label="data")
        ax.plot(steps, np.where(gap, np.nan, values[k].reshape(len(steps), -1)[:, 0]), "k.", ms=3, label="kept")
        ax.plot(steps, np.where(gap, filled[k].reshape(len(steps), -1)[:, 0], np.nan), "C3.-", ms=3,
                label="filled")
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    save_figure(figure, path)
    return path
