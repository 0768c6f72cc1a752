"""`check` refuses a reinforcement-learning block that cannot run, before any environment step, at the place
that is wrong: the environment, the extra, the model's fit to the spaces, the settings that do not apply."""

import builtins
import importlib.util

import pytest

import nngraph
from nngraph.graph import envs as graph_envs
from nngraph.graph.vocabulary import ENVIRONMENTS

from .helpers import agent, error_of, qnet, with_log_std_unit


def test_the_agent_specs_check():
    assert nngraph.loads(agent(), "agent.nn").trains[0].env.id == "CartPole-v1"
    config = nngraph.loads(agent(env='gym("Acrobot-v1", n=2)', obs=6, actions=3), "agent.nn").trains[0]
    assert (config.env.id, config.env.copies, config.gamma) == ("Acrobot-v1", 2, 0.99)


def test_an_unknown_short_name_is_refused_with_a_suggestion():
    e = error_of(agent(env="cartpol(n=4)"))
    assert e.message == "unknown environment 'cartpol'" and "'cartpole'" in e.hint
    assert (e.span.line, e.span.column) == (10, 9)


def test_an_unknown_gymnasium_id_is_refused_at_the_id():
    e = error_of(agent(env='gym("CartPol-v1")'))
    assert "cannot make environment 'CartPol-v1'" in e.message and "'CartPole-v1'" in e.hint
    assert (e.span.line, e.span.column) == (10, 13)


def test_an_unknown_env_option_is_refused():
    e = error_of(agent(env="cartpole(copies=4)"))
    assert "has no option 'copies'" in e.message and e.span.line == 10


def _without_gymnasium(monkeypatch):
    """As if the rl extra were not installed: gymnasium neither found nor importable."""
    real_import, real_find = builtins.__import__, importlib.util.find_spec

    def no_gymnasium(name, *args, **kwargs):
        if name == "gymnasium":
            raise ModuleNotFoundError("No module named 'gymnasium'", name="gymnasium")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gymnasium)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gymnasium" else
                        real_find(name, *a))


@pytest.fixture
def fresh_spaces():
    graph_envs._space.cache_clear()
    yield
    graph_envs._space.cache_clear()


def test_a_missing_gymnasium_is_refused_with_the_extra_to_install(monkeypatch, fresh_spaces):
    _without_gymnasium(monkeypatch)
    e = error_of(agent(env='gym("CartPole-v0")'))  # an id the table of short names does not hold
    assert e.message == "reinforcement learning needs gymnasium, which is not installed"
    assert "nngraph[rl]" in e.hint and e.span.line == 10


def test_without_gymnasium_the_short_named_environments_still_check(monkeypatch, fresh_spaces):
    _without_gymnasium(monkeypatch)
    checked = nngraph.loads(agent(), "agent.nn")
    assert checked.trains[0].env.id == "CartPole-v1"
    e = error_of(agent(obs=3))  # the model's fit to the spaces is still checked
    assert "observes [4]" in e.message


@pytest.mark.parametrize("env_id", sorted(graph_envs.CLASSIC_SPACES))
def test_the_table_of_spaces_is_gymnasiums(env_id, fresh_spaces):
    assert graph_envs._space(env_id, None) == graph_envs.CLASSIC_SPACES[env_id]  # gymnasium is installed here
    assert env_id in ENVIRONMENTS.values()


def test_an_input_that_does_not_fit_the_observation_is_refused():
    e = error_of(agent(obs=3))
    assert "observes [4]" in e.message and "obs[3]" in e.message and e.span.line == 2


def test_a_policy_that_does_not_fit_discrete_actions_is_refused():
    e = error_of(agent(actions=3))
    assert "2 discrete actions" in e.message and "[2] softmax" in e.message and e.span.line == 4
    e = error_of(agent(activation="tanh"))
    assert "must be action probabilities" in e.message


def test_a_policy_that_does_not_fit_continuous_actions_is_refused():
    e = error_of(agent(env="pendulum", obs=3, actions=1))  # a softmax is no mean
    assert "continuous actions of shape [1]" in e.message and "[1] identity" in e.message
    assert nngraph.loads(agent(env="pendulum", obs=3, actions=1, activation=""), "agent.nn")


def test_a_critic_of_more_than_one_unit_is_refused():
    text = agent().replace("output v[1]", "output v[2]")
    assert "critic 'v' must be one identity unit" in error_of(text).message


def test_dqn_needs_discrete_actions_and_one_q_value_per_action():
    e = error_of(qnet().replace("env   cartpole(n=2, episodes=3)", "env pendulum").replace("obs[4]", "obs[3]"))
    assert "dqn chooses among discrete actions" in e.message
    e = error_of(qnet().replace("q[2]", "q[3]"))
    assert "2 identity units" in e.message and e.span.line == 4


@pytest.mark.parametrize("setting", ["epochs 3", "batch 32", "data xor", "validation 0.2"])
def test_data_settings_do_not_apply_to_an_agent(setting):
    e = error_of(agent(extra=f"  {setting}\n"))
    assert e.message == f"'{setting.split()[0]}' does not apply to reinforcement learning" and e.span.line == 15


def test_a_refused_step_count_is_reported_once():
    with pytest.raises(nngraph.errors.ErrorList) as caught:
        nngraph.loads(agent(steps="2.5e4 + 0.5"), "agent.nn")
    assert [e.message for e in caught.value.errors] == ["steps: expected a whole number, got 25000.5"]


def test_a_whole_number_may_be_written_with_an_exponent_as_options_take_it():
    """`steps 1e5` (how RL step counts are written) is 100,000, as `cartpole(n=1e1)` is 10: train settings had
    refused what every option accepted."""
    assert nngraph.loads(agent(steps="1e5"), "agent.nn").train().steps == 100_000


def test_steps_are_required_and_gamma_is_a_discount():
    assert "needs a number of environment steps" in error_of(agent().replace("  steps 128\n", "")).message
    assert "gamma: 1.5 is out of range" in error_of(agent(extra="  gamma 1.5\n")).message


def test_a_data_method_refuses_an_environment():
    text = agent(method="backprop", extra="  loss mse(v)\n")
    assert "method backprop learns from data, not from an environment" in error_of(text).message


def test_policy_and_critic_may_be_named_and_must_be_outputs():
    swapped = agent(method="ppo(policy=pi, critic=v)").replace("  output pi[2] softmax\n  output v[1]\n",
                                                                "  output v[1]\n  output pi[2] softmax\n")
    assert nngraph.loads(swapped, "agent.nn")
    e = error_of(agent(method="ppo(policy=h)"))
    assert "policy=h: model 'agent' has no output unit 'h'" in e.message and e.span.line == 11


PENDULUM = dict(env="pendulum(n=2)", obs=3, actions=1, activation="")


def test_a_log_std_unit_is_an_identity_output_of_the_actions_shape():
    assert nngraph.loads(with_log_std_unit(agent(method="ppo(log_std_unit=s)", **PENDULUM)), "agent.nn")
    e = error_of(with_log_std_unit(agent(method="ppo(log_std_unit=s)", **PENDULUM), actions=2))
    assert "the log standard deviation 's' must be an identity or tanh unit of the action's shape [1], not [2]" in e.message
    assert e.span.line == 6
    e = error_of(with_log_std_unit(agent(method="ppo(log_std_unit=v)", **PENDULUM)))
    assert "log_std_unit=v names the critic" in e.message and e.span.line == 12
    e = error_of(with_log_std_unit(agent(method="a2c(log_std_unit=s)"), actions=2))
    assert "a log standard deviation is for continuous actions" in e.message


def test_without_gymnasium_training_is_refused_at_the_env_setting(monkeypatch, fresh_spaces, tmp_path):
    from tests.cli.helpers import run_cli

    spec = tmp_path / "agent.nn"
    spec.write_text(agent())
    _without_gymnasium(monkeypatch)
    result = run_cli("train", spec, "--out", tmp_path / "run")
    assert result.code == 1 and "Traceback" not in result.both
    assert f"{spec}:10:9: error: reinforcement learning needs gymnasium, which is not installed" in result.err
    assert not (tmp_path / "run").exists()


def test_a_noise_input_in_an_agent_s_network_is_refused_at_the_unit():
    text = agent().replace("  input  obs[4]\n", "  input  obs[4]\n  noise  nz[2] normal\n").replace(
        "obs -> h -> pi;", "obs -> h -> pi; nz -> h;")
    e = error_of(text)
    assert e.message == "unit 'nz' of model 'agent' is random; an agent's network is deterministic (it may have " \
                        "dropout, which acts only in its updates)"
    assert (e.span.line, e.span.column) == (3, 3)
