"""How well generated 2-D points cover a mixture of Gaussians: modes captured, high-quality share.

As in the VEEGAN paper (Srivastava et al. 2017), following the unrolled-GAN experiments (Metz et
al. 2017): generate 2500 points; a point is *high quality* when it lies within 3 standard
deviations of its nearest mode centre; a mode is *captured* when at least MIN_PER_MODE of the
high-quality points belong to it (the rule PacGAN states for the same benchmark: "fewer than 20
samples registered to a mode" means the mode is lost).
"""

from __future__ import annotations

import numpy as np

SAMPLES = 2500
WITHIN_STDS = 3.0
MIN_PER_MODE = 20


def mode_metrics(points: np.ndarray, centres: np.ndarray, std: float,
                 min_per_mode: int = MIN_PER_MODE) -> dict[str, float]:
    """{"modes": modes captured, "high_quality": share of points within 3 std of a mode}."""
    points = np.asarray(points, np.float64).reshape(len(points), -1)
    centres = np.asarray(centres, np.float64)
    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    nearest = distance.argmin(axis=1)
    good = distance[np.arange(len(points)), nearest] <= WITHIN_STDS * std
    per_mode = np.bincount(nearest[good], minlength=len(centres))
    return {"modes": float((per_mode >= min_per_mode).sum()), "high_quality": float(good.mean())}


def has_modes(info: dict) -> bool:
    """Does a data set know its mixture (the built-in `ring` and `grid`)?"""
    return "centres" in info and "std" in info
