"""The adding problem at T = 50 (issue 4's benchmark): specs/adding_lstm.nn, and the same task for an Elman
net with and without gradient clipping. Prints one JSON row per run: test MSE (predicting the mean scores
about 0.167; solved is < 0.01), epochs and seconds.

    python benchmarks/adding_problem.py [--epochs 40] [--only lstm,elman_clip,elman_noclip]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nngraph

SPECS = Path(__file__).resolve().parents[1] / "specs"

ELMAN = """
model adding_elman {
  input  x[2] sequence
  layer  h[64] tanh
  output y[1] identity
  x -> h -> y
  h -> h delay 1
}
train {
  model adding_elman
  data adding(n=4096, length=50)
  test 0.1
  loss mse(y)
  optimizer adam(lr=1e-3)
  batch 64
  epochs 40
}
"""


def run(name: str, checked, out: Path) -> dict:
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(1):
        summary = nngraph.fit(checked, out=out / name)
    return {"run": name, "test_mse": round(summary["final"]["test_mse"], 5),
            "train_mse": round(summary["final"]["train_mse"], 5), "epochs": summary["epochs_run"],
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--only", default="lstm,elman_clip,elman_noclip")
    parser.add_argument("--out", default="runs/adding_benchmark")
    args = parser.parse_args()
    from nngraph.api import apply_overrides, check_spec, parse_spec_text

    epochs = [f"epochs={args.epochs}"]
    elman = parse_spec_text(ELMAN, "adding_elman.nn")
    cases = {
        "lstm": lambda: nngraph.load(SPECS / "adding_lstm.nn", epochs),
        "elman_clip": lambda: check_spec(apply_overrides(elman, epochs + ["clip=1.0"])),
        "elman_noclip": lambda: check_spec(apply_overrides(elman, epochs)),
    }
    for name in args.only.split(","):
        print(json.dumps(run(name, cases[name](), Path(args.out))), flush=True)


if __name__ == "__main__":
    main()
