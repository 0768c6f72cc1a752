"""Unsupervised generated sets for generative models: bars and stripes, Gaussian rings and grids."""

from __future__ import annotations

import itertools

import numpy as np

from nngraph.data.catalog import FEATURES, SEEDED, Request, register
from nngraph.data.dataset import Dataset, unsupervised
from nngraph.data.options import Option


@register(
    "bars",
    {
        **FEATURES,
        "size": Option("int", 3, minimum=2, maximum=6),
        "repeat": Option("int", 1, minimum=1),
    },
)
def bars(req: Request) -> Dataset:
    """Bars and stripes: every size x size binary image whose rows (bars) or columns (stripes)
    are each all on or all off, flattened row-major to (n, size*size), in the run's dtype.

    First the 2^size bar images (row r on where bit r of the pattern number is set), then the
    2^size stripe images likewise; all-on and all-off appear in both halves, so size 3 gives
    16 rows of which 14 are distinct, size 4 gives 32. The whole list comes `repeat` times.
    """
    size = req["size"]
    req.expect_room(2 ** (size + 1) * req["repeat"], size * size, "repeat")
    rows = np.array(list(itertools.product([0, 1], repeat=size)), req.dtype)[:, ::-1]
    bar_images = np.repeat(rows[:, :, None], size, axis=2)  # row r lit across all columns
    stripe_images = bar_images.transpose(0, 2, 1)
    images = np.concatenate([bar_images, stripe_images]).reshape(-1, size * size)
    return unsupervised(np.tile(images, (req["repeat"], 1)), "bars", dtype=req.dtype, size=size)


MIXTURE = {**FEATURES, **SEEDED}


@register(
    "ring",
    {
        **MIXTURE,
        "n": Option("int", 1000, minimum=1),
        "modes": Option("int", 8, minimum=1),
        "radius": Option("float", 2.0, minimum=0),
        "std": Option("float", 0.02, minimum=0),
    },
)
def ring(req: Request) -> Dataset:
    """A mixture of `modes` 2-D Gaussians, centres evenly on a circle of `radius`.

    Centre k is radius * (cos 2*pi*k/modes, sin 2*pi*k/modes). Point i belongs to mode i % modes
    (so the modes are as equal as n allows), shuffled by the seed, plus N(0, std^2) on each axis.
    `info["centres"]` (modes, 2) and `info["std"]` are kept for mode-counting metrics.
    """
    req.expect_room(req["modes"], 2, "modes")  # modes=1e30: numpy's 'Maximum allowed size exceeded' (exit 70)
    angles = 2 * np.pi * np.arange(req["modes"]) / req["modes"]
    centres = req["radius"] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _mixture(req, centres, "ring")


@register(
    "grid",
    {
        **MIXTURE,
        "n": Option("int", 1000, minimum=1),
        "side": Option("int", 5, minimum=1),
        "spacing": Option("float", 2.0, minimum=0),
        "std": Option("float", 0.05, minimum=0),
    },
)
def grid(req: Request) -> Dataset:
    """A mixture of side x side 2-D Gaussians on a square grid centred on the origin.

    Centres are spacing * (i - (side-1)/2, j - (side-1)/2) for i, j in 0..side-1 (row-major);
    points are drawn as for `ring`, and the same `info` keys are kept.
    """
    req.expect_room(req["side"] ** 2, 2, "side")  # side=1e30: numpy's 'Maximum allowed size exceeded' (exit 70)
    steps = (np.arange(req["side"]) - (req["side"] - 1) / 2) * req["spacing"]
    rows, columns = np.meshgrid(steps, steps, indexing="ij")  # row-major: (steps[i], steps[j]), j fastest
    centres = np.stack([rows.ravel(), columns.ravel()], axis=1)
    return _mixture(req, centres, "grid")


def _mixture(req: Request, centres: np.ndarray, name: str) -> Dataset:
    req.expect_room(req["n"], 2)
    rng = req.rng()
    mode = rng.permutation(np.arange(req["n"]) % len(centres))
    x = centres[mode] + rng.normal(0, req["std"], (req["n"], 2))
    return unsupervised(x, name, dtype=req.dtype, centres=centres, std=req["std"])


@register("encoder", {**FEATURES, "size": Option("int", 4, minimum=2, maximum=64),
                      "repeat": Option("int", 1, minimum=1)})
def encoder(req: Request) -> Dataset:
    """The encoder problem of Ackley, Hinton and Sejnowski (1985): `size` patterns of 2*size bits,
    pattern k having bit k on in the first group and bit k on in the second (a one-hot code copied).
    A machine whose two visible groups talk only through log2(size) hidden units must learn a code.
    """
    req.expect_room(req["size"] * req["repeat"], 2 * req["size"], "repeat")
    eye = np.eye(req["size"], dtype=req.dtype)
    return unsupervised(np.tile(np.concatenate([eye, eye], axis=1), (req["repeat"], 1)), "encoder",
                        dtype=req.dtype, size=req["size"])
