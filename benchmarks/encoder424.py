"""The 4-2-4 encoder of Ackley, Hinton and Sejnowski (1985), `specs/bm_encoder424.nn`, over many seeds.

    python benchmarks/encoder424.py [--seeds 20] [--max-cycles 3000] [--order random]

A run has learned when every pattern gets its own hidden code and each visible group reproduces the other:
with both groups clamped the most probable hidden state differs between the four patterns, and with one
group clamped the most probable state of the rest is the pattern (exact, by enumeration: the zero-temperature
end of annealing). Prints the learning cycles each seed needed, the median and the longest, and learning
cycles per second (the paper: 250 of 250 runs learned, median 110 cycles, longest 1810).
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
from nngraph.compile.partition import most_probable

SPEC = Path(__file__).resolve().parents[1] / "specs" / "bm_encoder424.nn"
PATTERNS = np.concatenate([np.eye(4), np.eye(4)], axis=1)


def learned(machine) -> bool:
    """Distinct codes for the four patterns, and each visible group completing the other."""
    states = np.zeros((4, machine.size))
    states[:, :8] = PATTERNS
    both = np.arange(machine.size) < 8
    codes = most_probable(machine, states, both)[:, 8:]
    if len({tuple(code) for code in codes}) < 4:
        return False
    for group in (slice(0, 4), slice(4, 8)):
        observed = np.zeros(machine.size, dtype=bool)
        observed[group] = True
        if not np.array_equal(most_probable(machine, states, observed)[:, :8], PATTERNS):
            return False
    return True


def cycles_to_learn(seed: int, max_cycles: int, order: str) -> tuple[int | None, float]:
    """(learning cycles until learned or None, seconds spent in training steps)."""
    checked = nngraph.load(SPEC, [f"seed={seed}", f"epochs={max_cycles}"] +
                           ([] if order == "random" else [(f"method=boltzmann(anneal=[[20, 2], [15, 2], [12, 2], "
                                                         f"[10, 4]], sweeps=10, noisy_clamp=0.15, order={order})")]))
    config = checked.train()
    method = build_method(checked, config, get_backend())
    data = load_dataset(config.data, SPEC.parent, seed=seed)
    method.check_data(data, None)
    rng = np.random.default_rng(seed)
    method.set_learning_rate(config.optimizer.options["lr"])
    spent = 0.0
    for cycle in range(1, max_cycles + 1):
        start = time.perf_counter()
        run_train_step(method, data, rng)  # one learning cycle: the whole set is one batch
        spent += time.perf_counter() - start
        if learned(method.machine):
            return cycle, spent
    return None, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-cycles", type=int, default=3000)
    parser.add_argument("--order", default="random", choices=["random", "sequential", "parallel"])
    args = parser.parse_args()
    results, cycles_run, seconds = [], 0, 0.0
    for seed in range(args.seeds):
        cycles, spent = cycles_to_learn(seed, args.max_cycles, args.order)
        results.append(cycles)
        cycles_run += cycles or args.max_cycles
        seconds += spent
        print(f"seed {seed:2d}: {'not learned' if cycles is None else f'{cycles} cycles'}", flush=True)
    done = [c for c in results if c is not None]
    print(f"learned in {len(done)} of {len(results)} seeds (floor: 18 of 20); "
          f"median {statistics.median(done) if done else '-'} cycles, longest {max(done) if done else '-'} "
          f"(paper: 250 of 250, median 110, longest 1810)")
    print(f"{cycles_run / seconds:.0f} learning cycles per second (order={args.order}, 20 clamped runs "
          f"and 20 free runs per cycle)")


if __name__ == "__main__":
    main()
