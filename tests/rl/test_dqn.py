"""dqn: the Huber loss's gradients against finite differences, double Q-learning's targets, the replay buffer,
the epsilon schedule, and an exact resume (replay buffer, target network and counters in the checkpoint)."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.session import load_trained, prepare
from nngraph.train.agent import train_agent
from nngraph.train.dqn import ReplayBuffer, huber
from nngraph.train.outputs import make_run_dir

from .helpers import qnet

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _dqn(text: str, dtype: str = "float32"):
    return prepare(nngraph.loads(text, "qnet.nn"), dtype=dtype).method


def test_huber_is_quadratic_near_zero_and_linear_beyond_one():
    loss, slope = huber(np.asarray([-3.0, -0.5, 0.0, 0.25, 2.0]))
    np.testing.assert_allclose(loss, [2.5, 0.125, 0.0, 0.03125, 1.5])
    np.testing.assert_allclose(slope, [-1.0, -0.5, 0.0, 0.25, 1.0])


def test_the_replay_buffer_keeps_the_last_transitions():
    buffer = ReplayBuffer(5, (1,), np.float32)
    for start in (0, 3):
        rows = np.arange(start, start + 3)
        buffer.add(obs=rows[:, None], actions=rows, rewards=rows, next_obs=rows[:, None], dones=rows * 0)
    assert (buffer.size, buffer.position) == (5, 1)
    assert sorted(buffer.arrays["actions"]) == [1, 2, 3, 4, 5]
    assert set(buffer.sample(50, np.random.default_rng(0))["actions"]) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("double", ["true", "false"])
def test_the_loss_gradients_match_finite_differences(double):
    dqn = _dqn(qnet(method=f"dqn(buffer=64, start=0, minibatch=16, double={double})"), "float64")
    rng = np.random.default_rng(0)
    for _ in range(8):
        dqn.step(rng)
    dqn.target.params["h->q.weight"][...] += 0.3  # the target network differs from the online one
    batch = dqn.buffer.sample(16, rng)
    _, grads = dqn.loss_and_grads(batch)
    for name in ("obs->h.weight", "h->q.weight", "q.bias"):
        index = tuple(rng.integers(0, s) for s in dqn.params[name].shape)
        param, eps = dqn.params[name], 1e-6
        old, losses = param[index], []
        for shift in (eps, -eps):
            param[index] = old + shift
            losses.append(dqn.loss_and_grads(batch)[0]["loss"])
        param[index] = old
        assert grads[name][index] == pytest.approx((losses[0] - losses[1]) / (2 * eps), rel=1e-4, abs=1e-8), name


@pytest.mark.parametrize("double", [True, False])
def test_the_target_evaluates_the_chosen_next_action_with_the_target_network(double):
    # double: the online network chooses (van Hasselt et al.); not double: the target network's own maximum,
    # as stable-baselines3's DQN
    dqn = _dqn(qnet(method=f"dqn(buffer=64, start=0, minibatch=4, double={str(double).lower()})"))
    batch = {"obs": np.zeros((1, 4), np.float32), "actions": np.asarray([0]), "rewards": np.asarray([1.0]),
             "next_obs": np.ones((1, 4), np.float32), "dones": np.asarray([0.0])}
    online = dqn.q_values(dqn.program, batch["next_obs"])[0]
    dqn.target.params["q.bias"][...] = [50.0, -50.0] if online.argmax() else [-50.0, 50.0]  # it prefers the other
    target = dqn.q_values(dqn.target, batch["next_obs"])[0]
    assert online.argmax() != target.argmax()
    q = dqn.q_values(dqn.program, batch["obs"])[0, 0]
    want = 1.0 + 0.99 * (target[online.argmax()] if double else target.max())
    loss = dqn.loss_and_grads(batch)[0]["loss"]
    assert loss == pytest.approx(huber(np.asarray(q - want))[0], rel=1e-5)


def test_the_cartpole_spec_is_the_zoos_dqn():
    """specs/cartpole_dqn.nn runs what the RL Baselines3 Zoo ran: its hyperparameters, and stable-baselines3's
    algorithm, which has no double Q-learning."""
    config = nngraph.load(SPECS / "cartpole_dqn.nn").trains[0]
    zoo = {"buffer": 100_000, "start": 1000, "minibatch": 64, "train_every": 256, "gradient_steps": 128,
           "target_every": 10, "explore": 0.16, "eps_start": 1.0, "eps_end": 0.04, "double": False}
    assert {name: config.method.options[name] for name in zoo} == zoo
    assert (config.gamma, config.clip, config.optimizer.options["lr"], config.schedule.name) == \
        (0.99, 10, 2.3e-3, "constant")


def test_epsilon_falls_linearly_over_the_explored_fraction():
    dqn = _dqn(qnet(method="dqn(explore=0.5, eps_start=1.0, eps_end=0.1)", steps=1000))
    for steps, want in ((0, 1.0), (250, 0.55), (500, 0.1), (900, 0.1)):
        dqn.env_steps = steps
        assert dqn.epsilon() == pytest.approx(want)


def test_a_run_stops_at_the_first_cycle_that_reaches_its_steps():
    # 2 copies x 8 vector steps a cycle: 300 steps take 19 cycles (304 steps), as stable-baselines3's learn(300)
    checked = nngraph.loads(qnet(steps=300), "qnet.nn")
    history = train_agent(prepare(checked).method, checked.trains[0])
    assert [record["steps"] for record in history.records] == [304]


def test_a_resumed_run_is_the_straight_run(tmp_path):
    checked = nngraph.loads(qnet(steps=3000, extra="  checkpoint 1\n"), "qnet.nn")
    config = checked.trains[0]
    straight = nngraph.fit(checked, out=tmp_path / "straight")
    run = make_run_dir(out=tmp_path / "cut", spec_text=checked.spec.source)
    half = type(config)(**{**config.__dict__, "steps": 1000})
    train_agent(prepare(checked).method, half, run, np.random.default_rng(config.seed))
    resumed = prepare(checked).method
    train_agent(resumed, config, run, np.random.default_rng(config.seed), run.checkpoint)
    want = load_trained(checked, None, straight["run_dir"] + "/checkpoint.npz").method
    for name, value in resumed.params.items():
        np.testing.assert_array_equal(value, want.params[name], err_msg=name)
    np.testing.assert_array_equal(resumed.buffer.arrays["obs"], want.buffer.arrays["obs"])
    assert resumed.env_steps == want.env_steps >= 3000


def test_the_target_copies_the_online_network_after_a_gradient_step():
    # copies with no gradient step between them are skipped (nothing moved); one after a step must not be
    dqn = _dqn(qnet(method="dqn(buffer=64, start=0, minibatch=8)"))
    rng = np.random.default_rng(0)
    for _ in range(16):
        dqn.step(rng)
    dqn.sync_target()
    dqn.update(dqn.buffer.sample(8, rng))
    name = next(iter(dqn.program.params))
    assert not np.array_equal(dqn.target.params[name], dqn.program.params[name])
    dqn.sync_target()
    for name, value in dqn.program.params.items():
        np.testing.assert_array_equal(dqn.target.params[name], value)
