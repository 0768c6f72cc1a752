"""Section 16's losses on a random minibatch of a rollout: `ppo` (the clipped surrogate, the advantages
normalised per minibatch by their sample standard deviation, the value loss optionally clipped around the
rollout's values), `a2c` and `reinforce` (-log pi(a|s) A, the advantages as they are), each with the
`value` and `entropy` weights, on a discrete policy (a softmax over the actions) or a continuous one (a diagonal
Gaussian around the mean output, its log standard deviation a learned parameter per action dimension or, with
`log_std_unit`, a unit); and `dqn`'s step on a minibatch of transitions (the target r + gamma (1 - done)
Q_target(s', a'), a' the online network's argmax with `double` and the target's own otherwise, the Huber loss's
mean). The twin computes the documented formulas from the network's values (stable-baselines3's
conventions where the docs name them) and torch's autograd; compared: every reported figure (pg_loss,
value_loss, entropy, loss; ppo's approx_kl and clip_fraction; dqn's loss and q) and every parameter's
gradient."""

from __future__ import annotations

import math

import numpy as np
import torch

from .compare import Worst, rel_diff
from .net import Net, call
from .stepping import method_for, metric_difference, torch_copies
from .torch_twin import twin_forward, twin_logits

ENVS = {"cartpole": (4, 2, True), "acrobot": (6, 3, True), "pendulum": (3, 1, False),
        "mountaincar_continuous": (2, 1, False)}  # short name: observation size, actions, discrete
HIDDEN = ("tanh", "relu", "sigmoid", "elu")


def random_agent(rng):
    """A random actor-critic (actor a -> pi, critic c -> v) for a random environment, and a policy-gradient
    method: (the environment, (observation size, actions, discrete), the Net, the method)."""
    env = list(ENVS)[rng.integers(len(ENVS))]
    size, actions, discrete = ENVS[env]
    net = Net()
    net.unit("obs", "input", (size,))
    for name in ("a", "c"):
        net.unit(name, "layer", (int(rng.integers(1, 5)),), HIDDEN[rng.integers(len(HIDDEN))])
    net.unit("pi", "output", (actions,), "softmax" if discrete else "identity")
    net.unit("v", "output", (1,), "identity")
    return env, (size, actions, discrete), net, ["ppo", "a2c", "reinforce"][rng.integers(3)]


def random_spread(rng, net, actions: int, discrete: bool, options: dict) -> bool:
    """A continuous policy's spread: a log standard deviation unit `s` (True), or a random `log_std` start."""
    std_unit = not discrete and rng.random() < 0.4
    if std_unit:
        net.unit("s", "output", (actions,), "identity")
        options["log_std_unit"] = "s"
    elif not discrete:
        options["log_std"] = round(float(rng.uniform(-1, 0.5)), 3)
    return std_unit


def rl_case(rng):
    """(the spec's text, its Net, the case's facts, the constructs used)."""
    env, (size, actions, discrete), net, method = random_agent(rng)
    options = {"value": round(float(rng.uniform(0.1, 1.0)), 3), "entropy": round(float(rng.uniform(0, 0.1)), 3)}
    std_unit = random_spread(rng, net, actions, discrete, options)
    if method == "ppo":
        options["clip"] = round(float(rng.uniform(0.05, 0.3)), 3)
        if rng.random() < 0.5:
            options["value_clip"] = round(float(rng.uniform(0.05, 0.5)), 3)
    for src, dst in (("obs", "a"), ("a", "pi"), ("obs", "c"), ("c", "v"), *((("a", "s"),) if std_unit else ())):
        net.link(src, dst)
    text = "\n".join(net.model_lines("m") + [
        "train {", "  model m", f"  env {env}", f"  method {call(method, options)}", "  gamma 0.99",
        "  steps 1000", "  optimizer sgd(lr=0.1)", "}"]) + "\n"
    used = {method, "discrete policy" if discrete else "gaussian policy, " + (
        "log_std unit" if std_unit else "log_std parameter")}
    if "value_clip" in options:
        used.add("ppo value_clip")
    return text, net, dict(method=method, discrete=discrete, actions=actions, size=size, **options), used


def compare_rl_steps(rng):
    """One case: (constructs, ((worst relative difference, where), spec))."""
    if rng.random() < 0.25:
        return compare_dqn_step(rng)
    text, net, case, used = rl_case(rng)
    config, method = method_for(text)
    rows = int(rng.integers(1, 9))
    obs = rng.standard_normal((rows, case["size"]))
    P = torch_copies({**method.params})
    actions = rng.integers(0, case["actions"], rows) if case["discrete"] else near_the_policy(net, P, obs, case, rng)
    logp, entropy, value = twin_policy(net, P, obs, actions, case)
    mb = {"obs": obs, "actions": actions, "logp": logp.detach().numpy() + 0.3 * rng.standard_normal(rows),
          "advantages": rng.standard_normal(rows), "returns": rng.standard_normal(rows),
          "values": value.detach().numpy() + 0.3 * rng.standard_normal(rows)}
    ours, grads = method.loss_and_grads(mb)
    theirs, loss = twin_loss(logp, entropy, value, mb, case)
    loss.backward()
    return used, (differences(method, ours, theirs, grads, P), text)


def differences(method, ours: dict, theirs: dict, grads: dict, P: dict) -> tuple[float, str]:
    """The worst relative difference of the figures and of every parameter's gradient, and where."""
    worst = Worst()
    worst.note(*metric_difference(ours, theirs))
    for name, p in P.items():
        got = grads.get(name)
        want = p.grad if p.grad is not None else torch.zeros_like(p)
        worst.note(math.inf if got is None else rel_diff(method.backend.to_numpy(got), want), f"gradient {name}")
    return worst.value


def random_q_net(rng):
    """A random Q network (obs -> h -> q) for cartpole or acrobot: (the environment, (observation size,
    actions), the Net)."""
    env = ["cartpole", "acrobot"][rng.integers(2)]
    size, actions, _ = ENVS[env]
    net = Net()
    net.unit("obs", "input", (size,))
    net.unit("h", "layer", (int(rng.integers(1, 5)),), HIDDEN[rng.integers(len(HIDDEN))])
    net.unit("q", "output", (actions,), "identity")
    net.link("obs", "h")
    net.link("h", "q")
    return env, (size, actions), net


def compare_dqn_step(rng):
    """dqn's loss and gradients on random transitions, the target network's parameters moved off the online
    network's (so that which network chooses a' matters)."""
    env, (size, actions), net = random_q_net(rng)
    double, gamma = bool(rng.random() < 0.5), round(float(rng.uniform(0.5, 0.99)), 3)
    text = "\n".join(net.model_lines("m") + [
        "train {", "  model m", f"  env {env}", f"  method dqn(double={str(double).lower()})", f"  gamma {gamma}",
        "  steps 1000", "  optimizer adam(lr=1e-3)", "}"]) + "\n"
    _, method = method_for(text)
    for value in method.target.params.values():
        value += 0.5 * rng.standard_normal(value.shape)
    rows = int(rng.integers(1, 9))
    batch = {"obs": rng.standard_normal((rows, size)), "next_obs": rng.standard_normal((rows, size)),
             "actions": rng.integers(0, actions, rows), "rewards": 2 * rng.standard_normal(rows),
             "dones": (rng.random(rows) < 0.3).astype(float)}
    P = torch_copies(method.program.params)
    target = torch_copies(method.target.params)
    ours, grads = method.loss_and_grads(batch)
    def q_of(params, obs):
        return twin_forward(net, params, {}, {"obs": obs}, True, [], [])["q"]

    with torch.no_grad():
        chosen = q_of(P if double else target, batch["next_obs"]).argmax(dim=1)
        next_q = q_of(target, batch["next_obs"])[torch.arange(rows), chosen]
        goal = torch.tensor(batch["rewards"]) + gamma * (1 - torch.tensor(batch["dones"])) * next_q
    taken = q_of(P, batch["obs"])[torch.arange(rows), torch.tensor(batch["actions"])]
    loss = torch.nn.functional.smooth_l1_loss(taken, goal, beta=1.0)
    loss.backward()
    theirs = {"loss": float(loss.detach()), "q": float(taken.detach().mean())}
    used = {"dqn, double" if double else "dqn, max over the target"}
    return used, (differences(method, ours, theirs, grads, P), text)


def near_the_policy(net, P, obs, case, rng):
    """Continuous actions within a few standard deviations of the mean (mean + exp(log_std) 3 N(0, 1)): an action
    1e4 deviations away has log pi of -5e7, whose difference with the rollout's log pi (approx_kl's log ratio)
    loses 8 digits to rounding in any implementation (seed 7 found one at 1.7e-8)."""
    with torch.no_grad():
        vals = twin_forward(net, P, {}, {"obs": obs}, True, [], [])
        log_std = vals["s"] if "log_std_unit" in case else P["log_std"].expand_as(vals["pi"])
        return (vals["pi"] + log_std.exp() * 3 * torch.tensor(rng.standard_normal(vals["pi"].shape))).numpy()


def twin_policy(net, P, obs, actions, case):
    """(log pi(a|s), the policy's entropy, V(s)) per row, by section 16's definitions."""
    inputs = {"obs": obs}
    vals = twin_forward(net, P, {}, inputs, True, [], [])
    value = vals["v"][:, 0]
    if case["discrete"]:
        logits = twin_logits(net, vals, P, {}, inputs, True, [], [], "pi")
        logs = torch.log_softmax(logits, dim=1)
        return logs[torch.arange(len(obs)), torch.tensor(actions)], -(logs.exp() * logs).sum(dim=1), value
    mean = vals["pi"]
    log_std = vals["s"] if "log_std_unit" in case else P["log_std"].expand_as(mean)
    scaled = (torch.tensor(actions) - mean) / log_std.exp()
    logp = (-0.5 * scaled ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=1)
    return logp, (log_std + 0.5 * (1 + math.log(2 * math.pi))).sum(dim=1), value


def twin_loss(logp, entropy, value, mb, case):
    """(the figures section 16 reports, the loss the step descends)."""
    advantages, returns, old = (torch.tensor(mb[k]) for k in ("advantages", "returns", "values"))
    figures = {}
    if case["method"] == "ppo":
        if len(advantages) > 1:  # stable-baselines3: torch's std, the sample one
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        log_ratio = logp - torch.tensor(mb["logp"])
        ratio = log_ratio.exp()
        seen, seen_log = ratio.detach(), log_ratio.detach()
        low, high = 1 - case["clip"], 1 + case["clip"]
        pg = -torch.minimum(ratio * advantages, ratio.clamp(low, high) * advantages).mean()
        figures.update(approx_kl=float(((seen - 1) - seen_log).mean()),
                       clip_fraction=float(((seen - 1).abs() > case["clip"]).double().mean()))
    else:
        pg = -(advantages * logp).mean()
    if case.get("value_clip") is not None:
        value = old + (value - old).clamp(-case["value_clip"], case["value_clip"])
    value_loss = ((value - returns) ** 2).mean()
    loss = pg + case["value"] * value_loss - case["entropy"] * entropy.mean()
    figures.update(pg_loss=float(pg.detach()), value_loss=float(value_loss.detach()),
                   entropy=float(entropy.detach().mean()), loss=float(loss.detach()))
    return figures, loss
