"""RBM 784-500, CD-1, batch 100, float32, binary data: nngraph against scikit-learn's BernoulliRBM and a plain
NumPy CD-1 loop, in one run; prints samples per second (median of several epochs) and the ratios.

    python benchmarks/rbm_vs_sklearn.py [--samples 10000] [--repeats 3] [--backend numpy|cupy]

The data is MNIST binarised at 0.5 where ../shared/data/mnist exists, else random binary vectors with MNIST's
density (13% on). nngraph's time is the Method's `train_step` as the training loop calls it, per-step
metrics included; scikit-learn's is `fit` with n_iter=1 (PCD-1, its only algorithm) on float32 data.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.data.dataset import unsupervised
from nngraph.train.loop import run_train_step
from nngraph.train.rbm import build

VISIBLE, HIDDEN, BATCH, LR = 784, 500, 100, 0.05
SPEC = f"""
model rbm {{ visible v[{VISIBLE}] bernoulli; hidden h[{HIDDEN}] bernoulli; v <-> h }}
train {{ model rbm; data bars; method cd(k=1); optimizer sgd(lr={LR}); batch {BATCH} }}
"""
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def binary_data(count: int) -> np.ndarray:
    if MNIST.exists():
        from nngraph.data import load_dataset
        from nngraph.spec.parser import parse_fragment

        call = parse_fragment(f'mnist(path="{MNIST}", limit={count}, binarize=0.5)', "value_only", "<bench>", 1, 1)
        return load_dataset(call, Path.cwd()).x[:count]
    rng = np.random.default_rng(0)
    return (rng.random((count, VISIBLE)) < 0.13).astype(np.float32)


def timed(epochs: dict, repeats: int, samples: int) -> dict[str, float]:
    """Median samples per second of each epoch function over `repeats` rounds (after one warm-up each); the
    rounds interleave the implementations, so a busy machine slows them alike."""
    for epoch in epochs.values():
        epoch()
    rates: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            rates[name].append(samples / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def nngraph_epoch(x: np.ndarray, backend_name: str):
    checked = nngraph.loads(SPEC)
    backend = get_backend(backend_name)
    method = build(checked, checked.train(), backend)
    rng = np.random.default_rng(0)
    batches = [unsupervised(x[i:i + BATCH], "bench") for i in range(0, len(x), BATCH)]

    def epoch():
        method.set_learning_rate(LR)  # as the training loop does at every epoch: it paces the metrics
        for batch in batches:
            run_train_step(method, batch, rng)
        backend.synchronize()
    return epoch


def sklearn_epoch(x: np.ndarray):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=1, random_state=0)
    return lambda: rbm.fit(x)


def numpy_epoch(x: np.ndarray):
    """The straightforward float32 CD-1 loop: sample h, sample v, hidden probabilities, update."""
    rng = np.random.default_rng(0)
    w = (0.01 * rng.standard_normal((VISIBLE, HIDDEN))).astype(np.float32)
    bv, bh = np.zeros(VISIBLE, np.float32), np.zeros(HIDDEN, np.float32)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def epoch():
        nonlocal w, bv, bh
        for i in range(0, len(x), BATCH):
            v = x[i:i + BATCH]
            ph = sigmoid(v @ w + bh)
            h = (rng.random(ph.shape, dtype=np.float32) < ph).astype(np.float32)
            pv = sigmoid(h @ w.T + bv)
            v1 = (rng.random(pv.shape, dtype=np.float32) < pv).astype(np.float32)
            ph1 = sigmoid(v1 @ w + bh)
            w += (LR / len(v)) * (v.T @ ph - v1.T @ ph1)
            bv += LR * (v - v1).mean(axis=0)
            bh += LR * (ph - ph1).mean(axis=0)
    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args()
    x = binary_data(args.samples)
    print(f"RBM {VISIBLE}-{HIDDEN}, CD-1, batch {BATCH}, float32, {len(x)} samples "
          f"({'MNIST binarised' if MNIST.exists() else 'random binary'})")
    rates = timed({"nngraph": nngraph_epoch(x, args.backend),
                   "sklearn BernoulliRBM (float32)": sklearn_epoch(x),
                   "numpy CD-1 loop (float32)": numpy_epoch(x)}, args.repeats, len(x))
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:10.0f} samples/s")
    ours = rates["nngraph"]
    print(f"ratio nngraph / sklearn: {ours / rates['sklearn BernoulliRBM (float32)']:.2f} (floor 1.5)")
    print(f"ratio nngraph / numpy loop: {ours / rates['numpy CD-1 loop (float32)']:.2f} (floor 1.0)")


if __name__ == "__main__":
    main()
