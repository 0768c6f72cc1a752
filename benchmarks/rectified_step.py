"""LeNet-5's training step with and without compile/fuse.py's `for_host` (each convolution and its relu as one
`conv2d_rectified`), in one process and one build, the runs alternating (benchmarks/pairing.py); prints medians
and the median paired ratio.

    python benchmarks/rectified_step.py [--threads 1,2] [--pairs 15]
    NNGRAPH_ISA=avx2 python benchmarks/rectified_step.py ...     # the avx2 path
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.backprop_vs_torch import LENET, data, nngraph_stepper  # noqa: E402
from benchmarks.pairing import timed  # noqa: E402


def steppers(x, y):
    """(plain, rectified) LeNet-5 steppers: the plain one's program made with for_host left out."""
    from nngraph.compile import program

    rectified = nngraph_stepper(LENET, x, y)
    keep = program.for_host
    program.for_host = lambda plan: plan
    try:
        plain = nngraph_stepper(LENET, x, y)
    finally:
        program.for_host = keep
    return plain, rectified


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    from nngraph.backend import accel
    from nngraph.backend.threads import compute_threads

    for threads in (int(t) for t in args.threads.split(",")):
        with compute_threads(threads):  # as a training run sets them
            x, y = data("lenet", 64, np.random.default_rng(0))
            plain, rectified = steppers(x, y)
            for step in (plain, rectified):
                for _ in range(5):
                    step()
            pairs = [(timed(plain, args.steps) * 64, timed(rectified, args.steps) * 64) for _ in range(args.pairs)]
        print(f"{accel.path()} {threads} thread(s): plain {statistics.median(a for a, _ in pairs):.0f}, rectified "
              f"{statistics.median(b for _, b in pairs):.0f} samples/s; median paired ratio "
              f"{statistics.median(b / a for a, b in pairs):.3f} ({args.pairs} pairs)")


if __name__ == "__main__":
    main()
