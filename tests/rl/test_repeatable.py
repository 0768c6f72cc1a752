"""A seed repeats an agent's run whatever its network draws: dropout masks in the updates come from the run's
generator (they had come from an unseeded one, so two runs of one spec and seed trained different networks)."""

import numpy as np
import pytest

import nngraph

from .helpers import agent, qnet


def _parameters(text: str, seed: int, out) -> dict:
    summary = nngraph.fit(nngraph.loads(text.replace("seed 0", f"seed {seed}"), "agent.nn"), out=out)
    with np.load(summary["run_dir"] + "/checkpoint.npz") as saved:
        return {k: saved[k] for k in saved.files if k.startswith("params.")}


PPO = agent(method="ppo(rollout=16, minibatch=32, epochs=2)", steps=128).replace("h[16] tanh", "h[16] tanh dropout=0.3")
DQN = qnet(steps=192, extra="  seed 0\n").replace("h[64] relu", "h[64] relu dropout=0.3")


@pytest.mark.parametrize("text", [PPO, DQN], ids=["ppo", "dqn"])
def test_dropout_in_an_agent_s_network_repeats_with_the_seed(text, tmp_path):
    assert "dropout=0.3" in text
    first, again, other = (_parameters(text, seed, tmp_path / name) for seed, name in ((0, "a"), (0, "b"), (1, "c")))
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
    assert any(not np.array_equal(first[name], other[name]) for name in first)
