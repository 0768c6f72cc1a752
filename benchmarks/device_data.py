"""Training data resident on the device against streamed a batch ahead (train/feed.py, issue 13): epochs of the
digits MLP (batch 32: many small steps, where a copy per step shows most) on each backend present, the split
resident (the default) and streamed (NNGRAPH_RESIDENT_BYTES=0). Prints median epochs/s over repeats, the
streamed / resident ratio, and the host-to-device copies of one epoch (`backend.host_writes`).

    python benchmarks/device_data.py [--repeats 5] [--epochs 3] [--backends numpy,cupy]

On numpy nothing is copied either way (the counts show what a GPU would copy); on cupy the streamed epochs copy
each batch through pinned buffers on a side stream.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPEC = Path(__file__).resolve().parents[1] / "specs" / "digits_mlp.nn"
UNTIMED = ("validation", "early_stopping")  # train block lines dropped: only the steps and the loop are timed


def epoch_rate(backend: str, streamed: bool, epochs: int, repeats: int) -> tuple[float, float]:
    """(median epochs/s, host writes per epoch)."""
    from nngraph.api import apply_overrides, check_spec, parse_spec_text
    from nngraph.backend import available_backends, get_backend, host_writes
    from nngraph.session import prepare
    from nngraph.train.feed import BUDGET_VARIABLE
    from nngraph.train.loop import fit

    assert backend in available_backends(), f"{backend} is not available here"
    lines = SPEC.read_text().splitlines()
    text = "\n".join(line for line in lines if line.split()[:1] not in ([word] for word in UNTIMED))
    os.environ[BUDGET_VARIABLE] = "0" if streamed else ""
    rates, writes = [], 0.0
    for _ in range(repeats):
        session = prepare(check_spec(apply_overrides(parse_spec_text(text, str(SPEC)), [f"epochs={epochs}"])),
                          backend=backend)
        config, device = session.config, get_backend(backend)
        before = host_writes()
        device.synchronize()
        start = time.perf_counter()
        fit(session.method, session.splits.train, None, config, rng=np.random.default_rng(config.seed))
        device.synchronize()
        rates.append(epochs / (time.perf_counter() - start))
        writes = (host_writes() - before) / epochs
    return statistics.median(rates), writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backends", default="numpy,cupy")
    args = parser.parse_args()
    from nngraph.backend import available_backends

    for backend in args.backends.split(","):
        if backend not in available_backends():
            print(f"{backend:6s} not available here")
            continue
        resident, resident_writes = epoch_rate(backend, False, args.epochs, args.repeats)
        streamed, streamed_writes = epoch_rate(backend, True, args.epochs, args.repeats)
        print(f"{backend:6s} resident {resident:8.2f} epochs/s ({resident_writes:.1f} copies an epoch)  "
              f"streamed {streamed:8.2f} epochs/s ({streamed_writes:.1f})  "
              f"streamed/resident {streamed / resident:.3f}  (medians of {args.repeats})")


if __name__ == "__main__":
    main()
