"""Data-parallel training on MPI: what it gains on this machine, what communication costs, and where it would
stop scaling on a cluster.

    python benchmarks/mpi_scaling.py [--steps 30] [--models mlp lenet lstm rbm]

For the MLP (specs/digits_mlp.nn), LeNet (specs/mnist_lenet.nn), the LSTM (specs/adding_lstm.nn) and the RBM
(specs/rbm_digits.nn: PCD, 100 chains stepped in shares and gathered every step), each at its spec's global
batch, on random data of the model's shape (the timing does not depend on the values):

(a) samples/s with 1 process and with `mpiexec -n 2` (the same global batch: each rank trains half of it; the
    threads are the free cores shared by the ranks, as `nngraph train` gives them);
(b) the Allreduce time per step (waiting for the slower rank included) against the step time;
(c) a simulated scaling table for 8-64 workers at 10 and 100 Gbit/s: step time = the measured one-process
    compute time per sample x the rank's share of the global batch + the ring-allreduce time of the flat
    gradient, 2 (p - 1) alpha + 2 (p - 1) / p x bytes / bandwidth (alpha = ALPHA_S a message), and the global
    batch below which the allreduce takes longer than the compute (`stops scaling at`).
The compute model is linear in the batch, which flatters small shards (a small matrix product runs below the
machine's peak), so the table is an upper bound on the speed-up.

`ppo` (specs/cartpole_ppo.nn: 8 CartPole copies, 4 stepped by each rank) is timed by updates (`iterate`: a
rollout of 32 steps of every copy, gathered, then 20 gradient steps on the whole rollout, each rank's on half of
it): its `samples/s` are environment steps a second, its `global batch` the environment steps of an update. It
is left out of the simulated table (its step is mostly environment stepping, not a matrix product).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPECS = {"mlp": "digits_mlp.nn", "lenet": "mnist_lenet.nn", "lstm": "adding_lstm.nn", "rbm": "rbm_digits.nn",
         "ppo": "cartpole_ppo.nn"}
AGENTS = ("ppo",)  # timed by updates, the environment their data
AGENT_UPDATES = 5  # `--steps` for the others; an update of ppo is 20 gradient steps and 256 environment steps
WORKERS = (8, 16, 32, 64)
LINKS_GBIT = (10, 100)
ALPHA_S = 5e-6  # latency of one message on a cluster interconnect (MPI over Ethernet/RoCE: 2-10 us)
WARMUP = 3


def synthetic(name: str, rows: int):
    """Random data of the model's input shape, labelled as its loss wants."""
    from nngraph.data.dataset import classification, regression, unsupervised

    rng = np.random.default_rng(0)
    if name == "rbm":  # bernoulli visible units take 0/1 data
        return unsupervised((rng.random((rows, 64)) < 0.5).astype(np.float32), "random")
    if name == "lstm":
        return regression(rng.random((rows, 50, 2), np.float32), rng.random(rows, np.float32), "random")
    shape = (64,) if name == "mlp" else (1, 28, 28)
    return classification(rng.random((rows,) + shape, np.float32), rng.integers(0, 10, rows), "random",
                          n_classes=10)


def worker(name: str, steps: int) -> None:
    """Under mpiexec or alone: time `steps` training steps of the global batch; rank 0 prints one JSON line."""
    from nngraph.api import load
    from nngraph.backend.threads import compute_threads
    from nngraph.session import _default_threads, prepare
    from nngraph.train.loop import run_train_step
    from nngraph.train.parallel import world

    checked = load(REPO / "specs" / SPECS[name])
    if name in AGENTS:
        session = prepare(checked)
        batch, steps = session.method.steps_per_iteration, AGENT_UPDATES
    else:
        batch = checked.train().batch
        session = prepare(checked, data=synthetic(name, batch * (steps + WARMUP)))
    method, train, ranks = session.method, session.splits and session.splits.train, world()
    communication = [0.0]
    reduce = ranks.allreduce_mean

    def timed(grads, xp=np, share=None):
        start = time.perf_counter()
        reduce(grads, xp, share)
        communication[0] += time.perf_counter() - start

    ranks.allreduce_mean = timed
    rng = np.random.default_rng(0)
    with compute_threads(_default_threads()):
        for step in range(WARMUP + steps):
            if step == WARMUP:
                ranks.barrier()
                communication[0], start = 0.0, time.perf_counter()
            if name in AGENTS:
                method.iterate(rng)
            else:
                run_train_step(method, train.take(np.arange(step * batch, (step + 1) * batch) % len(train)), rng)
        ranks.barrier()
        elapsed = time.perf_counter() - start
    if ranks.writes:
        flat = sum(int(np.prod(a.shape)) for a in method.params.values())
        print(json.dumps({"model": name, "ranks": ranks.size, "batch": batch, "step_s": elapsed / steps,
                          "allreduce_s": communication[0] / steps, "samples_per_s": batch * steps / elapsed,
                          "parameters": flat}))


def measure(name: str, ranks: int, steps: int) -> dict:
    python = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--steps", str(steps)]
    command = python if ranks == 1 else [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *python]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ring_allreduce_s(parameters: int, workers: int, gbit: float, bytes_per_value: int = 4) -> float:
    """The bandwidth-optimal ring: a reduce-scatter and an all-gather, 2 (p - 1) messages of 1/p of the data."""
    data = parameters * bytes_per_value
    return 2 * (workers - 1) * ALPHA_S + 2 * (workers - 1) / workers * data / (gbit * 1e9 / 8)


def scaling_rows(one: dict) -> list[str]:
    per_sample = one["step_s"] / one["batch"]
    rows = []
    for gbit in LINKS_GBIT:
        for p in WORKERS:
            reduce = ring_allreduce_s(one["parameters"], p, gbit)
            step = per_sample * one["batch"] / p + reduce
            rows.append(f"| {one['model']} | {gbit} | {p} | {1e3 * step:.3f} | {1e3 * reduce:.3f} | "
                        f"{one['step_s'] / step:.1f}x | {int(np.ceil(p * reduce / per_sample))} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--worker", choices=list(SPECS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    measured = {(name, n): measure(name, n, args.steps) for name in args.models for n in (1, 2)}
    print("| model | parameters | global batch | ranks | step ms | allreduce ms | samples/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (name, n), m in measured.items():
        print(f"| {name} | {m['parameters']:,} | {m['batch']} | {n} | {1e3 * m['step_s']:.2f} | "
              f"{1e3 * m['allreduce_s']:.3f} | {m['samples_per_s']:,.0f} |")
    print(f"\nsimulated ring allreduce (alpha {ALPHA_S * 1e6:.0f} us), the spec's global batch; "
          "`stops scaling at`: the global batch below which the allreduce outlasts the compute")
    print("| model | Gbit/s | workers | step ms | allreduce ms | speed-up | stops scaling at |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        if name not in AGENTS:
            print("\n".join(scaling_rows(measured[(name, 1)])))


if __name__ == "__main__":
    main()
