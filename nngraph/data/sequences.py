"""Generated sequence sets for recurrent nets: sine (next step), adding, parity.

Inputs are (n, T, F), in the run's dtype as the targets. `info["target"]` says whether targets are per step
("per_step", y of shape (n, T, k)) or one per sequence ("final", y of shape (n, k)).
"""

from __future__ import annotations

import numpy as np

from nngraph.data.catalog import SCALED, SEEDED, Request, register
from nngraph.data.dataset import Dataset, regression
from nngraph.data.options import Option

SEQUENCE = {**SCALED, **SEEDED, "n": Option("int", 200, minimum=1)}


def _sequences(req: Request, x, y, target: str, **info) -> Dataset:
    return regression(x, y, req.name, task="sequence", dtype=req.dtype, target=target, **info)


@register(
    "sine",
    {
        **SEQUENCE,
        "length": Option("int", 50, minimum=1),
        "noise": Option("float", 0.0, minimum=0),
        "frequencies": Option("floats", [0.02, 0.1], minimum=0),
    },
)
def sine(req: Request) -> Dataset:
    """Next-step prediction of sine waves: x[t] = s(t), y[t] = s(t+1) for t < length.

    s(t) = sin(2*pi*f*t + phase) + N(0, noise^2), with f uniform in `frequencies` = [low, high]
    (cycles per step) and phase uniform in [0, 2*pi), both drawn per sequence. x, y: (n, T, 1).
    """
    low, high = _frequency_range(req)
    n, length, rng = req["n"], req["length"], req.rng()
    req.expect_room(n, 2 * (length + 1))
    freq = rng.uniform(low, high, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    steps = np.arange(length + 1)[None, :]
    wave = np.sin(2 * np.pi * freq * steps + phase) + rng.normal(0, req["noise"], (n, length + 1))
    return _sequences(req, wave[:, :-1, None], wave[:, 1:, None], "per_step")


def _frequency_range(req: Request) -> tuple[float, float]:
    freqs = req["frequencies"]
    if len(freqs) != 2 or freqs[0] > freqs[1]:
        raise req.error(
            "sine: frequencies must be [low, high] with low <= high",
            "for example frequencies=[0.02, 0.1] (cycles per step)",
            option="frequencies",
        )
    return freqs[0], freqs[1]


@register("adding", {**SEQUENCE, "length": Option("int", 10, minimum=2)})
def adding(req: Request) -> Dataset:
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015).

    x: (n, T, 2). Channel 0 holds values uniform in [0, 1); channel 1 is a marker with exactly
    two ones, one at a uniform step in the first half [0, T//2), one in the second [T//2, T).
    y: (n, 1), the sum of the two marked values.
    """
    n, length, rng = req["n"], req["length"], req.rng()
    req.expect_room(n, 3 * length)
    half = length // 2
    values = rng.uniform(0, 1, (n, length))
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    marker = np.zeros((n, length))
    marker[np.arange(n), first] = 1
    marker[np.arange(n), second] = 1
    x = np.stack([values, marker], axis=2)
    y = (values * marker).sum(axis=1)
    return _sequences(req, x, y, "final")


@register(
    "parity",
    {
        **SEQUENCE,
        "length": Option("int", 8, minimum=1),
        "target": Option("choice", "running", choices=("running", "final")),
    },
)
def parity(req: Request) -> Dataset:
    """Parity of random bit strings: x (n, T, 1) bits, each 0 or 1 with probability 1/2.

    target=running: y (n, T, 1), y[t] = (x[0] + ... + x[t]) mod 2.
    target=final:   y (n, 1), the parity of the whole string.
    """
    req.expect_room(req["n"], 2 * req["length"])
    bits = req.rng().integers(0, 2, (req["n"], req["length"]))
    running = np.cumsum(bits, axis=1) % 2
    if req["target"] == "final":
        return _sequences(req, bits[:, :, None], running[:, -1], "final")
    return _sequences(req, bits[:, :, None], running[:, :, None], "per_step")
