"""A deep belief net on MNIST (specs/mnist_dbn.nn, 784-500-500-10 on the 8,000 / 2,000 split): test accuracy
after greedy pretraining and fine-tuning, against the same network trained by backprop from random weights in
the same epochs (`--set method=backprop`: the spec's optimizer, batch, seed and epochs). The floor: the DBN is
not worse, in the mean over seeds.

    python benchmarks/dbn_mnist.py                  # needs the MNIST files, ../shared/data/mnist by default
    python benchmarks/dbn_mnist.py --seeds 3 --epochs 5 --mnist /path/to/mnist
    python benchmarks/dbn_mnist.py --set "optimizer=adam(lr=1e-3)"    # another fine-tuning optimizer, for both
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import nngraph

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mnist_dbn.nn"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def test_accuracy(overrides: list[str], seed: int) -> tuple[float, float, list]:
    """(test accuracy, wall seconds, the pretraining record) of one run of the spec with `overrides`."""
    checked = nngraph.load(SPEC, [*overrides, f"seed={seed}"])
    with tempfile.TemporaryDirectory() as out:
        summary = nngraph.fit(checked, out=Path(out) / "run")
    return summary["test"]["accuracy"], summary["wall_time_s"], summary.get("pretraining", [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the spec's)")
    parser.add_argument("--mnist", type=Path, default=MNIST, help="the folder of the MNIST files")
    parser.add_argument("--set", action="append", default=[], help="a train setting for both runs, as `nngraph "
                        "train --set` takes it")
    args = parser.parse_args()
    common = [f'data=mnist(path="{args.mnist}")', *args.set]
    if args.epochs is not None:
        common.append(f"epochs={args.epochs}")
    dbn, scratch = [], []
    for seed in range(args.seeds):
        accuracy, wall, layers = test_accuracy(common, seed)
        dbn.append(accuracy)
        errors = ", ".join(f"{r['layer']} {r['recon_error_before']:.4f}->{r['recon_error_after']:.4f}"
                           for r in layers)
        print(f"seed {seed}: dbn {accuracy:.4f} ({wall:.1f}s; reconstruction error {errors})", flush=True)
        accuracy, wall, _ = test_accuracy([*common, "method=backprop"], seed)
        scratch.append(accuracy)
        print(f"seed {seed}: random init {accuracy:.4f} ({wall:.1f}s)", flush=True)
    mean_dbn, mean_scratch = statistics.mean(dbn), statistics.mean(scratch)
    verdict = "met" if mean_dbn >= mean_scratch else "NOT MET"
    print(f"mnist_dbn: test accuracy over {args.seeds} seeds: dbn {mean_dbn:.4f} (min {min(dbn):.4f}), random init "
          f"{mean_scratch:.4f} (min {min(scratch):.4f}); difference {mean_dbn - mean_scratch:+.4f}; "
          f"floor 'the DBN is not worse': {verdict}")


if __name__ == "__main__":
    main()
