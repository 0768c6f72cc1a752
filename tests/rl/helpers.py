"""Agent specs written in tests, and their errors."""

import pytest

import nngraph
from nngraph.errors import NngraphError

AGENT = """\
model agent {
  input  obs[{obs}]
  layer  h[{hidden}] tanh
  output pi[{actions}] {activation}
  output v[1]
  obs -> h -> pi; h -> v
}
train {
  model agent
  env   {env}
  method {method}
  steps {steps}
  optimizer adam(lr={lr})
  seed {seed}
{extra}}
"""

QNET = """\
model qnet {
  input  obs[4]
  layer  h[64] relu
  output q[2]
  obs -> h -> q
}
train {
  model qnet
  env   cartpole(n=2, episodes=3)
  method {method}
  steps {steps}
  optimizer adam(lr=1e-3)
{extra}}
"""


def agent(env="cartpole(n=4, episodes=5)", method="ppo(rollout=16, minibatch=32, epochs=2)", steps=128, obs=4,
          actions=2, activation="softmax", hidden=16, lr=3e-3, seed=0, extra="") -> str:
    return (AGENT.replace("{obs}", str(obs)).replace("{hidden}", str(hidden)).replace("{actions}", str(actions))
            .replace("{activation}", activation).replace("{env}", env).replace("{method}", method)
            .replace("{steps}", str(steps)).replace("{lr}", str(lr)).replace("{seed}", str(seed))
            .replace("{extra}", extra))


def with_log_std_unit(text: str, actions: int = 1) -> str:
    """An agent spec with a third output, `s`, the Gaussian policy's log standard deviation per state."""
    return text.replace("  obs -> h -> pi; h -> v\n", f"  output s[{actions}]\n  obs -> h -> pi; h -> v; h -> s\n")


def qnet(method="dqn(buffer=500, start=64, minibatch=16, train_every=8, target_every=32)", steps=256,
         extra="") -> str:
    return QNET.replace("{method}", method).replace("{steps}", str(steps)).replace("{extra}", extra)


def error_of(text: str) -> NngraphError:
    """The first error `check` reports for the spec `text`."""
    with pytest.raises(NngraphError) as caught:
        nngraph.loads(text, "agent.nn")
    errors = getattr(caught.value, "errors", [caught.value])
    return errors[0]
