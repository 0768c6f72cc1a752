"""Small generated sets for classification and regression: xor, moons, spirals, linear.

Each is a pure function of its options and the seed, so the same spec gives the same numbers.
Rows are shuffled (by the seed) so that even an unshuffled minibatch holds every class.
"""

from __future__ import annotations

import numpy as np

from nngraph.data.catalog import FEATURES, SEEDED, Request, register
from nngraph.data.dataset import Dataset, classification, regression
from nngraph.data.options import Option

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)  # 0s and 1s: exact in any float dtype
XOR_LABELS = np.array([0, 1, 1, 0], np.int64)


@register("xor", {**FEATURES, "repeat": Option("int", 1, minimum=1)})
def xor(req: Request) -> Dataset:
    """The truth table of exclusive or: x in {0,1}^2, label x0 XOR x1 (2 classes).

    The four rows come in truth-table order (00, 01, 10, 11), the whole table `repeat` times.
    """
    reps = req["repeat"]
    req.expect_room(4 * reps, 3, "repeat")
    return classification(np.tile(XOR_INPUTS, (reps, 1)), np.tile(XOR_LABELS, reps), "xor", 2, dtype=req.dtype)


def _shuffled(rng: np.random.Generator, x: np.ndarray, y: np.ndarray):
    order = rng.permutation(len(x))
    return x[order], y[order]


@register(
    "moons",
    {
        **FEATURES,
        **SEEDED,
        "n": Option("int", 200, minimum=2),
        "noise": Option("float", 0.1, minimum=0),
    },
)
def moons(req: Request) -> Dataset:
    """Two interleaved half circles (as scikit-learn's make_moons), 2 classes.

    Class 0: n//2 points (cos t, sin t) for t evenly spaced in [0, pi]; class 1: the rest,
    (1 - cos t, 0.5 - sin t). Then gaussian noise of standard deviation `noise` on both axes.
    """
    n, rng = req["n"], req.rng()
    req.expect_room(n, 3)
    outer, inner = n // 2, n - n // 2
    t_out, t_in = np.linspace(0, np.pi, outer), np.linspace(0, np.pi, inner)
    upper = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    lower = np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0, req["noise"], (n, 2))
    y = np.repeat([0, 1], [outer, inner])
    return classification(*_shuffled(rng, x, y), "moons", 2, dtype=req.dtype)


@register(
    "spirals",
    {
        **FEATURES,
        **SEEDED,
        "n": Option("int", 200, minimum=2),
        "noise": Option("float", 0.0, minimum=0),
        "turns": Option("float", 1.0, minimum=0.1),
        "classes": Option("int", 2, minimum=2, maximum=10),
    },
)
def spirals(req: Request) -> Dataset:
    """Interleaved arms of an Archimedean spiral, one class per arm.

    Arm c gets n//classes points (the first arms one more while n does not divide evenly):
    radius r = (i+1)/m for i < m, angle 2*pi*(turns*r + c/classes), point r*(cos, sin) plus
    gaussian noise of standard deviation `noise`. Radii start above 0 so arms never share a point.
    """
    n, k, rng = req["n"], req["classes"], req.rng()
    req.expect_room(n, 3)
    counts = [n // k + (c < n % k) for c in range(k)]
    arms = [_spiral_arm(m, c / k, req["turns"]) for c, m in enumerate(counts)]
    x = np.concatenate(arms) + rng.normal(0, req["noise"], (n, 2))
    y = np.repeat(np.arange(k), counts)
    return classification(*_shuffled(rng, x, y), "spirals", k, dtype=req.dtype)


def _spiral_arm(m: int, offset: float, turns: float) -> np.ndarray:
    radius = np.arange(1, m + 1) / m
    angle = 2 * np.pi * (turns * radius + offset)
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


@register(
    "linear",
    {
        **FEATURES,
        **SEEDED,
        "n": Option("int", 100, minimum=1),
        "features": Option("int", 3, minimum=1),
        "noise": Option("float", 0.01, minimum=0),
        "weights": Option("floats"),
        "bias": Option("float"),
    },
)
def linear(req: Request) -> Dataset:
    """A linear regression with known answer: y = x @ weights + bias + noise, y of shape (n, 1).

    x ~ N(0, 1) of shape (n, features); noise ~ N(0, noise^2). Weights not given are drawn
    uniformly from [-1, 1] (one per feature), then the bias likewise. The true values sit in
    `info["weights"]` (float64, (features,)) and `info["bias"]` so a test can check recovery.
    """
    req.expect_room(req["n"], req["features"] + 1 if req["weights"] is None else len(req["weights"]) + 1)
    rng = req.rng()
    weights = _true_weights(req, rng)
    bias = req["bias"] if req["bias"] is not None else float(rng.uniform(-1, 1))
    x = rng.normal(0, 1, (req["n"], len(weights)))
    y = x @ weights + bias + rng.normal(0, req["noise"], req["n"])
    return regression(x, y, "linear", dtype=req.dtype, weights=weights, bias=bias)


def _true_weights(req: Request, rng: np.random.Generator) -> np.ndarray:
    weights = req["weights"]
    if weights is None:
        return rng.uniform(-1, 1, req["features"])
    if req.options.given("features") and len(weights) != req["features"]:
        raise req.error(
            f"linear: {len(weights)} weights given for features={req['features']}",
            "give one weight per feature, or leave `features` out",
            option="weights",
        )
    return np.array(weights, np.float64)


@register(
    "balls",
    {
        **FEATURES,
        **SEEDED,
        "n": Option("int", 1000, minimum=2),
        "features": Option("int", 8, minimum=1),
        "labels": Option("int", 5, minimum=2, maximum=64),
    },
)
def balls(req: Request) -> Dataset:
    """A multi-label set: x ~ N(0, I) of shape (n, features), and `labels` overlapping balls, label k on (1.0)
    where x lies within ball k, else 0.0: float targets of shape (n, labels), any number of them on at once.

    Ball k's centre is drawn from N(0, I), its radius is the median distance of the points to it, so each label
    is on for about half of them (labels correlate, about 0.2 for 8 features); a ball is no half-space, so a
    model needs a hidden layer. The centres sit in `info["centres"]`.
    """
    n, features, count = req["n"], req["features"], req["labels"]
    # each point's difference from every centre is held at once; n=1e30 or features=1e30 was numpy's 'Maximum
    # allowed dimension exceeded' (exit 70); refused at whichever of the two grew more past its default
    larger = "n" if n / 1000 >= features / 8 else "features"
    req.expect_room(n, (count + 1) * features + count, larger)
    rng = req.rng()
    centres = rng.normal(0, 1, (count, features))
    x = rng.normal(0, 1, (n, features))
    distances = np.linalg.norm(x[:, None, :] - centres[None], axis=2)
    y = distances < np.median(distances, axis=0)
    return regression(x, y, "balls", dtype=req.dtype, centres=centres)
