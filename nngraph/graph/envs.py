"""The `env` train setting of reinforcement learning: which gymnasium environment, its options, and the
observation and action spaces a model must fit, all known before any step.

`env cartpole(n=8)` names a classic-control environment by its short name (vocabulary.ENVIRONMENTS);
`env gym("Acrobot-v1", n=4)` names any id gymnasium has registered. The spaces are read from one instance
of the environment, made and closed here (gymnasium, the `rl` extra, is imported only for a spec with an
`env`): so `check` refuses an unknown id, a missing extra, or a model that does not fit, with the position.
Without gymnasium the short-named environments' spaces come from a table (CLASSIC_SPACES), so their specs check,
inspect and draw; only training needs the extra.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field

from nngraph.errors import Span, ValidationError, did_you_mean, unimportable
from nngraph.graph.vocabulary import ENV_OPTIONS, ENVIRONMENTS
from nngraph.spec import ast
from nngraph.spec.options import Option, bind
from nngraph.spec.values import call_of

GYM = "gym"  # `env gym("ID", ...)`: any registered id
INSTALL_HINT = 'install the rl extra: pip install "nngraph[rl]" (gymnasium)'


@dataclass(frozen=True)
class EnvSetting:
    """The environment a train block names: its gymnasium id and its options (ENV_OPTIONS, filled in)."""

    id: str
    options: dict
    span: Span | None = None
    spans: dict = field(default_factory=dict, hash=False, compare=False)  # option -> its value's span, as written

    def span_of(self, option: str) -> Span | None:
        return self.spans.get(option, self.span)

    @property
    def copies(self) -> int:
        return self.options["n"]


@dataclass(frozen=True)
class EnvSpace:
    """What an agent sees and does: the observation's shape; `actions` choices for a discrete action space,
    else a Box action of `action_shape` between `low` and `high` (flat tuples)."""

    observation: tuple[int, ...]
    actions: int | None = None
    action_shape: tuple[int, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def discrete(self) -> bool:
        return self.actions is not None

    def describe(self) -> str:
        if self.discrete:
            return f"{self.actions} discrete actions"
        return f"continuous actions of shape {list(self.action_shape)}"


def env_setting(value: ast.Value, extra: tuple = ()) -> EnvSetting:
    """`cartpole(n=8)` or `gym("Acrobot-v1", n=4)` (and `key=value` words after the call) -> EnvSetting."""
    call = call_of(value)
    call = ast.Call(call.name, call.args, call.kwargs + tuple(extra), call.span)
    if call.name == GYM:
        bound = bind(call, {"id": Option("str"), **ENV_OPTIONS}, ("id",), label="env gym")
        if not bound["id"]:
            raise ValidationError('env gym(...) needs an environment id', call.span, 'e.g. gym("Acrobot-v1", n=4)')
        options = {k: v for k, v in bound.values.items() if k != "id"}
        _refuse_module_import(bound["id"], _span_of(bound, "id", call.span))
        return EnvSetting(bound["id"], options, _span_of(bound, "id", call.span), _spans(bound))
    if call.name not in ENVIRONMENTS:
        hint = did_you_mean(call.name, ENVIRONMENTS) or (
            "short names: " + ", ".join(ENVIRONMENTS) + '; any gymnasium id: gym("ID")')
        raise ValidationError(f"unknown environment '{call.name}'", call.span, hint)
    bound = bind(call, ENV_OPTIONS, (), label=f"env {call.name}")
    return EnvSetting(ENVIRONMENTS[call.name], dict(bound.values), call.span, _spans(bound))


def _refuse_module_import(env_id: str, span: Span | None) -> None:
    """gymnasium imports the module of an id written `module:Name-v0` before it looks the name up: a spec's
    `gym("evil:Foo-v0")` ran evil.py from the current folder at `nngraph check` (and `gym("this:X-v0")` printed
    the Zen of Python). A spec names registered environments only; code is never imported on its word."""
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
        raise ValidationError(f"env gym(\"{env_id}\") names module '{module}', which gymnasium would import: a "
                              "spec never makes nngraph import code", span,
                              f"import {module} in your own Python first (it registers the environment), then "
                              f"train with nngraph.fit and the id alone: gym(\"{env_id.split(':', 1)[1]}\")")


def _spans(bound) -> dict:
    return {name: node.span for name, node in bound.nodes.items()}


def _span_of(bound, option: str, default: Span | None) -> Span | None:
    node = bound.nodes.get(option)
    return node.span if node is not None else default


# The short-named environments' spaces as gymnasium makes them (tests/rl/test_env_spaces.py holds them against
# gymnasium): `check`, `inspect` and `viz` of their specs work without the rl extra; training imports gymnasium.
CLASSIC_SPACES = {
    "CartPole-v1": EnvSpace((4,), actions=2),
    "Acrobot-v1": EnvSpace((6,), actions=3),
    "MountainCar-v0": EnvSpace((2,), actions=3),
    "MountainCarContinuous-v0": EnvSpace((2,), None, (1,), (-1.0,), (1.0,)),
    "Pendulum-v1": EnvSpace((3,), None, (1,), (-2.0,), (2.0,)),
}


def env_space(setting: EnvSetting) -> EnvSpace:
    """The spaces of the environment `setting` names; a positioned ValidationError where gymnasium is
    missing, the id unknown, or a space not one an agent here handles (observations: a Box; actions: a
    Discrete or a Box)."""
    return _space(setting.id, setting.span)


@functools.lru_cache(maxsize=32)
def _space(env_id: str, span: Span | None) -> EnvSpace:
    if env_id in CLASSIC_SPACES and importlib.util.find_spec("gymnasium") is None:
        return CLASSIC_SPACES[env_id]
    gym = import_gymnasium(span)
    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        raise ValidationError(f"gymnasium cannot make environment '{env_id}': {e}", span,
                              _id_hint(gym, env_id)) from None
    except ImportError as e:  # an environment family whose own extra is missing (box2d, mujoco)
        raise ValidationError(f"environment '{env_id}' needs a package that is not installed: {e}", span) from None
    try:
        return _spaces_of(gym, env, env_id, span)
    finally:
        env.close()


def import_gymnasium(span: Span | None = None):
    try:
        import gymnasium
    except ImportError as e:
        raise ValidationError(f"reinforcement learning needs gymnasium, {unimportable(e, 'gymnasium')}", span,
                              INSTALL_HINT) from None
    return gymnasium


def _id_hint(gym, env_id: str) -> str | None:
    known = [name for name in gym.registry if "/" not in name]
    return did_you_mean(env_id, known) or "short names: " + ", ".join(ENVIRONMENTS)


def _spaces_of(gym, env, env_id: str, span) -> EnvSpace:
    obs, act = env.observation_space, env.action_space
    if not isinstance(obs, gym.spaces.Box):
        raise ValidationError(f"environment '{env_id}' observes {type(obs).__name__}; an agent here reads a "
                              "Box of numbers", span)
    if isinstance(act, gym.spaces.Discrete):
        return EnvSpace(tuple(obs.shape), actions=int(act.n))
    if isinstance(act, gym.spaces.Box):
        return EnvSpace(tuple(obs.shape), None, tuple(act.shape), tuple(float(v) for v in act.low.reshape(-1)),
                        tuple(float(v) for v in act.high.reshape(-1)))
    raise ValidationError(f"environment '{env_id}' has a {type(act).__name__} action space; supported are "
                          "Discrete and Box", span)
