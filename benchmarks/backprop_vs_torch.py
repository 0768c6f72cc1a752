"""nngraph vs PyTorch (CPU) on the same training work, in one run; prints medians and ratios.

    pip install torch==2.13.0      # the CPU build on this machine's disk; not a project dependency
    python benchmarks/backprop_vs_torch.py [--repeats 5] [--only mlp,xor,lenet,lenet_avg,memory]

Cases (issue 3): MLP 784-256-256-10, batch 128, SGD momentum (samples/s, and the step's GFLOP/s against numpy's
own float32 GEMM rate); XOR 2-4-1, batch 4 (steps/s: overhead-bound); LeNet-5 on 1x28x28, batch 64 (samples/s),
with max pooling (`lenet`) or the classic average pooling, subsampling (`lenet_avg`, torch's AvgPool2d);
peak memory of the MLP run (max RSS of a fresh process, training part only). Both sides use the same thread count.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pairing import paired_rates  # noqa: E402 (after the path set-up)

MLP = """
model mlp {
  input x[784]
  layer h1[256] relu
  layer h2[256] relu
  output y[10] softmax
  x -> h1 -> h2 -> y
}
train { model mlp; data xor; loss cross_entropy(y); optimizer sgd(lr=0.01, momentum=0.9); batch 128 }
"""
XOR = """
model xor {
  input x[2]
  layer h[4] tanh
  output y[1] sigmoid
  x -> h -> y
}
train { model xor; data xor; loss bce(y); optimizer sgd(lr=0.5, momentum=0.9); batch 4 }
"""
LENET_TEMPLATE = """
model lenet {
  input x[1, 28, 28]
  layer c1 relu
  layer s2
  layer c3 relu
  layer s4
  layer f5[120] relu
  layer f6[84] relu
  output y[10] softmax
  x -> c1 conv(filters=6, kernel=5) -> s2 POOL(2) -> c3 conv(filters=16, kernel=5) -> s4 POOL(2)
  s4 -> f5 -> f6 -> y
}
train { model lenet; data xor; loss cross_entropy(y); optimizer sgd(lr=0.01, momentum=0.9); batch 64 }
"""
LENET = LENET_TEMPLATE.replace("POOL", "maxpool")
LENET_AVG = LENET_TEMPLATE.replace("POOL", "avgpool")


# ---- nngraph side -------------------------------------------------------------------------------


def nngraph_stepper(spec: str, x: np.ndarray, y: np.ndarray, backend: str = "numpy", resident: bool = False):
    """One training step on the batch (x, y) per call; the spec's `batch` does not enter a step, x's rows do.
    `resident`: the batch is copied to the backend's device once, as training keeps its data there
    (train/feed.py); else each step takes the host arrays."""
    import nngraph
    from nngraph.backend import get_backend
    from nngraph.data.dataset import Dataset
    from nngraph.session import build_method
    from nngraph.train.loop import run_train_step

    checked = nngraph.loads(spec)
    config = checked.train()
    task = "classification"
    chosen = get_backend(backend)
    method = build_method(checked, config, chosen)
    batch = Dataset(*((chosen.asarray(x), chosen.asarray(y)) if resident else (x, y)), task)
    rng = np.random.default_rng(0)
    return lambda: run_train_step(method, batch, rng)


# ---- torch side -----------------------------------------------------------------------------------


def torch_stepper(kind: str, x: np.ndarray, y: np.ndarray, device: str = "cpu"):
    import torch
    from torch import nn

    torch.manual_seed(0)
    if kind == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        loss_fn = nn.CrossEntropyLoss()
        lr = 0.01
    elif kind == "xor":
        net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
        loss_fn = nn.BCEWithLogitsLoss()
        lr = 0.5
    else:
        pool = nn.AvgPool2d if kind == "lenet_avg" else nn.MaxPool2d
        net = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), pool(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                            pool(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                            nn.ReLU(), nn.Linear(84, 10))
        loss_fn = nn.CrossEntropyLoss()
        lr = 0.01
    net = net.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    xt = torch.from_numpy(x).to(device)
    yt = (torch.from_numpy(y.astype(np.float32).reshape(-1, 1)) if kind == "xor" else torch.from_numpy(y)).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


# ---- measuring -----------------------------------------------------------------------------------


def data(kind: str, batch: int, rng):
    if kind == "xor":
        return np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), np.array([0, 1, 1, 0])
    shape = (batch, 784) if kind == "mlp" else (batch, 1, 28, 28)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, batch)


def numpy_gemm_gflops(repeats: int) -> float:
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    b = a.copy()
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        times.append((time.perf_counter() - start) / 10)
    return 2 * 1024**3 / statistics.median(times) / 1e9


def compare(kind: str, spec: str, batch: int, steps: int, repeats: int, unit: str) -> dict:
    """Both sides' median rates and the median paired ratio (see benchmarks/pairing.py)."""
    x, y = data(kind, batch, np.random.default_rng(0))
    ours, theirs, ratio = paired_rates(nngraph_stepper(spec, x, y), torch_stepper(kind, x, y), steps, repeats,
                                       warmup=max(3, steps // 10))
    scale = batch if unit == "samples/s" else 1
    return {"case": kind, "unit": unit, "nngraph": ours * scale, "torch": theirs * scale, "ratio": ratio}


def peak_memory(side: str) -> tuple[float, float]:
    """(max RSS of the whole process, max RSS added after importing the framework), in MiB, for
    building the MLP and running 200 training steps in a fresh process."""
    code = (f"import sys; sys.argv=['x']; import benchmarks.backprop_vs_torch as b; "
            f"b._memory_child('{side}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total, added = out.stdout.strip().splitlines()[-1].split()
    return float(total), float(added)


def _high_water_mib() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(side: str) -> None:
    if side == "nngraph":
        import nngraph.session  # noqa: F401
    else:
        import torch  # noqa: F401
    before = _high_water_mib()
    x, y = data("mlp", 128, np.random.default_rng(0))
    step = nngraph_stepper(MLP, x, y) if side == "nngraph" else torch_stepper("mlp", x, y)
    for _ in range(200):
        step()
    peak = _high_water_mib()
    print(peak, peak - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="mlp,xor,lenet,lenet_avg,memory")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare at (both sides alike)")
    args = parser.parse_args()
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        rows += run_cases(args, threads)
    print(json.dumps(rows))


def run_cases(args, threads: int) -> list[dict]:
    import torch

    from nngraph.backend.threads import compute_threads

    torch.set_num_threads(threads)
    with compute_threads(threads):  # numpy's BLAS and nngraph's kernel threads, as a training run sets them
        return _cases(args, threads)


def _cases(args, threads: int) -> list[dict]:
    print(f"--- {threads} thread(s), both sides; numpy float32 GEMM {numpy_gemm_gflops(args.repeats):.0f} GFLOP/s")
    rows = []
    wanted = args.only.split(",")
    if "mlp" in wanted:
        row = compare("mlp", MLP, 128, 200, args.repeats, "samples/s")
        flops_per_sample = 6 * (784 * 256 + 256 * 256 + 256 * 10)  # forward 2x, backward 4x
        row["nngraph_gflops"] = row["nngraph"] * flops_per_sample / 1e9
        row["gemm_gflops"] = numpy_gemm_gflops(args.repeats)
        rows.append(row)
    if "xor" in wanted:
        rows.append(compare("xor", XOR, 4, 3000, args.repeats, "steps/s"))
    if "lenet" in wanted:
        rows.append(compare("lenet", LENET, 64, 40, args.repeats, "samples/s"))
    if "lenet_avg" in wanted:
        rows.append(compare("lenet_avg", LENET_AVG, 64, 40, args.repeats, "samples/s"))
    for r in rows:
        extra = ""
        if "nngraph_gflops" in r:
            extra = f"  step {r['nngraph_gflops']:.0f} GFLOP/s = {r['nngraph_gflops'] / r['gemm_gflops']:.0%} of GEMM"
        print(f"{r['case']:6s} nngraph {r['nngraph']:10.0f} {r['unit']}  torch {r['torch']:10.0f}  "
              f"ratio {r['ratio']:.2f}x{extra}")
    if "memory" in wanted:
        ours, theirs = peak_memory("nngraph"), peak_memory("torch")
        print(f"memory (MLP, 200 steps): peak RSS nngraph {ours[0]:.0f} MiB, torch {theirs[0]:.0f} MiB; "
              f"added by building and training: nngraph {ours[1]:.1f} MiB, torch {theirs[1]:.1f} MiB")
        rows.append({"case": "memory", "nngraph_peak_mib": ours[0], "torch_peak_mib": theirs[0],
                     "nngraph_added_mib": ours[1], "torch_added_mib": theirs[1]})
    for r in rows:
        r["threads"] = threads
    return rows


if __name__ == "__main__":
    main()
