"""Image grids: model samples, reconstructions, fill-ins, and RBM weight filters, as one mosaic picture."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nngraph.atomic import atomic_write
from nngraph.errors import DataError, plural
from nngraph.viz.output import PLOT_SUFFIXES, output_path

GAP = 3  # pixels between images, in the written picture
GAP_COLOUR = (0.3, 0.5, 0.85)  # blue separators: no grey, black or white image pixel looks like one
TARGET_SIDE = 480  # the images are enlarged by a whole factor until the grid is at least this long
MAX_SIDE = 4096  # ... unless that would make it longer than this


def as_images(images, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """(n, H, W) grey or (n, H, W, 3) colour floats in [0, 1] from (n, H, W), (n, C, H, W) or (n, D)."""
    a = _numeric(images, "images")
    if a.ndim == 2:
        a = a.reshape(len(a), *_flat_shape(a.shape[1], shape))
    if a.ndim == 4:
        a = _channels_last(a)
    if a.ndim not in (3, 4) or len(a) == 0:
        raise DataError(
            f"images: expected (n, H, W), (n, C, H, W) or (n, D) with n >= 1, got shape {a.shape}",
            None,
            "stack the images along the first axis",
        )
    return np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0)


def _numeric(values, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: expected an array of numbers ({e})") from None


def _flat_shape(size: int, shape) -> tuple[int, ...]:
    if shape is None:
        side = math.isqrt(size)
        if side * side != size:
            raise DataError(
                f"images: rows of {plural(size, 'value')} are not square pictures",
                None,
                "pass shape=(H, W) with H * W equal to the row length",
            )
        return side, side
    shape = tuple(int(d) for d in shape)
    if len(shape) not in (2, 3) or math.prod(shape) != size:
        raise DataError(
            f"images: shape {shape} does not hold rows of {plural(size, 'value')}",
            None,
            "pass shape=(H, W) or (C, H, W) whose product is the row length",
        )
    return shape


def _channels_last(a: np.ndarray) -> np.ndarray:
    channels = a.shape[1]
    if channels == 1:
        return a[:, 0]
    if channels == 3:
        return a.transpose(0, 2, 3, 1)
    raise DataError(
        f"images: expected 1 or 3 channels in (n, C, H, W), got {channels}",
        None,
        "pick one channel (images[:, :1]) or three",
    )


def mosaic(images: np.ndarray, per_row: int) -> np.ndarray:
    """The images tiled row by row in colour, each enlarged by one whole factor (`zoom`: 3x3 bars become 120
    pixels, 8x8 digits 64), GAP pixels apart; the unused tail of the last row is blank."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / per_row)
    scale = zoom(max(rows * h, per_row * w))
    if images.ndim == 3:  # grey: the same value in the three channels
        images = np.repeat(images[..., None], 3, axis=3)
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    canvas = np.empty((rows * (h + GAP) + GAP, per_row * (w + GAP) + GAP, 3))
    canvas[...] = GAP_COLOUR
    for i, image in enumerate(images):
        r, c = divmod(i, per_row)
        top, left = GAP + r * (h + GAP), GAP + c * (w + GAP)
        canvas[top : top + h, left : left + w] = image
    return canvas


def zoom(side: int) -> int:
    """The whole factor that takes a grid `side` pixels long to TARGET_SIDE or beyond, within MAX_SIDE."""
    return max(1, min(math.ceil(TARGET_SIDE / side), MAX_SIDE // side))


def _per_row(n: int, nrow) -> int:
    if nrow is None:
        return math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise DataError(f"nrow: expected a whole number of images per row >= 1, got {nrow!r}")
    return min(int(nrow), n)


def image_grid(
    images, path: str | Path, shape: tuple[int, ...] | None = None, nrow: int | None = None
) -> Path:
    """A grid of images with values in [0, 1]; `nrow` images per row (default: a near-square grid)."""
    pictures = as_images(images, shape)
    path = output_path(path, PLOT_SUFFIXES, "an image grid")
    _save(mosaic(pictures, _per_row(len(pictures), nrow)), path)
    return path


def filter_grid(weights, path: str | Path, shape: tuple[int, ...]) -> Path:
    """Each hidden unit's weights (a column of the visible x hidden matrix) as an image, scaled on its own."""
    w = _numeric(weights, "weights")
    if w.ndim != 2 or w.shape[1] == 0:
        raise DataError(
            f"weights: expected a (visible, hidden) matrix, got shape {w.shape}",
            None,
            "pass the visible-to-hidden weight matrix of the RBM",
        )
    low, high = w.min(axis=0), w.max(axis=0)
    spread = np.where(high > low, high - low, 1.0)  # a flat filter shows as one grey
    scaled = np.where(high > low, (w - low) / spread, 0.5)
    return image_grid(scaled.T, path, shape=_filter_shape(w.shape[0], shape))


def _filter_shape(visible: int, shape) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) != visible:
        raise DataError(
            f"filter shape {shape} holds {plural(math.prod(shape), 'value')}; the weights have "
            f"{plural(visible, 'visible unit')}",
            None,
            "pass the picture shape of one data example, e.g. (8, 8)",
        )
    return shape


def _save(picture: np.ndarray, path: Path) -> None:
    from matplotlib.image import imsave

    atomic_write(path, lambda f: imsave(f, picture, vmin=0.0, vmax=1.0, format=path.suffix[1:].lower()))
