"""nngraph vs stable-baselines3 (PyTorch, CPU) on CartPole-v1, the same algorithm and hyperparameters, both
on 1 thread, one after the other in one run (issue 14). Prints, per algorithm and seed: environment steps per
second while training (collection and updates together), the time until the mean return of the last 100
training episodes first reaches 475, and the final deterministic evaluation (100 episodes).

    pip install torch==2.13.0 stable-baselines3   # benchmark only: in no extra of nngraph
    python benchmarks/rl_cartpole.py [--seeds 1] [--only ppo,dqn]

The algorithms are specs/cartpole_ppo.nn and specs/cartpole_dqn.nn (the RL Baselines3 Zoo's hyperparameters)
and their stable-baselines3 twins below. Differences that remain: the Zoo's PPO clip range decays linearly,
both sides here keep it at 0.2; initialisation (stable-baselines3: orthogonal for PPO, torch's default for
DQN, U(+-1/sqrt(fan_in)) for weights and biases; nngraph: Glorot/He uniform, zero biases). Each side runs in
its own process, so neither inherits the other's threads or memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOLVED = 475.0
EVAL_EPISODES = 100
NNGRAPH = {"ppo": (REPO / "specs" / "cartpole_ppo.nn", []),
           "dqn": (REPO / "specs" / "cartpole_dqn.nn", [])}


def run_nngraph(algorithm: str, seed: int) -> dict:
    import nngraph

    spec, overrides = NNGRAPH[algorithm]
    checked = nngraph.load(spec, [*overrides, f"seed={seed}", f"env=cartpole({_copies(spec)}, "
                                  f"episodes={EVAL_EPISODES})"])
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    from nngraph.session import run_training

    summary = run_training(checked, out=out / "run", threads=1)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    train_time = records[-1]["time"]
    solved = next((r["time"] for r in records if r.get("return", 0) >= SOLVED), None)
    return {"steps": records[-1]["steps"], "train_s": train_time, "steps_per_s": records[-1]["steps"] / train_time,
            "solved_s": solved, "eval": summary["test"]["return_mean"], "eval_std": summary["test"]["return_std"],
            "wall_s": wall}


def _copies(spec: Path) -> str:
    text = spec.read_text()
    return "n=8" if "cartpole(n=8)" in text else "n=1"


def run_sb3(algorithm: str, seed: int) -> dict:
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)

    class Solved(BaseCallback):
        def __init__(self):
            super().__init__()
            self.start, self.solved = time.perf_counter(), None

        def _on_step(self) -> bool:
            buffer = self.model.ep_info_buffer
            if self.solved is None and buffer and len(buffer) and \
                    sum(e["r"] for e in buffer) / len(buffer) >= SOLVED:
                self.solved = time.perf_counter() - self.start
            return True

    if algorithm == "ppo":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                    ent_coef=0.0, learning_rate=lambda progress: 1e-3 * progress, clip_range=0.2, seed=seed,
                    device="cpu")
        steps = 100_000
    else:
        env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
        model = DQN("MlpPolicy", env, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                    learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                    exploration_fraction=0.16, exploration_final_eps=0.04, policy_kwargs={"net_arch": [256, 256]},
                    seed=seed, device="cpu")
        steps = 50_000
    callback = Solved()
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    train_time = time.perf_counter() - start
    returns, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=seed + 1_000_000),
                                 n_eval_episodes=EVAL_EPISODES, deterministic=True, return_episode_rewards=True)
    import numpy as np

    return {"steps": model.num_timesteps, "train_s": train_time, "steps_per_s": model.num_timesteps / train_time,
            "solved_s": callback.solved, "eval": float(np.mean(returns)), "eval_std": float(np.std(returns))}


def _child(side: str, algorithm: str, seed: int) -> dict:
    """One side's run in a fresh process on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", side, algorithm, str(seed)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, result: dict) -> str:
    solved = f"{result['solved_s']:.1f}" if result["solved_s"] is not None else "not reached"
    return (f"  {name:18s} {result['steps']:>7d} steps  {result['steps_per_s']:8.0f} steps/s  "
            f"475 after {solved:>11s} s  eval {result['eval']:6.1f} +- {result['eval_std']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", default="ppo,dqn")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "ALGORITHM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, algorithm, seed = args.child
        sys.path.insert(0, str(REPO))
        print(json.dumps((run_nngraph if side == "nngraph" else run_sb3)(algorithm, int(seed))))
        return
    for algorithm in args.only.split(","):
        print(f"{algorithm.upper()} CartPole-v1, 1 thread")
        for seed in range(args.seeds):
            ours, theirs = _child("nngraph", algorithm, seed), _child("sb3", algorithm, seed)
            print(_row(f"nngraph seed {seed}", ours), flush=True)
            print(_row(f"sb3 seed {seed}", theirs), flush=True)
            print(f"  speed ratio (nngraph / sb3): {ours['steps_per_s'] / theirs['steps_per_s']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
