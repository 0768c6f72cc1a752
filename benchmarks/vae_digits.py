"""The VAE floor (issue 6): test negative ELBO of specs/vae_digits.nn against the per-pixel Bernoulli NLL.

    python benchmarks/vae_digits.py [--seeds 0,1,2] [--epochs N]

For each seed: train the spec, evaluate the test split's negative ELBO (reconstruction + KL, nats per
image), and fit independent per-pixel Bernoullis (maximum likelihood) on the training split for the
exact test NLL baseline. Prints both, their ratio per seed and the median (floor: ratio <= 0.75).
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
from nngraph.train.loop import fit

SPEC = Path(__file__).resolve().parents[1] / "specs" / "vae_digits.nn"


def bernoulli_nll(train: np.ndarray, test: np.ndarray) -> float:
    p = train.mean(axis=0).clip(1e-12, 1 - 1e-12)
    return float(-(test * np.log(p) + (1 - test) * np.log1p(-p)).sum(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    ratios = []
    for seed in (int(s) for s in args.seeds.split(",")):
        overrides = [f"seed={seed}"] + ([f"epochs={args.epochs}"] if args.epochs else [])
        session = prepare(nngraph.load(SPEC, overrides))
        start = time.perf_counter()
        with compute_threads(1):
            fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(seed))
        seconds = time.perf_counter() - start
        elbo = session.method.evaluate(session.splits.test)
        baseline = bernoulli_nll(session.splits.train.x, session.splits.test.x)
        ratios.append(elbo["loss"] / baseline)
        print(f"seed {seed}: test -ELBO {elbo['loss']:.2f} (recon {elbo['recon']:.2f} + KL {elbo['kl']:.2f}), "
              f"Bernoulli NLL {baseline:.2f}, ratio {ratios[-1]:.3f}, {seconds:.1f} s", flush=True)
    median = statistics.median(ratios)
    print(f"median ratio {median:.3f} (floor <= 0.75: {'met' if median <= 0.75 else 'NOT met'})")


if __name__ == "__main__":
    main()
