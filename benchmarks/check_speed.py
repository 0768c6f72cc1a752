"""How fast the front end answers: `nngraph check` as a user runs it, and parse + check of a big spec.

    python benchmarks/check_speed.py [--runs 9] [--big-runs 5] [--units 2000]

(a) wall time of `nngraph check specs/digits_cnn.nn` as a subprocess, interpreter start included (median);
(b) parse + check, in-process, of a generated spec with 2,000 unit groups: a long chain plus branches (median).
If (a) is slow, see where start-up goes with `python -X importtime -m nngraph.cli check specs/digits_cnn.nn`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BRANCH_EVERY = 20  # every 20th chain unit feeds a side unit that rejoins the chain 5 units later


def check_command(spec: Path) -> list[str]:
    script = shutil.which("nngraph")
    return [script, "check", str(spec)] if script else [sys.executable, "-m", "nngraph.cli", "check", str(spec)]


def time_check_subprocess(runs: int) -> list[float]:
    command = check_command(REPO / "specs" / "digits_cnn.nn")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - start)
    return times


def big_spec(units: int) -> str:
    """`units` unit groups: input, a chain of layers with side branches, output."""
    branches = (units - 2) // (BRANCH_EVERY + 1)
    chain = units - 2 - branches
    lines = ["model big {", "  input x[16]"]
    lines += [f"  layer h{i}[16] tanh" for i in range(chain)]
    lines += [f"  layer b{j}[8] relu" for j in range(branches)]
    lines += ["  output y[10] softmax", "  x -> h0"]
    for start in range(0, chain - 1, 10):  # chain statements of ten links each
        lines.append("  " + " -> ".join(f"h{i}" for i in range(start, min(start + 11, chain))))
    for j in range(branches):
        source = j * BRANCH_EVERY
        lines.append(f"  h{source} -> b{j} -> h{min(source + 5, chain - 1)}")
    lines += [f"  h{chain - 1} -> y", "}", "train {", "  data xor", "  loss cross_entropy(y)", "}"]
    return "\n".join(lines) + "\n"


def time_parse_and_check(text: str, runs: int) -> list[float]:
    from nngraph.api import loads

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        checked = loads(text, "big.nn")
        times.append(time.perf_counter() - start)
    assert checked.models["big"].graph.number_of_nodes() == text.count("  layer ") + 2
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--big-runs", type=int, default=5)
    parser.add_argument("--units", type=int, default=2000)
    args = parser.parse_args()

    small = time_check_subprocess(args.runs)
    print(f"(a) nngraph check specs/digits_cnn.nn (subprocess): median {statistics.median(small):.3f} s "
          f"over {args.runs} runs (min {min(small):.3f}, max {max(small):.3f})")
    text = big_spec(args.units)
    big = time_parse_and_check(text, args.big_runs)
    print(f"(b) parse + check of {args.units:,} unit groups ({len(text.splitlines()):,} lines): "
          f"median {statistics.median(big):.3f} s over {args.big_runs} runs (min {min(big):.3f})")


if __name__ == "__main__":
    main()
