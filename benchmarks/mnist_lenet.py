"""LeNet-5 on the real MNIST test set (8,000 train / 2,000 test): test accuracy against the 97% floor.

    python benchmarks/mnist_lenet.py        # needs ../shared/data/mnist beside the checkout
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nngraph

SPEC = Path(__file__).resolve().parents[1] / "specs" / "mnist_lenet.nn"
FLOOR = 0.97


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        summary = nngraph.fit(nngraph.load(SPEC), out=Path(out) / "run")
    accuracy = summary["test"]["accuracy"]
    print(f"mnist_lenet: {summary['epochs_run']} epochs in {summary['wall_time_s']:.1f}s, "
          f"test accuracy {accuracy:.4f} (floor {FLOOR}) -> {'ok' if accuracy >= FLOOR else 'BELOW FLOOR'}")


if __name__ == "__main__":
    main()
