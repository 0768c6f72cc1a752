"""nngraph BPTT vs torch.nn.RNN / torch.nn.LSTM / torch.nn.GRU (CPU) on the same training work, in one run.

    python benchmarks/rnn_vs_torch.py [--repeats 5] [--threads 1,2] [--only elman,lstm,gru] [--paths avx512,avx2]

Issue 4's case: input 32, hidden 128, T = 50, batch 32, a linear layer from the last step to 10 classes,
cross-entropy, full BPTT, SGD (lr 0.01) with gradient clipping at norm 1. Training sequences per second,
median of `repeats` timed runs that alternate between the two sides, both at the same thread count (numpy's
BLAS through threadpoolctl, torch through set_num_threads). Prints one JSON row per case, thread count and
kernel path (`--paths`: each forced through NNGRAPH_ISA, "twins" through NNGRAPH_KERNELS=0; default: the one
the CPU picks), with the median ratio of the paired runs. nngraph's GRU is PyTorch's without b_hn (its reset
gate's recurrent bias; docs/language.md), one bias vector of 3H fewer: the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pairing import paired_rates  # noqa: E402 (after the path set-up)

INPUT, HIDDEN, STEPS, BATCH, CLASSES = 32, 128, 50, 32, 10

SPEC = """
model rnn {{
  input  x[{input}] sequence
  layer  h[{hidden}] {cell}
  output y[{classes}] softmax
  x -> h -> y
  {recurrence}
}}
train {{ model rnn; data xor; loss cross_entropy(y); optimizer sgd(lr=0.01); clip 1.0; batch {batch} }}
"""


def spec(kind: str, batch: int = BATCH) -> str:
    cell, recurrence = ("tanh", "h -> h delay 1") if kind == "elman" else (kind, "")
    return SPEC.format(input=INPUT, hidden=HIDDEN, classes=CLASSES, batch=batch, cell=cell,
                       recurrence=recurrence)


def data(rng, batch: int = BATCH):
    x = rng.standard_normal((batch, STEPS, INPUT)).astype(np.float32)
    return x, rng.integers(0, CLASSES, batch)


def nngraph_stepper(kind: str, x, y, backend: str = "numpy", resident: bool = False):
    """One training step per call, as backprop_vs_torch.nngraph_stepper (`resident` likewise)."""
    import nngraph
    from nngraph.backend import get_backend
    from nngraph.data.dataset import Dataset
    from nngraph.session import build_method
    from nngraph.train.loop import run_train_step

    checked = nngraph.loads(spec(kind, len(x)))
    chosen = get_backend(backend)
    method = build_method(checked, checked.train(), chosen)
    if resident:
        x, y = chosen.asarray(x), chosen.asarray(y)
    batch = Dataset(x, y, "classification", CLASSES, info={"target": "final"})
    rng = np.random.default_rng(0)
    return lambda: run_train_step(method, batch, rng)


def torch_stepper(kind: str, x, y, device: str = "cpu"):
    import torch
    from torch import nn

    torch.manual_seed(0)
    rnn = (nn.RNN(INPUT, HIDDEN, nonlinearity="tanh", batch_first=True) if kind == "elman"
           else {"lstm": nn.LSTM, "gru": nn.GRU}[kind](INPUT, HIDDEN, batch_first=True)).to(device)
    head = nn.Linear(HIDDEN, CLASSES).to(device)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(xt)
        loss = loss_fn(head(out[:, -1]), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    return step


def compare(kind: str, threads: int, steps: int, repeats: int) -> dict:
    """Median sequences/s of both sides and the median paired ratio (see benchmarks/pairing.py)."""
    import torch

    from nngraph.backend.accel import path
    from nngraph.backend.threads import compute_threads

    x, y = data(np.random.default_rng(0))
    torch.set_num_threads(threads)
    with compute_threads(threads):
        ours, theirs, ratio = paired_rates(nngraph_stepper(kind, x, y), torch_stepper(kind, x, y), steps, repeats)
    return {"case": kind, "threads": threads, "path": path(np), "unit": "sequences/s",
            "nngraph": round(ours * BATCH), "torch": round(theirs * BATCH), "ratio": round(ratio, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--only", default="elman,lstm,gru")
    parser.add_argument("--paths", default="", help="kernel paths to force one after the other (NNGRAPH_ISA)")
    args = parser.parse_args()
    for threads in (int(t) for t in args.threads.split(",")):
        for kind in args.only.split(","):
            for path in args.paths.split(",") if args.paths else [os.environ.get("NNGRAPH_ISA", "")]:
                force_path(path)
                print(json.dumps(compare(kind, threads, args.steps, args.repeats)), flush=True)


def force_path(path: str) -> None:
    """NNGRAPH_ISA=path, or for "twins" NNGRAPH_KERNELS=0 (read by nngraph.backend.accel on every call)."""
    os.environ["NNGRAPH_KERNELS"] = "0" if path == "twins" else "1"
    os.environ["NNGRAPH_ISA"] = "" if path == "twins" else path


if __name__ == "__main__":
    main()
