"""The floors of issue 14: each RL spec trained with several seeds, then evaluated over 100 deterministic
episodes (summary.json's `test`); prints each seed's result and how many seeds reached the floor.

    python benchmarks/rl_floors.py [--seeds 5] [--first-seed 0] [--only cartpole_ppo,cartpole_dqn,...]
                                   [--threads 1] [--set "method=dqn(...)" ...] [--steps N]

`--set` overrides the specs as `nngraph train --set` does (e.g. one option of a method, to compare two
variants on the same seeds); `--first-seed` lets several processes share the seeds out; `--steps` trains for
fewer steps than the floor allows (the Zoo's DQN runs 50000).

A floor is (spec, its steps, the evaluation's mean return to reach, seeds of 5 that must reach it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPECS = Path(__file__).resolve().parents[1] / "specs"
FLOORS = {  # spec -> (environment steps, floor, seeds of 5 that must reach it)
    "cartpole_ppo": (100_000, 475, 4),
    "cartpole_dqn": (100_000, 475, 3),
    "cartpole_reinforce": (500_000, 400, 3),
    "acrobot_ppo": (300_000, -100, 4),
    "pendulum_ppo": (300_000, -300, 3),
    "pendulum_ppo_std": (300_000, -300, 3),  # the same floor, the log std a unit of the model
}


def run(name: str, seed: int, steps: int, threads: int, overrides: list[str]) -> tuple[float, float]:
    import nngraph
    from nngraph.session import run_training

    checked = nngraph.load(SPECS / f"{name}.nn", [*overrides, f"seed={seed}", f"steps={steps}"])
    start = time.perf_counter()
    summary = run_training(checked, out=Path(tempfile.mkdtemp()) / "run", threads=threads)
    return summary["test"]["return_mean"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default=",".join(FLOORS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--steps", type=int, help="at most the floor's (default)")
    args = parser.parse_args()
    for name in args.only.split(","):
        steps, floor, needed = FLOORS[name]
        steps = min(steps, args.steps or steps)
        results = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            value, seconds = run(name, seed, steps, args.threads, args.overrides)
            results.append(value)
            print(f"{name} seed {seed}: {steps} steps, evaluation {value:.1f} ({seconds:.0f} s)", flush=True)
        reached = sum(v >= floor for v in results)
        print(f"{name}: {reached} of {len(results)} seeds >= {floor} (the floor asks {needed} of 5)", flush=True)


if __name__ == "__main__":
    main()
