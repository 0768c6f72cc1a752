"""Reinforcement learning on 2 MPI ranks, each stepping its half of the environment copies, gives what one
process stepping all of them gives: the same per-update metrics (episodes, returns, losses), the same
evaluation and final parameters, up to float32 summation order; and a run resumes on any number of ranks."""

from __future__ import annotations

import pytest

from tests.parallel.helpers import mpiexec, train
from tests.parallel.test_refusals import refused
from tests.parallel.test_resume import resumed_across_ranks
from tests.parallel.test_same_results import assert_same_training
from tests.rl.helpers import agent, qnet

PENDULUM = {"env": "pendulum(n=4, episodes=3, normalize_obs=true, normalize_reward=true)", "obs": 3, "actions": 1,
            "activation": ""}

# ppo: 4 copies x 8 steps = 32 rows a rollout, in minibatches of 12, 12 and 8 (split 6/6, 6/6 and 4/4), the
# observations and rewards normalised by statistics of every copy; 3 evaluation episodes on 3 copies, played 2
# and 1. The discrete one's minibatches of 31 and 1: the rank without a row of the last steps with weight 0.
PPO = agent(method="ppo(rollout=8, minibatch=12, epochs=2, value_clip=0.5)", steps=832, **PENDULUM)
PPO_DISCRETE = agent(method="ppo(rollout=8, minibatch=31, epochs=2)", steps=96)
A2C = agent(env="cartpole(n=4, episodes=4)", method="a2c(rollout=8, entropy=0.01)", steps=256)
# reinforce: the steps of episodes ended inside the rollout, kept by copy across both ranks' halves
REINFORCE = agent(env="cartpole(n=4, episodes=4)", method="reinforce(rollout=32)", steps=384)
# dqn: the replay buffer holds both ranks' transitions in one process's order; minibatches of 16 split 8/8
DQN = qnet(method="dqn(buffer=500, start=64, minibatch=16, train_every=8, target_every=32)", steps=512)


# float32 summation-order noise in the parameters (1e-7) grows over a 200-step Pendulum episode of the evaluation
# to 2e-5 of its return (measured), past float32's tolerance: the continuous run compares in float64
@pytest.mark.parametrize(("spec", "dtype"), [(PPO, "float64"), (PPO_DISCRETE, "float32"), (A2C, "float32"),
                                             (REINFORCE, "float32"), (DQN, "float32")],
                         ids=["ppo", "ppo-discrete", "a2c", "reinforce", "dqn"])
def test_two_ranks_stepping_half_the_copies_each_train_as_one_process(tmp_path, spec, dtype):
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(spec)
    one = train(1, path, tmp_path / "one", "--dtype", dtype)
    two = train(2, path, tmp_path / "two", "--dtype", dtype)
    assert one.records()[-1]["episodes"] > 0  # returns are compared, not only losses
    assert_same_training(one, two)
    assert two.out.count("run folder:") == 1


def test_environment_copies_the_ranks_cannot_share_are_refused_at_the_env(tmp_path):
    mpiexec()
    spec = agent(env="cartpole(n=3, episodes=5)")
    path, err = refused(tmp_path, spec)
    line = spec.splitlines().index("  env   cartpole(n=3, episodes=5)") + 1
    assert f"{path}:{line}:9: error: 3 environment copies cannot be split evenly across 2 MPI ranks" in err


def test_an_agent_started_in_one_process_resumes_on_two_ranks_as_if_never_stopped(tmp_path):
    """The checkpoint holds every copy's state (physics, generator, time limit, normalisation): rank 1 takes up
    copies 2 and 3 where the one process left them."""
    assert_same_training(*resumed_across_ranks(tmp_path, PPO, 4, first=1, then=2, steps_per_epoch=32))


def test_dqn_stopped_on_two_ranks_resumes_in_one_process_as_if_never_stopped(tmp_path):
    """Rank 0's checkpoint holds both ranks' copies and the whole replay buffer. (A constant epsilon: its
    schedule spans the run's `steps`, which the first half sets shorter.)"""
    spec = qnet(method="dqn(buffer=500, start=64, minibatch=16, train_every=8, target_every=32, eps_start=0.1, "
                       "eps_end=0.1)", steps=2048).replace("cartpole(n=2,", "cartpole(n=4,")
    assert_same_training(*resumed_across_ranks(tmp_path, spec, 2, first=2, then=1, steps_per_epoch=1024))
