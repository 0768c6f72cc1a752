"""`augment shift=S rotate=R noise=N` against the twin's reading of section 7: each image turned about its
centre by its angle, moved by whole pixels, sampled bilinearly with 0 outside the image (torch's
`grid_sample` with zero padding), then given Gaussian noise; the draws (angles, shifts, noise) handed to the
twin in the documented order. Compared: the changed images. The training loop changes a minibatch of the
data set's float32 images (section 11), so this family is compared at float32's precision (`TOLERANCE`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import nngraph
from nngraph.data.augment import augment_batch
from nngraph.data.dataset import Dataset

from .compare import rel_diff
from .net import LAST
from .stepping import Handed
from .torch_twin import Draws

TOLERANCE = 1e-5  # float32 images: their coordinates and values round at about 1e-7


def augment_case(rng):
    """Random float32 images and options (at least one on); the train block's text; what it uses."""
    options = {}
    while not options:
        for name, values in (("shift", [0, 1, 2]), ("rotate", [0, 10, 45, 180]), ("noise", [0, 0.1])):
            value = values[rng.integers(len(values))]
            if value:
                options[name] = value
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(2, 8)), int(rng.integers(2, 8)))
    text = (f"model m {{\n  input x[{', '.join(map(str, shape[1:]))}]\n  output y[1] sigmoid\n  x -> y\n}}\n"
            "train {\n  data xor\n  loss bce(y)\n  augment " + " ".join(f"{k}={v}" for k, v in options.items())
            + "\n}\n")
    used = {f"{k}={v}" for k, v in options.items()}
    if "shift" in options and "rotate" in options:
        used.add("shift and rotate")
    return rng.random(shape).astype(np.float32), options, text, used


def twin_augment(x, options, handed):
    """Each image turned by its angle about its centre ((rows - 1) / 2, (columns - 1) / 2), moved by its shift:
    output pixel p reads the input at R(angle) (p - shift - centre) + centre, R = [[cos, -sin], [sin, cos]] on
    (row, column); bilinear between the four nearest pixels, 0 outside; then the noise."""
    n, _, rows, columns = x.shape
    out = torch.tensor(x, dtype=torch.float64)
    angles = torch.deg2rad(handed.take("uniform", (n,))) if options.get("rotate") else torch.zeros(n)
    shifts = handed.take("integers", (n, 2)).double() if options.get("shift") else torch.zeros(n, 2)
    if options.get("rotate") or options.get("shift"):
        centre_r, centre_c = (rows - 1) / 2, (columns - 1) / 2
        r = torch.arange(rows).double()[None, :, None] - centre_r - shifts[:, 0, None, None]
        c = torch.arange(columns).double()[None, None, :] - centre_c - shifts[:, 1, None, None]
        cos, sin = torch.cos(angles)[:, None, None], torch.sin(angles)[:, None, None]
        source_r, source_c = cos * r - sin * c + centre_r, sin * r + cos * c + centre_c
        # grid_sample's (x, y) = (column, row), -1 and 1 the centres of the first and last pixels
        grid = torch.stack([source_c / max(columns - 1, 1) * 2 - 1, source_r / max(rows - 1, 1) * 2 - 1], dim=-1)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    if options.get("noise"):
        out = out + options["noise"] * handed.take("normal", x.shape)
    return out


def compare_augment(rng):
    x, options, text, used = augment_case(rng)
    LAST[0] = text
    config = nngraph.loads(text).train(None)
    draws = Draws(np.random.default_rng(400))
    ours = augment_batch(Dataset(x, None, "unsupervised"), config.augment, draws).x
    handed = Handed(draws)
    theirs = twin_augment(x, options, handed)
    if handed.made:
        raise AssertionError(f"augment drew {len(handed.made)} arrays more than the twin expects")
    return used, ((rel_diff(ours, theirs), "the changed images"), text)
