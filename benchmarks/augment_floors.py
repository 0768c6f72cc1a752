"""Data augmentation against the issue's floors: each spec's test accuracy over seeds, with its `augment` and
with it switched off (`augment shift=0`: every transform 0), and the wall time of each run.

    python benchmarks/augment_floors.py                      # both specs, seeds 0 1 2
    python benchmarks/augment_floors.py --seeds 0 1 2 3 4 --only mnist_lenet_augment
    python benchmarks/augment_floors.py --mnist /path/to/mnist   # where ../shared/data/mnist is not beside

The MNIST spec reads ../shared/data/mnist (the 10,000 test images: 8,000 train / 2,000 test with `test 0.2`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import nngraph

SPECS = Path(__file__).resolve().parents[1] / "specs"
FLOORS = {"digits_cnn_augment": 0.99, "mnist_lenet_augment": 0.985}
MNIST = SPECS.parent.parent / "shared" / "data" / "mnist"


def run(name: str, seed: int, augment: bool, mnist: Path) -> tuple[float, float]:
    overrides = [f"seed={seed}"] + ([] if augment else ["augment shift=0"])
    if name.startswith("mnist"):
        overrides.append(f'data=mnist(path="{mnist}", shape=[1, 28, 28])')
    with tempfile.TemporaryDirectory() as out:
        summary = nngraph.fit(nngraph.load(SPECS / f"{name}.nn", overrides), out=Path(out) / "run")
    return summary["test"]["accuracy"], summary["wall_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=sorted(FLOORS))
    parser.add_argument("--mnist", type=Path, default=MNIST)
    parser.add_argument("--without", action="store_true", help="also train each spec with augment off")
    args = parser.parse_args()
    for name in [args.only] if args.only else sorted(FLOORS):
        for augment in (True, False) if args.without else (True,):
            results = [run(name, seed, augment, args.mnist) for seed in args.seeds]
            accuracies = [a for a, _ in results]
            label = f"{name}{'' if augment else ' (augment off)'}"
            print(f"{label}: test accuracy {' '.join(f'{a:.4f}' for a in accuracies)} "
                  f"(seeds {' '.join(map(str, args.seeds))}); mean {statistics.mean(accuracies):.4f}, "
                  f"min {min(accuracies):.4f}, floor {FLOORS[name]} "
                  f"{'met by every seed' if min(accuracies) >= FLOORS[name] else 'NOT met by every seed'}; "
                  f"median wall {statistics.median(t for _, t in results):.1f}s")


if __name__ == "__main__":
    main()
