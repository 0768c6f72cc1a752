"""The training loop's own cost around the steps, on numpy: whole epochs of `fit` (no run folder, no validation),
where it shows most: XOR (one step of 4 rows an epoch) and the digits MLP (batch 32, many small steps). Prints
median epochs/s over repeats, and the device-to-host reads a run makes (`backend.core.host_reads`, where the
checkout has it).

    python benchmarks/loop_overhead.py [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPECS = Path(__file__).resolve().parents[1] / "specs"
CASES = {"xor": ("xor.nn", ["epochs=2000"]), "digits_mlp": ("digits_mlp.nn", ["epochs=3"])}
UNTIMED = ("validation", "early_stopping")  # train block lines dropped: only the steps and the loop are timed


def spec_text(name: str) -> str:
    lines = (SPECS / name).read_text().splitlines()
    return "\n".join(line for line in lines if line.split()[:1] not in ([word] for word in UNTIMED))


def time_case(name: str, overrides: list[str], repeats: int) -> tuple[float, int | None]:
    """(median epochs/s, host reads of one run or None)."""
    from nngraph.api import apply_overrides, check_spec, parse_spec_text
    from nngraph.backend import core
    from nngraph.session import prepare
    from nngraph.train.loop import fit

    counter = getattr(core, "host_reads", None)
    rates, reads = [], None
    for _ in range(repeats):
        spec = apply_overrides(parse_spec_text(spec_text(name), str(SPECS / name)), overrides)
        session = prepare(check_spec(spec))
        config = session.config
        before = counter() if counter else 0
        start = time.perf_counter()
        fit(session.method, session.splits.train, None, config, rng=np.random.default_rng(config.seed))
        rates.append(config.epochs / (time.perf_counter() - start))
        reads = counter() - before if counter else None
    return statistics.median(rates), reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    from nngraph.backend.threads import compute_threads

    for name in args.only.split(","):
        with compute_threads(args.threads):
            rate, reads = time_case(*CASES[name], args.repeats)
        print(f"{name:11s} {rate:9.1f} epochs/s (median of {args.repeats})  host reads per run: {reads}")


if __name__ == "__main__":
    main()
