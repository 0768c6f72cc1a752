"""Bars and stripes 4x4 (32 patterns, all-on and all-off counted twice), RBM with 32 hidden units: the exact
negative log-likelihood of the training set (a sum over the 32 patterns), mean over seeds.

    python benchmarks/bars_and_stripes.py [--seeds 10]

The published setting (Fischer and Igel, "Training restricted Boltzmann machines: an introduction", 2014):
CD-1, learning rate 0.1, 1000 full-batch updates, weights uniform in [-0.1, 0.1], biases zero; NLL 192.5 (the
optimum is 108.13). The same spec (`specs/rbm_bars4.nn`) then runs with PCD and CD-k and more updates.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.data import load_dataset
from nngraph.session import build_method
from nngraph.train.loop import run_train_step

SPEC = Path(__file__).resolve().parents[1] / "specs" / "rbm_bars4.nn"
PUBLISHED, OPTIMUM = 192.5, 108.13
VARIANTS = [
    ("CD-1, lr 0.1, 1000 updates (published setting)", []),
    ("CD-1, lr 0.1, 10000 updates", ["epochs=10000"]),
    ("CD-10, lr 0.1, 10000 updates", ["epochs=10000", "method=cd(k=10)"]),
    ("PCD-1 (100 chains), lr 0.01, 10000 updates", ["epochs=10000", "method=pcd(k=1, chains=100)",
                                                   "optimizer=sgd(lr=0.01)"]),
    ("PCD-10 (100 chains), lr 0.05, 10000 updates", ["epochs=10000", "method=pcd(k=10, chains=100)",
                                                    "optimizer=sgd(lr=0.05)"]),
]


def training_nll(overrides: list[str], seed: int) -> float:
    """Train the spec with `overrides` from weights uniform in [-0.1, 0.1]; the exact NLL summed over the set."""
    checked = nngraph.load(SPEC, [f"seed={seed}", *overrides])
    config = checked.train()
    method = build_method(checked, config, get_backend())
    patterns = load_dataset(config.data, SPEC.parent, seed=seed)
    method.check_data(patterns, None)
    weights = method.params["v<->h.weight"]
    weights[...] = np.random.default_rng(seed).uniform(-0.1, 0.1, weights.shape)
    rng = np.random.default_rng(seed)
    method.set_learning_rate(config.optimizer.options["lr"])  # once: log Z is enumerated at the end only
    for _ in range(config.epochs):
        run_train_step(method, patterns, rng)
    return -method.evaluate(patterns)["log_likelihood"] * len(patterns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--variants", type=int, default=len(VARIANTS), help="how many of the variants to run")
    args = parser.parse_args()
    for label, overrides in VARIANTS[: args.variants]:
        start = time.perf_counter()
        values = [training_nll(overrides, seed) for seed in range(args.seeds)]
        mean = statistics.mean(values)
        print(f"{label}: mean NLL {mean:.1f} +- {statistics.stdev(values):.1f} over {args.seeds} seeds "
              f"(min {min(values):.1f}, max {max(values):.1f}; {time.perf_counter() - start:.0f} s)", flush=True)
        if not overrides:
            print(f"  published {PUBLISHED}: ratio {mean / PUBLISHED:.3f} (floor: within 10%); "
                  f"optimum {OPTIMUM}")


if __name__ == "__main__":
    main()
