"""MLP 784-256-256-10 training at batch 1024: nngraph on numpy and on cupy, and torch on CUDA where present.

    python benchmarks/gpu_mlp.py [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.backprop_vs_torch import MLP, data  # noqa: E402 (after the path set-up)


def nngraph_rate(backend_name: str, x, y, steps: int) -> float:
    import nngraph
    from nngraph.backend import get_backend
    from nngraph.data.dataset import Dataset
    from nngraph.session import build_method

    checked = nngraph.loads(MLP)
    backend = get_backend(backend_name)
    method = build_method(checked, checked.train(), backend)
    batch = Dataset(x, y, "classification")
    rng = np.random.default_rng(0)
    return _time(lambda: method.train_step(batch, rng), backend.synchronize, steps)


def torch_cuda_rate(x, y, steps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    from torch import nn

    dev = torch.device("cuda")
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xt), yt).backward()
        opt.step()

    return _time(step, torch.cuda.synchronize, steps)


def _time(step, sync, steps: int) -> float:
    for _ in range(10):
        step()
    sync()
    rates = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    batch = 1024
    x, y = data("mlp", batch, np.random.default_rng(0))
    rows = {"nngraph numpy": nngraph_rate("numpy", x, y, max(10, args.steps // 20))}
    try:
        rows["nngraph cupy"] = nngraph_rate("cupy", x, y, args.steps)
    except Exception as e:  # noqa: BLE001 - report and go on: the point is the table
        print(f"nngraph cupy: unavailable ({e})")
    torch_rate = torch_cuda_rate(x, y, args.steps)
    if torch_rate is not None:
        rows["torch cuda"] = torch_rate
    for name, steps_per_s in rows.items():
        print(f"{name:14s} {steps_per_s * batch:12.0f} samples/s")
    if "nngraph cupy" in rows and "torch cuda" in rows:
        print(f"ratio nngraph cupy / torch cuda: {rows['nngraph cupy'] / rows['torch cuda']:.2f}x")


if __name__ == "__main__":
    main()
