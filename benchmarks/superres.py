"""Super-resolution on the real MNIST test set (8,000 train / 2,000 test), 14x14 -> 28x28: PSNR and SSIM of
specs/mnist_superres.nn against bicubic interpolation of the same inputs, with the floor model >= bicubic + 2 dB
PSNR; and the same figures for specs/digits_superres.nn (4x4 -> 8x8).

    python benchmarks/superres.py [MNIST_FOLDER]   # default: ../shared/data/mnist beside the checkout
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nngraph

SPECS = Path(__file__).resolve().parents[1] / "specs"
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FLOOR_DB = 2.0


def measure(spec: str, overrides: list[str]) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as out:
        summary = nngraph.fit(nngraph.load(SPECS / spec, overrides), out=Path(out) / "run")
    return summary["test"], summary["wall_time_s"]


def report(spec: str, test: dict, seconds: float) -> float:
    gain = test["psnr"] - test["bicubic_psnr"]
    print(f"{spec}: {seconds:.0f}s; test PSNR {test['psnr']:.2f} dB (bicubic {test['bicubic_psnr']:.2f}, "
          f"+{gain:.2f} dB), SSIM {test['ssim']:.4f} (bicubic {test['bicubic_ssim']:.4f})")
    return gain


def main() -> None:
    mnist = Path(sys.argv[1]) if len(sys.argv) > 1 else MNIST
    report("digits_superres.nn", *measure("digits_superres.nn", []))
    data = f'data=superres(mnist(path="{mnist.resolve()}"), factor=2)'
    gain = report("mnist_superres.nn", *measure("mnist_superres.nn", [data]))
    print(f"floor: model >= bicubic + {FLOOR_DB} dB on MNIST -> {'ok' if gain >= FLOOR_DB else 'BELOW FLOOR'}")


if __name__ == "__main__":
    main()
