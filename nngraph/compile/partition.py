"""Partition functions: exact log Z by enumeration, and annealed importance sampling (AIS) for larger RBMs.

Exact: a restricted machine sums one side out in closed form and enumerates the other, so it needs at most
MAX_ENUMERATED units on one side (gaussian visible units are integrated, so their machines enumerate the
hidden side); a general machine enumerates every state of all its units. AIS follows Salakhutdinov and Murray
(2008): a path of RBMs from one with no weights and the data's base rates (log Z known) to the trained one,
tempered by beta, with one Gibbs transition per beta; the estimate is the log of the mean importance weight,
its error bar the standard error of that log (delta method).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from nngraph.compile.gibbs import uniform
from nngraph.errors import TrainingError
from nngraph.ops.activations import stable_sigmoid, stable_softplus

MAX_ENUMERATED = 20
CHUNK = 1 << 14  # enumerated states per block: bounds memory at CHUNK x units


def binary_states(xp, n: int, start: int, stop: int, dtype):
    """Rows of the binary codes of start..stop-1 on n bits (bit i = unit i)."""
    codes = xp.arange(start, stop, dtype=xp.int64)[:, None]
    return ((codes >> xp.arange(n, dtype=xp.int64)) & 1).astype(dtype)


def _logsumexp(xp, a):
    """log(sum(exp(a))) as a 0-d array on a's device (no read: a training step's metrics use it)."""
    top = a.max()
    return top + xp.log(xp.exp(a - top).sum())


def enumerated_side(machine) -> str:
    """Which units an exact computation enumerates: "visible", "hidden" or "all"; refuses machines
    too large, pointing at AIS."""
    if not machine.restricted:
        if machine.size > MAX_ENUMERATED or machine.any_gaussian:
            what = "has gaussian units" if machine.any_gaussian else f"has {machine.size} units"
            raise TrainingError(f"the exact partition function of this general Boltzmann machine cannot be "
                                f"enumerated: it {what} (at most {MAX_ENUMERATED} bernoulli units)",
                                hint="compare models by reconstruction error or sampled statistics")
        return "all"
    sides = {"hidden": machine.n_hidden} if machine.any_gaussian else \
        {"visible": machine.n_visible, "hidden": machine.n_hidden}
    side = min(sides, key=sides.get)
    if sides[side] > MAX_ENUMERATED:
        raise TrainingError(f"the exact partition function needs 2^{sides[side]} states ({side} side); "
                            f"enumeration stops at {MAX_ENUMERATED} units on one side",
                            hint="estimate log Z with annealed importance sampling: "
                                 "nngraph.compile.partition.ais_log_z")
    return side


def enumeration_size(machine) -> int:
    """Multiply-adds an exact log Z costs (states x units); 0 when it is not feasible."""
    try:
        side = enumerated_side(machine)
    except TrainingError:
        return 0
    n = {"visible": machine.n_visible, "hidden": machine.n_hidden, "all": machine.size}[side]
    return (1 << n) * machine.size


def log_z_exact(machine, temperature: float = 1.0):
    """log Z of the machine at `temperature` (p(s) proportional to exp(-E(s) / T)), as a float64 0-d array on
    the machine's device."""
    side, xp = enumerated_side(machine), machine.xp
    n = {"visible": machine.n_visible, "hidden": machine.n_hidden, "all": machine.size}[side]
    parts = []
    for start in range(0, 1 << n, CHUNK):
        states = binary_states(xp, n, start, min(start + CHUNK, 1 << n), machine.weights.dtype)
        parts.append(_logsumexp(xp, _unnormalised(machine, side, states, temperature).astype(xp.float64)))
    return _logsumexp(xp, xp.stack(parts))


def _unnormalised(machine, side: str, states, temperature: float):
    """log of the unnormalised probability of each enumerated state (the other side summed out)."""
    xp = machine.xp
    if side == "all":
        return -machine.energy(states, temperature)
    if side == "visible":
        return -machine.free_energy(states, temperature=temperature)
    z = states @ machine.weights.T + machine.visible_bias  # visible net input given h
    out = states @ machine.hidden_bias / temperature
    gaussian = machine.gaussian[: machine.n_visible]
    if gaussian.any():  # the integral of exp((v z - v^2 / 2) / T) over v: sqrt(2 pi T) exp(z^2 / 2T)
        zg = z[:, xp.asarray(gaussian)]
        out = out + 0.5 * xp.sum(zg * zg, axis=1) / temperature \
            + 0.5 * int(gaussian.sum()) * math.log(2 * math.pi * temperature)
    if not gaussian.all():
        out = out + xp.sum(stable_softplus(xp, z[:, xp.asarray(~gaussian)] / temperature), axis=1)
    return out


def log_likelihood(machine, v, log_z, temperature: float = 1.0):
    """log p(v) of each visible row [B, V] (a backend array), given log Z."""
    xp = machine.xp
    if machine.restricted:
        return -machine.free_energy(v, temperature=temperature) - log_z
    hidden = binary_states(xp, machine.n_hidden, 0, 1 << machine.n_hidden, v.dtype)
    rows = []
    for row in v:
        states = xp.concatenate([xp.broadcast_to(row, (len(hidden), len(row))), hidden], axis=1)
        rows.append(_logsumexp(xp, -machine.energy(states, temperature).astype(xp.float64)))
    return xp.stack(rows) - log_z


def most_probable(machine, values, observed: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """For each row of `values` [B, N] (host), the most probable state of the units not `observed`
    (a bool [N] mask) given the observed ones, by enumeration: the zero-temperature end of annealing."""
    free = np.flatnonzero(~observed)
    if len(free) > MAX_ENUMERATED:
        raise TrainingError(f"{len(free)} free units are too many to enumerate (at most {MAX_ENUMERATED})")
    xp = machine.xp
    codes = binary_states(np, len(free), 0, 1 << len(free), np.float64)
    rows = np.array(values, dtype=np.float64)
    states = np.repeat(rows[:, None], len(codes), axis=1)  # [B, states, N]
    states[:, :, free] = codes
    flat = xp.asarray(states.reshape(-1, rows.shape[1]), dtype=machine.weights.dtype)
    energies = machine.backend.to_numpy(machine.energy(flat)).reshape(len(rows), len(codes))
    rows[:, free] = codes[energies.argmin(axis=1)]
    return rows


# ---- annealed importance sampling -------------------------------------------------------------

@dataclass(frozen=True)
class AISResult:
    log_z: float
    stderr: float  # standard error of log_z
    runs: int
    betas: int


def default_betas(count: int = 14500) -> np.ndarray:
    """Salakhutdinov and Murray's spacing, scaled to `count`: 500 in [0, 0.5), 4000 in [0.5, 0.9), the
    rest in [0.9, 1]."""
    a, b = round(count * 500 / 14500), round(count * 4000 / 14500)
    return np.concatenate([np.linspace(0, 0.5, a, endpoint=False), np.linspace(0.5, 0.9, b, endpoint=False),
                           np.linspace(0.9, 1.0, count - a - b)])


def ais_log_z(machine, rng: np.random.Generator, runs: int = 100, betas: np.ndarray | None = None,
              base_rates: np.ndarray | None = None) -> AISResult:
    """AIS estimate of log Z of a bernoulli RBM. `base_rates`: each visible unit's frequency of being on in
    the data, for the start model (default: the sigmoid of the RBM's own visible biases)."""
    if not machine.restricted or machine.any_gaussian:
        raise TrainingError("AIS here estimates bernoulli restricted Boltzmann machines only")
    xp, dtype = machine.xp, machine.weights.dtype
    betas = default_betas() if betas is None else np.asarray(betas, dtype=np.float64)
    w, b, c = machine.weights, machine.visible_bias, machine.hidden_bias
    base = (xp.asarray(np.log(np.clip(base_rates, 1e-3, 1 - 1e-3) / np.clip(1 - base_rates, 1e-3, 1)),
                       dtype=dtype) if base_rates is not None else b.copy())
    draws_v = xp.empty((runs, machine.n_visible), dtype=dtype)
    draws_h = xp.empty((runs, machine.n_hidden), dtype=dtype)
    v = (uniform(rng, draws_v) < stable_sigmoid(xp, xp.broadcast_to(base, draws_v.shape).copy())).astype(dtype)
    log_w = xp.zeros(runs, dtype=xp.float64)

    def log_f(v, beta):
        hidden = stable_softplus(xp, beta * (v @ w + c)).sum(axis=1)
        return ((1 - beta) * (v @ base) + beta * (v @ b) + hidden).astype(xp.float64)

    for before, beta in itertools.pairwise(betas.tolist()):  # python floats: cupy takes no numpy scalars
        log_w += log_f(v, beta) - log_f(v, before)
        h = (uniform(rng, draws_h) < stable_sigmoid(xp, beta * (v @ w + c))).astype(dtype)
        v = (uniform(rng, draws_v) < stable_sigmoid(xp, (1 - beta) * base + beta * (h @ w.T + b))).astype(dtype)
    log_z0 = float(stable_softplus(xp, base).sum()) + machine.n_hidden * math.log(2)
    weights = machine.backend.to_numpy(log_w)
    top = weights.max()
    ratio = np.exp(weights - top)
    log_mean = top + math.log(ratio.mean())
    stderr = float(ratio.std(ddof=1) / (math.sqrt(runs) * ratio.mean())) if runs > 1 else math.inf
    return AISResult(log_z0 + log_mean, stderr, runs, len(betas))
