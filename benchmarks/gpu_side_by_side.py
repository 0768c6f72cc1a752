"""Issue 13's table: a training step of nngraph on a backend (cupy by default) against PyTorch, side by side.

    python -m benchmarks.gpu_side_by_side [--backend cupy|numpy] [--torch auto|cuda|cpu|none]
        [--only mlp,lenet-b64,...] [--seconds 0.4] [--repeats 5] [--jsonl FILE]

Cases: MLP 784-256-256-10 at batch 128 / 1024 / 8192, LeNet-5 at 64 / 512 (the definitions and torch twins of
benchmarks/backprop_vs_torch.py), Elman and LSTM h128 T50 at 32 / 256 (benchmarks/rnn_vs_torch.py). Samples (or
sequences) per second of one training step; the two sides' timed runs alternate (benchmarks/pairing.py), each
ended by waiting for the device; rates are medians of `repeats` runs, the ratio the median of paired ratios. Each
run takes about `seconds`: the step count comes from timing the slower side's step after the warm-up. The
issue's floors (nngraph cupy / torch CUDA: MLP >= 1.3, LeNet >= 1.0, Elman >= 1.0, LSTM >= 0.5) are checked only
for that pairing; other pairings print "n/a". Both sides' batches sit on their device: nngraph's copied there
once, as training keeps its data resident (train/feed.py); torch's as in a torch loop with a prefetching loader.

GPU memory of one step: cupy's memory pool, emptied of free blocks, then one step: the bytes it holds after
(>= the peak in use, parameters and optimiser state included) and those in use after; torch: the step's
`max_memory_allocated` and `max_memory_reserved` after `empty_cache` and `reset_peak_memory_stats`. On the CPU
neither is measured, and the rows say so.

Prints one JSON line per case, then a table. `--torch none` times nngraph alone (how tests/ runs it without
torch); `auto` takes CUDA where torch sees it, else torch on the CPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import backprop_vs_torch, rnn_vs_torch  # noqa: E402 (after the path set-up)
from benchmarks.pairing import no_wait, paired_rates, timed  # noqa: E402

CASES = [("mlp", 128), ("mlp", 1024), ("mlp", 8192), ("lenet", 64), ("lenet", 512),
         ("elman", 32), ("elman", 256), ("lstm", 32), ("lstm", 256)]
FLOORS = {"mlp": 1.3, "lenet": 1.0, "elman": 1.0, "lstm": 0.5}  # issue 13: nngraph cupy / torch CUDA
FLOOR_PAIRING = ("cupy", "cuda")
WARMUP = 3
MAX_STEPS = 2000
MIB = 1 << 20


def case_name(kind: str, batch: int) -> str:
    return f"{kind}-b{batch}"


def wanted_cases(only: str) -> list[tuple[str, int]]:
    """The cases `--only` names, by kind (`mlp`) or by case (`mlp-b128`); all when empty."""
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if not any(n in (kind, case_name(kind, b)) for kind, b in CASES)]
    if unknown:
        known = sorted({k for k, _ in CASES}) + [case_name(*c) for c in CASES]
        raise SystemExit(f"error: --only names no case: {', '.join(unknown)} (known: {', '.join(known)})")
    return [c for c in CASES if not names or c[0] in names or case_name(*c) in names]


def floor_met(kind: str, ratio: float | None, backend: str, device: str | None) -> bool | None:
    """Whether the case meets the issue's floor; None where the floor does not apply (another pairing)."""
    if ratio is None or (backend, device) != FLOOR_PAIRING:
        return None
    return ratio >= FLOORS[kind]


# ---- the two sides -------------------------------------------------------------------------------


def steppers(kind: str, batch: int, backend: str, device: str | None):
    """(nngraph's step, torch's step or None) on the same random batch."""
    rng = np.random.default_rng(0)
    if kind in ("mlp", "lenet"):
        x, y = backprop_vs_torch.data(kind, batch, rng)
        spec = backprop_vs_torch.MLP if kind == "mlp" else backprop_vs_torch.LENET
        ours = backprop_vs_torch.nngraph_stepper(spec, x, y, backend, resident=True)
        theirs = backprop_vs_torch.torch_stepper(kind, x, y, device) if device else None
    else:
        x, y = rnn_vs_torch.data(rng, batch)
        ours = rnn_vs_torch.nngraph_stepper(kind, x, y, backend, resident=True)
        theirs = rnn_vs_torch.torch_stepper(kind, x, y, device) if device else None
    return ours, theirs


def torch_device(choice: str) -> str | None:
    """The torch device `--torch` asks for, or None for no torch side."""
    if choice == "none":
        return None
    try:
        import torch
    except ImportError:
        if choice == "auto":
            return None
        raise SystemExit("error: --torch needs torch installed (or --torch none)")
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --torch cuda: torch sees no CUDA device")
    return "cuda" if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()) else "cpu"


def torch_sync(device: str | None):
    if device == "cuda":
        import torch

        return torch.cuda.synchronize
    return no_wait


# ---- memory --------------------------------------------------------------------------------------


def nngraph_memory(step, backend: str) -> dict:
    if backend != "cupy":
        return {"nngraph_memory": "not measured (not on a GPU)"}
    from nngraph.backend.gpu import pool_bytes_of

    held, used = pool_bytes_of(step)
    return {"nngraph_pool_held_bytes": held, "nngraph_in_use_after_bytes": used}


def torch_memory(step, device: str | None) -> dict:
    if device != "cuda":
        return {"torch_memory": "not measured (not on a GPU)"}
    import torch

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return {"torch_peak_allocated_bytes": torch.cuda.max_memory_allocated(),
            "torch_peak_reserved_bytes": torch.cuda.max_memory_reserved()}


# ---- one case ------------------------------------------------------------------------------------


def steps_for(seconds: float, steps_and_syncs) -> int:
    """Steps per timed run so that the slower side's run takes about `seconds` (after the warm-up)."""
    slowest = 0.0
    for step, sync in steps_and_syncs:
        sync()
        start = time.perf_counter()
        step()
        sync()
        slowest = max(slowest, time.perf_counter() - start)
    return int(min(MAX_STEPS, max(1, round(seconds / max(slowest, 1e-9)))))


def measure(kind: str, batch: int, backend: str, device: str | None, seconds: float, repeats: int) -> dict:
    from nngraph.backend import get_backend

    start = time.perf_counter()
    ours, theirs = steppers(kind, batch, backend, device)
    our_sync, their_sync = get_backend(backend).synchronize, torch_sync(device)
    row = {"case": case_name(kind, batch), "kind": kind, "batch": batch,
           "unit": "samples/s" if kind in ("mlp", "lenet") else "sequences/s",
           "backend": backend, "torch_device": device}
    if theirs is None:
        for _ in range(WARMUP):
            ours()
        steps = steps_for(seconds, [(ours, our_sync)])
        rate = statistics.median(timed(ours, steps, our_sync) for _ in range(repeats))
        row.update(steps=steps, nngraph=round(rate * batch), torch=None, ratio=None)
    else:
        for step in (ours, theirs):
            for _ in range(WARMUP):
                step()
        steps = steps_for(seconds, [(ours, our_sync), (theirs, their_sync)])
        rate, their_rate, ratio = paired_rates(ours, theirs, steps, repeats, warmup=0, syncs=(our_sync, their_sync))
        row.update(steps=steps, nngraph=round(rate * batch), torch=round(their_rate * batch), ratio=round(ratio, 3))
    row.update(floor=FLOORS[kind], met=floor_met(kind, row["ratio"], backend, device))
    row.update(nngraph_memory(ours, backend))
    row.update(torch_memory(theirs, device) if theirs is not None else {"torch_memory": "no torch side"})
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


# ---- the table -----------------------------------------------------------------------------------


def mib(row: dict, key: str) -> str:
    value = row.get(key)
    return f"{value / MIB:.1f}" if isinstance(value, int) else "-"


def table(rows: list[dict], backend: str, device: str | None) -> str:
    theirs = f"torch {device}" if device else "torch"
    head = (f"{'case':12s} {'nngraph ' + backend:>14s} {theirs:>12s} {'ratio':>7s} {'floor':>6s} {'met':>4s} "
            f"{'ours MiB':>9s} {'torch MiB':>10s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['case']:12s} ERROR {r['error']}")
            continue
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        met = {True: "yes", False: "NO", None: "n/a"}[r["met"]]
        torch_rate = f"{r['torch']:,}" if r["torch"] is not None else "-"
        lines.append(f"{r['case']:12s} {r['nngraph']:>14,} {torch_rate:>12s} {ratio:>7s} {r['floor']:>5.1f}x "
                     f"{met:>4s} {mib(r, 'nngraph_pool_held_bytes'):>9s} {mib(r, 'torch_peak_reserved_bytes'):>10s}")
    lines.append(f"rates in samples/s (mlp, lenet) or sequences/s (elman, lstm); floors apply to nngraph cupy / torch "
                 f"cuda only; MiB: cupy pool held after one step vs torch peak reserved (allocated in the JSON)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy", choices=["cupy", "numpy"], help="nngraph's backend")
    parser.add_argument("--torch", default="auto", choices=["auto", "cuda", "cpu", "none"], dest="torch_choice")
    parser.add_argument("--only", default="", help="comma-separated kinds (mlp) or cases (mlp-b128)")
    parser.add_argument("--seconds", type=float, default=0.4, help="about how long one timed run takes")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side (median)")
    parser.add_argument("--jsonl", type=Path, default=None, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    cases = wanted_cases(args.only)
    device = torch_device(args.torch_choice)
    rows = []
    for kind, batch in cases:
        try:
            row = measure(kind, batch, args.backend, device, args.seconds, args.repeats)
        except Exception as error:  # noqa: BLE001 - report the case and go on: the point is the whole table
            row = {"case": case_name(kind, batch), "error": f"{type(error).__name__}: {str(error)[:300]}"}
        rows.append(row)
        line = json.dumps(row)
        print(line, flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as out:
                out.write(line + "\n")
        gc.collect()  # the case's arrays go before the next case's memory is measured
    print(table(rows, args.backend, device), flush=True)
    return rows


if __name__ == "__main__":
    main()
