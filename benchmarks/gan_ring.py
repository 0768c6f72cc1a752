"""The GAN mixture floors (issues 6, 15): modes captured and high-quality share over seeds, and a PyTorch peer.

    python benchmarks/gan_ring.py [--spec specs/gan_ring.nn] [--seeds 0,1,2,3,4] [--epochs N] [--no-torch]
    python benchmarks/gan_ring.py --spec specs/gan_grid.nn --no-torch

For each seed: train the spec, then generate 2500 points and count the modes captured (>= 20
high-quality points) and the share within 3 std of a mode (nngraph.train.gan_metrics). Prints
each seed, the medians, and the data set's floor (FLOORS: the ring, median >= 7 of 8 modes with >= 50%
high quality; the 5x5 grid, median >= 20 of 25 modes). The peer is the same two MLPs, updates and rate
schedule in PyTorch (CPU, one thread each) on the first seed: its quality and the wall-time ratio (the
machine is shared: read ratios, not seconds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.session import prepare
from nngraph.train.gan_metrics import SAMPLES, mode_metrics
from nngraph.train.loop import fit
from nngraph.train.optimizers import settings
from nngraph.train.schedules import learning_rate

REPO = Path(__file__).resolve().parents[1]
FLOORS = {"ring": (7, 0.5), "grid": (20, 0.0)}  # data set -> (median modes, median high-quality share)


def run_nngraph(spec: Path, seed: int, overrides: list[str]) -> tuple[dict, float, str]:
    session = prepare(nngraph.load(spec, overrides + [f"seed={seed}"]))
    start = time.perf_counter()
    fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(seed))
    seconds = time.perf_counter() - start
    return session.method.evaluate(session.splits.train), seconds, session.splits.train.name


def floor_line(data: str, modes: float, quality: float) -> str:
    if data not in FLOORS:
        return "no floor for this data"
    want_modes, want_quality = FLOORS[data]
    met = modes >= want_modes and quality >= want_quality
    return f"floor >= {want_modes} modes and >= {100 * want_quality:.0f}%: {'met' if met else 'NOT met'}"


def run_torch(spec: Path, seed: int, overrides: list[str]) -> tuple[dict, float]:
    """The peer: the same layers (read from the compiled plans), alternation, packing and rate schedule."""
    import torch

    session = prepare(nngraph.load(spec, overrides + [f"seed={seed}"]))
    cfg, method = session.config, session.method
    torch.manual_seed(seed)
    gen, disc = (_mlp(program.train_plan, torch) for program in (method.gen, method.disc))
    noise = method.gen.train_plan.random[0].shape[0]
    options = settings(cfg.optimizer)
    make = lambda p: torch.optim.Adam(p, options["lr"], betas=(options["beta1"], options["beta2"]))
    g_opt, d_opt = make(gen.parameters()), make(disc.parameters())
    bce = torch.nn.BCEWithLogitsLoss()
    data = torch.tensor(session.splits.train.x)
    pack = method.pack
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        method.set_learning_rate(learning_rate(cfg.schedule, options["lr"], epoch, cfg.epochs))
        for group, param in zip((g_opt, d_opt), method.optimizers):
            for g in group.param_groups:
                g["lr"] = param.lr  # the schedule's rate, as nngraph sets it
        order = torch.randperm(len(data))
        for i in range(0, len(data), cfg.batch):
            real = data[order[i:i + cfg.batch]]
            n = len(real) // pack
            fake = gen(torch.randn(n * pack, noise)).detach()
            loss = bce(disc(real[:n * pack].reshape(n, -1)), torch.ones(n, 1)) + \
                bce(disc(fake.reshape(n, -1)), torch.zeros(n, 1))
            d_opt.zero_grad(), loss.backward(), d_opt.step()
            loss = bce(disc(gen(torch.randn(n * pack, noise)).reshape(n, -1)), torch.ones(n, 1))
            g_opt.zero_grad(), loss.backward(), g_opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        points = gen(torch.randn(SAMPLES, noise)).numpy()
    info = session.splits.train.info
    return mode_metrics(points, info["centres"], info["std"]), seconds


def _mlp(plan, torch):
    """Dense layers and hidden activations in the plan's order (the output's sigmoid is in the loss)."""
    activations = {"relu": lambda attrs: torch.nn.ReLU(),
                   "leaky_relu": lambda attrs: torch.nn.LeakyReLU(attrs["slope"])}
    layers = []
    for ins in plan.instrs[:plan.body]:
        if ins.op.name == "dense":
            layers.append(torch.nn.Linear(*plan.params[ins.inputs[1][len("param:"):]].shape))
        elif ins.op.name in activations:
            layers.append(activations[ins.op.name](ins.attrs))
    return torch.nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "specs" / "gan_ring.nn")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    overrides = [f"epochs={args.epochs}"] if args.epochs else []
    results, times = [], []
    seeds = [int(s) for s in args.seeds.split(",")]
    with compute_threads(1):
        for seed in seeds:
            metrics, seconds, data = run_nngraph(args.spec, seed, overrides)
            results.append(metrics)
            times.append(seconds)
            print(f"seed {seed}: {metrics['modes']:.0f} modes, {100 * metrics['high_quality']:.1f}% high quality, "
                  f"{seconds:.1f} s", flush=True)
        modes = statistics.median(r["modes"] for r in results)
        quality = statistics.median(r["high_quality"] for r in results)
        print(f"median: {modes:.0f} modes, {100 * quality:.1f}% high quality ({floor_line(data, modes, quality)}); "
              f"median {statistics.median(times):.1f} s per seed")
        if not args.no_torch:
            import torch

            torch.set_num_threads(1)
            peer, peer_time = run_torch(args.spec, seeds[0], overrides)
            print(f"torch seed {seeds[0]}: {peer['modes']:.0f} modes, {100 * peer['high_quality']:.1f}% high quality, "
                  f"{peer_time:.1f} s; nngraph {times[0]:.1f} s; time ratio nngraph/torch {times[0] / peer_time:.2f}")


if __name__ == "__main__":
    main()
