"""The GAN fill-in's prior term on the noise (Yeh et al. 2017): the share of filled pixels right with and without it.

    python benchmarks/gan_fill_prior.py [--seeds 0,1,2] [--priors 0,0.01,0.03,0.1,0.3,1] [--epochs N] [--steps N]

specs/gan_digits.nn with `test=0.2 validation=0.2` (the validation split is a held-out part of the training data:
the GAN never trains on it), trained once per seed. The bottom half of every held-out and every test digit is
filled in by `sample --fill bottom` (train/fill_in.py) with each prior weight W: the search lowers the squared
error on the known half plus W * ||z||^2 / 2. The score is the share of filled pixels right (the digits are
binarised at 0.5 for scoring: a value > 0.5 is a 1, as benchmarks/fill_in.py scores). The default weight is the
one with the best median held-out score; the test figures are reported for every weight, never used to choose.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.session import prepare
from nngraph.train.fill_in import example_shape, fill_task
from nngraph.train.loop import fit

SPEC = Path(__file__).resolve().parents[1] / "specs" / "gan_digits.nn"


def trained(seed: int, epochs: int | None):
    overrides = [f"seed={seed}", "test=0.2", "validation=0.2"] + ([f"epochs={epochs}"] if epochs else [])
    session = prepare(nngraph.load(SPEC, overrides))
    start = time.perf_counter()
    with compute_threads(1):
        fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(seed))
    return session, time.perf_counter() - start


def pixels_right(session, part, prior: float, steps: int) -> float:
    """The share of the bottom half's pixels right (binarised truth) when `part` is filled in with `prior`."""
    splits = type("Splits", (), {"train": session.splits.train, "validation": None, "test": part})()
    request = {"fill": "bottom", "count": len(part), "steps": steps, "seed": 0, "prior": prior}
    task = fill_task(request, splits, example_shape(session.method, splits))
    with compute_threads(1):
        filled, _ = session.method.fill(task.values.copy(), task.missing.copy(), request)
    filled = np.asarray(filled).reshape(task.values.shape)
    truth = task.truth > 0.5
    return float(((filled > 0.5) == truth)[task.missing].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--priors", default="0,0.01,0.03,0.1,0.3,1")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    seeds, priors = [int(s) for s in args.seeds.split(",")], [float(p) for p in args.priors.split(",")]
    held, test = {p: [] for p in priors}, {p: [] for p in priors}
    for seed in seeds:
        session, seconds = trained(seed, args.epochs)
        for prior in priors:
            held[prior].append(pixels_right(session, session.splits.validation, prior, args.steps))
            test[prior].append(pixels_right(session, session.splits.test, prior, args.steps))
            print(f"seed {seed} ({seconds:.0f} s training) prior {prior:g}: pixels right held-out "
                  f"{100 * held[prior][-1]:.2f}%, test {100 * test[prior][-1]:.2f}%", flush=True)
    for prior in priors:
        print(f"prior {prior:g}: median pixels right held-out {100 * statistics.median(held[prior]):.2f}%, "
              f"test {100 * statistics.median(test[prior]):.2f}% (test per seed "
              + ", ".join(f"{100 * v:.2f}" for v in test[prior]) + ")")
    best = max(priors, key=lambda p: statistics.median(held[p]))
    print(f"best on the held-out part: prior {best:g}")


if __name__ == "__main__":
    main()
