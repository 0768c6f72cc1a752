"""Data augmentation: random shifts, rotations and noise applied to a training minibatch on the fly.

`augment shift=2 rotate=10 noise=0.05` in a train block (its options: graph/vocabulary.py AUGMENT_OPTIONS)
makes the training loop pass every minibatch through `augment_batch` before the step; evaluation never sees
it. The draws come from the loop's checkpointed generator, so a run is repeatable and a resumed run exact.

Each image (examples shaped [channels, rows, columns]) gets its own draw: a rotation by an angle uniform in
[-rotate, rotate] degrees about the image's centre, then a shift by whole pixels uniform in [-shift, shift]
along each axis, then Gaussian noise of standard deviation `noise`. The geometric part is one inverse map
per image, sampled bilinearly for the whole batch at once; a pixel whose source lies outside the image is 0,
the background of images in [0, 1]. A shift alone moves pixels exactly (its sampling weights are 0 and 1).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nngraph.backend import array_module, where_is
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError, Span


def check_images(shape: tuple[int, ...], name: str, span: Span | None) -> None:
    """Augmentation moves pixels: the examples must be images [channels, rows, columns]."""
    if len(shape) != 3:
        raise DataError(f"augment transforms images shaped [channels, rows, columns]; the examples of "
                        f"'{name}' have shape {list(shape)}", span,
                        "give the data an image shape, e.g. `data digits(shape=[1, 8, 8])`, or leave augment out")


def augment_batch(batch: Dataset, options: dict, rng: np.random.Generator) -> Dataset:
    """`batch` with its images transformed as `options` (shift, rotate, noise) ask; targets untouched."""
    return replace(batch, x=augment_images(batch.x, options, rng))


def augment_images(x: np.ndarray, options: dict, rng: np.random.Generator) -> np.ndarray:
    """Images (n, channels, rows, columns) moved, turned and noised, each by its own draw from `rng`.
    A transform whose option is 0 draws nothing, so it changes neither the images nor later draws. The draws
    are made on the host (the loop's generator); the images are transformed where they are: a minibatch of
    data on the device gets its n angles and shifts, and its noise, copied there (`where_is`, counted)."""
    n, _, rows, columns = x.shape
    angles = np.deg2rad(rng.uniform(-options["rotate"], options["rotate"], n)) if options["rotate"] else None
    offsets = rng.integers(-options["shift"], options["shift"] + 1, (n, 2)) if options["shift"] else None
    out = x
    if angles is not None or offsets is not None:
        angles, offsets = (None if a is None else where_is(a, x) for a in (angles, offsets))
        source_rows, source_columns = source_coordinates(rows, columns, angles, offsets, n, x.dtype)
        out = sample_bilinear(x, source_rows, source_columns, whole_pixels=angles is None)
    if options["noise"]:
        draw_as = np.float32 if x.dtype == np.float32 else np.float64  # what standard_normal can draw
        out = out + options["noise"] * where_is(rng.standard_normal(x.shape, dtype=draw_as), x)
    return out.astype(x.dtype, copy=False)


def source_coordinates(rows: int, columns: int, angles: np.ndarray | None, offsets: np.ndarray | None,
                       n: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """For every output pixel of every image, (n, rows, columns) each: where in the input it comes from.
    The image is turned by `angle` about its centre and then moved by `offset`: output pixel p reads the input
    at R (p - offset - centre) + centre, R the rotation by `angle` (its sense does not matter: the angles are
    drawn symmetrically about 0). Computed where `angles` and `offsets` are, in `dtype` (the images')."""
    xp = array_module(angles if angles is not None else offsets)
    centre_row, centre_column = (rows - 1) / 2, (columns - 1) / 2
    dtype = np.dtype(dtype)
    r = xp.arange(rows, dtype=dtype)[None, :, None] - dtype.type(centre_row)
    c = xp.arange(columns, dtype=dtype)[None, None, :] - dtype.type(centre_column)
    if offsets is not None:  # in `dtype`: integers would make every float32 coordinate float64
        r = r - offsets[:, 0, None, None].astype(dtype)
        c = c - offsets[:, 1, None, None].astype(dtype)
    if angles is None:
        return xp.broadcast_to(r + centre_row, (n, rows, columns)), xp.broadcast_to(c + centre_column,
                                                                                   (n, rows, columns))
    cos = xp.cos(angles).astype(dtype)[:, None, None]
    sin = xp.sin(angles).astype(dtype)[:, None, None]
    return cos * r - sin * c + centre_row, sin * r + cos * c + centre_column


def sample_bilinear(x: np.ndarray, source_rows: np.ndarray, source_columns: np.ndarray,
                    whole_pixels: bool = False) -> np.ndarray:
    """x (n, channels, rows, columns) read at fractional (source_rows, source_columns), (n, rows, columns)
    each, by bilinear interpolation between the four nearest pixels; a pixel outside the image reads 0.
    `whole_pixels`: the caller knows every coordinate is a whole number (a shift alone), so each output pixel is
    one input pixel (the interpolation would give the same values, slower). On the device of `x`.

    The images get a border of zeros (one pixel before, two after) and the coordinates are clipped into it, so
    every neighbour is a valid index and one outside the image reads a zero: no masks."""
    xp = array_module(x)
    n, channels, rows, columns = x.shape
    padded = xp.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2))).ravel()
    width, size = columns + 3, (rows + 3) * (columns + 3)
    r = xp.clip(source_rows, -1, rows).astype(x.dtype).reshape(n, 1, -1)
    c = xp.clip(source_columns, -1, columns).astype(x.dtype).reshape(n, 1, -1)
    top, left = xp.floor(r), xp.floor(c)
    down, right = r - top, c - left
    image_start = (xp.arange(n * channels) * size).reshape(n, channels, 1)  # where each image starts
    corner = image_start + (top.astype(np.intp) + 1) * width + left.astype(np.intp) + 1

    def at(offset):
        return xp.take(padded, corner + offset)  # a flat take: several times faster than take_along_axis

    if whole_pixels:
        return at(0).reshape(x.shape)
    upper = at(0) + right * (at(1) - at(0))
    lower = at(width) + right * (at(width + 1) - at(width))
    return (upper + down * (lower - upper)).reshape(x.shape)
