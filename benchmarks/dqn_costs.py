"""Where DQN's time goes (issue 14), in CPU time, so a shared machine's load moves it less than wall time:
per environment step and per gradient step of specs/cartpole_dqn.nn on one thread, beside the GEMMs alone
(the floor no interpreter reaches below) and, with --sb3, stable-baselines3's same two costs.

    python benchmarks/dqn_costs.py [--repeats 5] [--sb3]     # --sb3: pip install torch==2.13.0 stable-baselines3

A full run (50,000 steps) makes 50,000 environment steps and ~24,500 gradient steps (minibatch 64), so its
time is about 50,000 x env step + 24,500 x gradient step. Each figure is the median of `--repeats` timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "specs" / "cartpole_dqn.nn"
FILLED = 2000  # random-policy steps in the replay buffer before timing
MINIBATCH = 64


def cpu_us(fn, calls: int, repeats: int) -> float:
    """Median CPU microseconds per call of `fn`, over `repeats` timings of `calls` calls."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        times.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(times)


def nngraph_costs(repeats: int) -> dict[str, float]:
    import nngraph
    from nngraph.session import prepare

    # the spec's method with learning from the first step, so both loops time the steady state
    dqn = prepare(nngraph.load(SPEC, ["seed=0", "method=dqn(buffer=100000, start=0, minibatch=64, train_every=256, "
                                      "gradient_steps=128, target_every=10, explore=0.16, eps_end=0.04, "
                                      "double=false)"])).method
    rng = np.random.default_rng(0)
    for _ in range(FILLED):
        dqn.step(rng)
    obs, batch = dqn.envs.obs, dqn.buffer.sample(MINIBATCH, rng)
    return {"env step": cpu_us(lambda: dqn.step(rng), 1000, repeats),
            "  of which acting (batch-1 forward)": cpu_us(lambda: dqn.act(obs), 2000, repeats),
            "  of which the environment": cpu_us(lambda: dqn.envs.step(np.zeros(1, np.int64)), 2000, repeats),
            "gradient step": cpu_us(lambda: dqn.update(dqn.buffer.sample(MINIBATCH, rng)), 200, repeats),
            "  of which the loss's gradients": cpu_us(lambda: dqn.loss_and_grads(batch), 200, repeats),
            "  GEMMs alone (both networks)": gemm_floor(dqn, repeats)}


def gemm_floor(dqn, repeats: int) -> float:
    """The matrix products of one gradient step alone: each dense layer's forward in the target and the online
    network, and its backward products (the input's gradient only where the plan asks for it)."""
    rng = np.random.default_rng(0)
    dtype = dqn.backend.dtype
    products = []
    for ins in dqn.plan.instrs[: dqn.plan.body]:
        if ins.op.name != "dense":
            continue
        w = dqn.program.params[ins.inputs[1].split(":", 1)[1]]
        x = rng.random((MINIBATCH, w.shape[0]), dtype=dtype)
        g = rng.random((MINIBATCH, w.shape[1]), dtype=dtype)
        products += [(x, w), (x, w), (x.T, g)] + ([(g, w.T)] if ins.attrs.get("needs_input_grad", True) else [])
    return cpu_us(lambda: [a @ b for a, b in products], 200, repeats)


def sb3_costs(repeats: int) -> dict[str, float]:
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_rate=2.3e-3,
                batch_size=MINIBATCH, buffer_size=100_000, learning_starts=0, gamma=0.99, target_update_interval=10,
                train_freq=256, gradient_steps=0, exploration_fraction=0.16, exploration_final_eps=0.04,
                policy_kwargs={"net_arch": [256, 256]}, seed=0, device="cpu")
    model.learn(FILLED)  # gradient_steps 0: collection only
    # whole `learn` and `train` calls, long enough that their set-up (logger, callbacks) weighs little
    env_step = cpu_us(lambda: model.learn(1000, reset_num_timesteps=False), 1, repeats) / 1000
    gradient_step = cpu_us(lambda: model.train(gradient_steps=128, batch_size=MINIBATCH), 1, repeats) / 128
    return {"env step": env_step, "gradient step": gradient_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sb3", action="store_true", help="also stable-baselines3's costs (needs torch)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ours = nngraph_costs(args.repeats)
    print("DQN on CartPole-v1 (specs/cartpole_dqn.nn), 1 thread, CPU microseconds per call (median)")
    for name, value in ours.items():
        print(f"  nngraph {name:38s} {value:8.1f}")
    full = 50_000 * ours["env step"] + 24_500 * ours["gradient step"]
    print(f"  nngraph estimated 50k-step run: {full / 1e6:.1f} s CPU")
    if args.sb3:
        theirs = sb3_costs(args.repeats)
        for name, value in theirs.items():
            print(f"  sb3     {name:38s} {value:8.1f}   nngraph is {value / ours[name]:.2f}x faster")
        their_full = 50_000 * theirs["env step"] + 24_500 * theirs["gradient step"]
        print(f"  sb3     estimated 50k-step run: {their_full / 1e6:.1f} s CPU; ratio {their_full / full:.2f}x")


if __name__ == "__main__":
    main()
