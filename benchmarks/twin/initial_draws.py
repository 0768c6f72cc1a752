"""Initial parameters that are drawn from a normal distribution, against the docs' statements on large draws:
Boltzmann weights N(0, 0.01^2) (section 9: `a <-> b` one matrix; `h <-> h` symmetric, its diagonal 0, its upper
triangle the draws) with hidden biases 0, and a mixture prior's means N(0, 1) with log-variances 0 (section 4).
Not bit equality but statistics, each as its value over its threshold (a case passes at most 1): the mean's
z-score over 5, the standard deviation's relative error over 5 sqrt(1 / (2 n)), the excess kurtosis over
5 sqrt(24 / n) (a uniform draw of the same spread has -1.2), and Kolmogorov-Smirnov's D sqrt(n) against the
stated normal over 2.3 (p about 1e-4). Each case draws 1,600 to 20,000 values: the chance that a right
distribution fails one of a case's four statistics is below 1e-3, while at 1,600 values a uniform draw of the
same spread scores 2.0, a spread 10% too wide 1.3 and a mean off by a tenth of the spread 1.1."""

from __future__ import annotations

import math

import numpy as np
import torch

from .compare import Worst, rel_diff
from .net import Net
from .stepping import method_for

THRESHOLD = 1.0  # the family's tolerance: every statistic is reported over its threshold


def normal_ratios(values: np.ndarray, sigma: float) -> dict[str, float]:
    """Each statistic of `values` against N(0, sigma^2), over its threshold."""
    x = np.asarray(values, np.float64).ravel()
    n = x.size
    mean, std = x.mean(), x.std()
    kurtosis = float(((x - mean) ** 4).mean() / std ** 4 - 3)
    ordered = torch.tensor(np.sort(x))
    cdf = torch.distributions.Normal(0.0, sigma).cdf(ordered).numpy()
    steps = np.arange(1, n + 1) / n
    d = max(float(np.max(steps - cdf)), float(np.max(cdf - (steps - 1 / n))))
    return {"mean": abs(mean) / (sigma / math.sqrt(n)) / 5, "std": abs(std / sigma - 1) / (5 / math.sqrt(2 * n)),
            "kurtosis": abs(kurtosis) / (5 * math.sqrt(24 / n)), "Kolmogorov-Smirnov": d * math.sqrt(n) / 2.3}


def note_normal(worst: Worst, values, sigma: float, what: str) -> None:
    for name, ratio in normal_ratios(values, sigma).items():
        worst.note(ratio, f"{what}: {name}")


def boltzmann_case(rng):
    net = Net()
    visible, hidden = int(rng.integers(40, 141)), int(rng.integers(40, 141))
    kind = "gaussian" if rng.random() < 0.3 else "bernoulli"
    net.unit("v", "visible", (visible,), kind)
    net.unit("h", "hidden", (hidden,), "bernoulli")
    net.link("v", "h", "symmetric")
    lateral = rng.random() < 0.5
    if lateral:
        net.link("h", "h", "symmetric")
    method = "boltzmann" if lateral else ["cd", "pcd"][rng.integers(2)]
    text = "\n".join(net.model_lines("m") + ["train {", "  model m", "  data xor", f"  method {method}",
                                            f"  seed {int(rng.integers(10000))}", "}"]) + "\n"
    _, machine = method_for(text)
    params = {k: np.asarray(v, np.float64) for k, v in machine.params.items()}
    worst = Worst()
    note_normal(worst, params["v<->h.weight"], 0.01, "v <-> h weights")
    worst.note(rel_diff(params["h.bias"], np.zeros(hidden)), "hidden biases 0")
    used = {f"Boltzmann weights N(0, 0.01^2), {method}"}
    if lateral:
        W = params["h<->h.weight"]
        worst.note(rel_diff(W, W.T), "h <-> h symmetric")
        worst.note(rel_diff(np.diag(W), np.zeros(hidden)), "h <-> h diagonal 0")
        note_normal(worst, W[np.triu_indices(hidden, 1)], 0.01, "h <-> h weights above the diagonal")
        used.add("lateral weights h <-> h")
    return used, (worst.value, text)


def mixture_case(rng):
    net = Net()
    latent, components = int(rng.integers(40, 101)), int(rng.integers(40, 201))
    net.unit("x", "input", (2,))
    net.unit("mu", "layer", (latent,), "identity")
    net.unit("lv", "layer", (latent,), "identity")
    net.unit("z", "sample", mean="mu", logvar="lv", words=[f"prior=mixture({components})"])
    net.unit("y", "output", (2,), "sigmoid")
    for a, b in (("x", "mu"), ("x", "lv"), ("z", "y")):
        net.link(a, b)
    net.losses += [(1, "bce", "y", "x"), (1, "kl", "z", None)]
    net.sum_units = True
    text = net.text(["method vae", f"seed {int(rng.integers(10000))}"])
    _, vae = method_for(text)
    params = {k: np.asarray(v, np.float64) for k, v in vae.params.items()}
    worst = Worst()
    note_normal(worst, params["z.prior.mean"], 1.0, "mixture means")
    worst.note(rel_diff(params["z.prior.logvar"], np.zeros((components, latent))), "mixture log-variances 0")
    return {"mixture prior means N(0, 1)"}, (worst.value, text)


def compare_initial_draws(rng):
    return boltzmann_case(rng) if rng.random() < 0.6 else mixture_case(rng)
