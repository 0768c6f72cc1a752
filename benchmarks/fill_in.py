"""Filling in missing data (issue 15) against the simple baselines, on the same masks.

    python benchmarks/fill_in.py [--seeds 0,1,2] [--vae-epochs N] [--rbm-epochs N] [--sine-epochs N]
                                 [--steps N] [--sine-spec NAME] [--sine-data CALL]

Digits: the bottom half of every test digit (specs/vae_digits.nn's test split, binarised) filled in by the VAE
(specs/vae_digits.nn: iterative conditional imputation, --steps rounds), the RBM (specs/rbm_digits.nn with
`test 0.2`, the same split: --steps Gibbs sweeps with the top half clamped, the probabilities of the last
sweep) and the per-pixel mean of the training digits; the score is the share of filled pixels right (a value
> 0.5 is a 1). Floor: the VAE's accuracy >= the RBM's.

Sine: one gap of 20 steps in every test sequence of specs/sine_gaps.nn (or --sine-spec; its own sine data, or
--sine-data), starting at a step drawn uniformly from [20, T - 21] (the model reads at least 20 steps before a
gap, and every gap ends before the last step, so interpolation has a value on each side), filled in by the model (its
own predictions inside the gap) and by linear interpolation between the steps either side; the score is the
mean squared error on the gap. Floor: the model's MSE <= 0.5 x linear interpolation's.

Every fill-in goes through the path `nngraph sample --fill` takes (nngraph/train/fill_in.py). Prints each
seed's figures and the medians, and whether each floor is met.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.session import prepare
from nngraph.train.fill_in import example_shape, fill_errors, fill_task
from nngraph.train.loop import fit

SPECS = Path(__file__).resolve().parents[1] / "specs"
GAP = 20


def trained(name: str, overrides: list[str], seed: int):
    session = prepare(nngraph.load(SPECS / name, overrides))
    start = time.perf_counter()
    with compute_threads(1):
        fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(seed))
    return session, time.perf_counter() - start


def filled_score(session, fill: str, steps: int, means: bool = False) -> dict[str, float]:
    """Errors on the filled part of the whole test split, as `sample --fill` computes them, and the start's
    (the training data's per-unit mean)."""
    request = {"fill": fill, "count": len(session.splits.test), "steps": steps, "seed": 0, "means": means}
    task = fill_task(request, session.splits, example_shape(session.method, session.splits))
    filled, _ = session.method.fill(task.values.copy(), task.missing.copy(), request)
    filled = np.where(task.missing, np.asarray(filled).reshape(task.values.shape), task.values)
    return {**fill_errors(filled, task.truth, task.missing),
            **{f"mean_{k}": v for k, v in fill_errors(task.values, task.truth, task.missing).items()}}


def digits(seed: int, args) -> tuple[float, float, float]:
    common = [f"seed={seed}"]
    vae, vae_s = trained("vae_digits.nn", common + ([f"epochs={args.vae_epochs}"] if args.vae_epochs else []), seed)
    rbm, rbm_s = trained("rbm_digits.nn", common + ["test=0.2"] + ([f"epochs={args.rbm_epochs}"]
                                                                    if args.rbm_epochs else []), seed)
    assert np.array_equal(vae.splits.test.x.reshape(len(vae.splits.test), -1),
                          rbm.splits.test.x.reshape(len(rbm.splits.test), -1)), "the two specs' test digits differ"
    ours = filled_score(vae, "bottom", args.steps)
    theirs = filled_score(rbm, "bottom", args.steps, means=True)
    print(f"seed {seed} digits, bottom half of {len(vae.splits.test)} test digits, pixels right: VAE "
          f"{100 * ours['accuracy']:.2f}% ({vae_s:.0f} s training), RBM {100 * theirs['accuracy']:.2f}% "
          f"({rbm_s:.0f} s), per-pixel mean {100 * ours['mean_accuracy']:.2f}%", flush=True)
    return ours["accuracy"], theirs["accuracy"], ours["mean_accuracy"]


def sine(seed: int, args) -> tuple[float, float]:
    overrides = [f"seed={seed}"] + ([f"epochs={args.sine_epochs}"] if args.sine_epochs else []) + \
        ([f"data={args.sine_data}"] if args.sine_data else [])
    session, seconds = trained(args.sine_spec, overrides, seed)
    test = session.splits.test.x
    n, steps = test.shape[:2]
    starts = np.random.default_rng(seed).integers(GAP, steps - GAP - 1, n, endpoint=True)
    gaps = (np.arange(steps) >= starts[:, None]) & (np.arange(steps) < starts[:, None] + GAP)
    with tempfile.TemporaryDirectory() as folder:
        mask = Path(folder) / "gaps.npy"
        np.save(mask, gaps)
        ours = filled_score(session, str(mask), args.steps)
    linear = float(np.mean([((np.interp(np.flatnonzero(g), np.flatnonzero(~g), x[~g, 0]) - x[g, 0]) ** 2).mean()
                            for g, x in zip(gaps, test)]))
    print(f"seed {seed} sine, a gap of {GAP} steps in each of {n} test sequences of {steps} steps, MSE on the gaps: "
          f"model {ours['mse']:.4f} ({seconds:.0f} s training), linear interpolation {linear:.4f}, ratio "
          f"{ours['mse'] / linear:.3f}", flush=True)
    return ours["mse"], linear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--vae-epochs", type=int, default=None)
    parser.add_argument("--rbm-epochs", type=int, default=None)
    parser.add_argument("--sine-epochs", type=int, default=None)
    parser.add_argument("--sine-spec", default="sine_gaps.nn", help="a spec in specs/ of a next-step sine model")
    parser.add_argument("--sine-data", default=None, help="a data call for the sine spec, e.g. "
                                                          "'sine(n=1024, length=80, frequencies=[0.01, 0.05])'")
    parser.add_argument("--steps", type=int, default=1000, help="VAE rounds and RBM Gibbs sweeps")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    pictures = [digits(seed, args) for seed in seeds]
    series = [sine(seed, args) for seed in seeds]
    vae, rbm, mean = (statistics.median(p[k] for p in pictures) for k in range(3))
    model, linear = (statistics.median(s[k] for s in series) for k in range(2))
    ratio = statistics.median(s[0] / s[1] for s in series)
    print(f"median pixels right: VAE {100 * vae:.2f}%, RBM {100 * rbm:.2f}%, per-pixel mean {100 * mean:.2f}% "
          f"(floor VAE >= RBM: {'met' if vae >= rbm else 'NOT met'})")
    print(f"median gap MSE: model {model:.4f}, linear interpolation {linear:.4f}, median ratio {ratio:.3f} "
          f"(floor <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
