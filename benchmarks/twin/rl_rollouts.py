"""Section 16's rollouts, whole: one or two updates (`iterate`, as the loop runs it) of `ppo`, `a2c`,
`reinforce` and `dqn` on a scripted gymnasium vector environment under nngraph's own `Environments`
(observations, rewards, terminations and time limits drawn by the script and handed to both; with and without
`normalize_obs`, `normalize_reward`, `clip_obs`, which the twin computes as stable-baselines3's VecNormalize),
the run's draws recorded and handed to the twin in the documented order.

The twin follows section 16: actions drawn from the policy (a discrete one by inverse transform of one uniform
number per copy, a Gaussian one as mean + exp(log_std) eps), a time limit bootstrapped from the value of the
last observation, GAE advantages written as their sum (the lambda-discounted TD errors to the episode's end, the
value after the rollout bootstrapping the episodes still running), returns = advantages + values, the rollout's
rows step-major; ppo's epochs over handed permutations in minibatches, a2c's one step, reinforce's steps of the
episodes that ended inside the rollout with their discounted returns; dqn's uniform random actions before
`start`, its linear epsilon, its ring buffer and the slots drawn from it, the target network's copies every
`target_every // n` vector steps, gradient steps after each `train_every` cycle once more than `start` steps
were made. Compared: the rollout's arrays, the actions the environment was given (continuous ones clipped into
the Box), the record's metrics, the episodes' figures and every parameter after the update."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from .compare import Worst, rel_diff
from .net import call
from .rl_steps import random_agent, random_q_net, random_spread, twin_loss, twin_policy
from .stepping import Handed, method_for, metric_difference, torch_copies
from .torch_twin import Draws, torch_optimizer, twin_forward, twin_logits, twin_update

ROLLOUT_KEYS = ("obs", "actions", "logp", "values", "advantages", "returns")


class ScriptedVector:
    """The gymnasium vector environment under nngraph's `Environments` (data/envs.py), scripted: observations
    N(shift, scale^2), rewards N(1, 2^2), terminations and time limits at random (both at once too), and
    gymnasium's same-step autoreset (a copy that ended returns its next episode's first observation, the ended
    one's last in `info["final_obs"]`). What each step was given and returned is kept for the twin."""

    def __init__(self, real, rng):
        self.real, self.rng, self.num_envs = real, rng, real.num_envs
        self.single_action_space = real.single_action_space
        self.single_observation_space = real.single_observation_space
        self.envs = real.envs
        self.size = self.single_observation_space.shape[0]
        self.shift, self.scale = float(rng.uniform(-3, 3)), float(rng.uniform(0.5, 3))
        self.end, self.cut = float(rng.uniform(0, 0.4)), float(rng.uniform(0, 0.4))
        self.steps: list[tuple] = []

    def observations(self):
        return self.shift + self.scale * self.rng.standard_normal((self.num_envs, self.size))

    def reset(self, seed=None):
        self.start = self.observations()
        return self.start.copy(), {}

    def step(self, actions):
        rng, n = self.rng, self.num_envs
        terminated, truncated = rng.random(n) < self.end, rng.random(n) < self.cut
        next_obs, rewards = self.observations(), 1 + 2 * rng.standard_normal(n)
        final = np.where((terminated | truncated)[:, None], self.observations(), next_obs)
        self.steps.append((np.array(actions), next_obs, rewards, terminated, truncated, final))
        return next_obs.copy(), rewards.copy(), terminated.copy(), truncated.copy(), {"final_obs": final.copy()}

    def close(self):
        self.real.close()


@contextlib.contextmanager
def scripted_environments(rng, made: list):
    """gymnasium's `make_vec` wrapping what it makes in a ScriptedVector (appended to `made`) while the block
    runs."""
    import gymnasium

    real = gymnasium.make_vec

    def scripted(*args, **kwargs):
        made.append(ScriptedVector(real(*args, **kwargs), rng))
        return made[-1]

    gymnasium.make_vec = scripted
    try:
        yield made
    finally:
        gymnasium.make_vec = real


class RunningMoments:
    """stable-baselines3's RunningMeanStd: mean 0, variance 1 and count 1e-4 to begin, Chan et al.'s update."""

    def __init__(self, shape=()):
        self.mean, self.var, self.count = np.zeros(shape), np.ones(shape), 1e-4

    def update(self, batch):
        mean, var, n = batch.mean(axis=0), batch.var(axis=0), len(batch)
        delta, total = mean - self.mean, self.count + n
        self.var = (self.var * self.count + var * n + delta ** 2 * self.count * n / total) / total
        self.mean, self.count = self.mean + delta * n / total, total


class AgentView:
    """What the agent sees of the scripted steps, by section 16: stable-baselines3's VecNormalize (observations
    by their running moments, updated at the reset and at every step with the new observations, clipped to
    +-clip_obs; rewards over the running deviation of the discounted return, clipped to +-10; a copy's return
    restarted after its episode ended; 1e-8 under each square root), the ended episode's last observation
    normalised as the step's; and each episode's raw return and length."""

    def __init__(self, options, gamma, vector):
        self.options, self.gamma = options, gamma
        self.obs_rms = RunningMoments((vector.size,)) if options.get("normalize_obs") else None
        self.ret_rms = RunningMoments() if options.get("normalize_reward") else None
        self.returns = np.zeros(vector.num_envs)
        self.episode = np.zeros((vector.num_envs, 2))
        self.ended: list[tuple[float, int]] = []
        if self.obs_rms:
            self.obs_rms.update(vector.start)
        self.first = self.observe(vector.start)

    def observe(self, raw):
        if self.obs_rms is None:
            return raw
        clip = self.options.get("clip_obs", 10.0)
        return np.clip((raw - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -clip, clip)

    def step(self, given, raw, rewards, terminated, truncated, final):
        done = terminated | truncated
        self.episode += np.stack([rewards, np.ones_like(rewards)], axis=1)
        for c in np.flatnonzero(done):
            self.ended.append((float(self.episode[c, 0]), int(self.episode[c, 1])))
        self.episode[done] = 0
        if self.obs_rms:
            self.obs_rms.update(raw)
        scaled = rewards
        if self.ret_rms:
            self.returns = self.returns * self.gamma + rewards
            self.ret_rms.update(self.returns)
            scaled = np.clip(rewards / np.sqrt(self.ret_rms.var + 1e-8), -10, 10)
        self.returns[done] = 0
        return given, self.observe(raw), scaled, terminated, truncated, self.observe(final)

    def episode_metrics(self) -> dict:
        recent = np.asarray(self.ended[-100:], float).reshape(-1, 2)
        figures = {"episodes": len(self.ended)}
        if len(recent):
            figures.update({"return": float(recent[:, 0].mean()), "length": float(recent[:, 1].mean())})
        return figures


def env_options(rng) -> dict:
    options = {"n": int(rng.integers(1, 4))}
    if rng.random() < 0.5:
        options["normalize_obs"] = True
        if rng.random() < 0.5:
            options["clip_obs"] = round(float(rng.uniform(0.5, 3)), 2)
    if rng.random() < 0.5:
        options["normalize_reward"] = True
    return options


def env_constructs(options) -> set:
    return {*(("normalize_obs",) if options.get("normalize_obs") else ()),
            *(("normalize_reward",) if options.get("normalize_reward") else ()),
            *(("clip_obs",) if "clip_obs" in options else ())}


def optimizer_line(rng) -> tuple[str, list[str]]:
    """A random optimizer and maybe a gradient clip: (its call, the train block's extra lines)."""
    if rng.random() < 0.5:
        choice = f"sgd(lr={round(float(rng.uniform(0.01, 0.2)), 3)}, momentum={round(float(rng.uniform(0, 0.9)), 2)})"
    else:
        choice = f"adam(lr={round(float(rng.uniform(1e-3, 0.05)), 4)})"
    return choice, ([f"  clip {round(float(rng.uniform(0.1, 2)), 2)}"] if rng.random() < 0.4 else [])


def compare_rl_rollouts(rng):
    """One case: (constructs, ((worst relative difference, where), spec))."""
    return dqn_case(rng) if rng.random() < 0.4 else policy_case(rng)


# ---- ppo, a2c, reinforce ----------------------------------------------------------------------------------------

def policy_case(rng):
    env, (size, actions, discrete), net, method = random_agent(rng)
    copies, rollout = 3, int(rng.integers(1, 9))  # copies at most: the minibatch's bound
    gamma = round(float(rng.uniform(0.5, 0.99)), 3)
    options = {"rollout": rollout, "value": round(float(rng.uniform(0.1, 1.0)), 3),
               "entropy": round(float(rng.uniform(0, 0.1)), 3)}
    std_unit = random_spread(rng, net, actions, discrete, options)
    if method != "reinforce":
        options["gae"] = round(float(rng.uniform(0.5, 1.0)), 3)
    if method == "ppo":
        options.update(minibatch=int(rng.integers(1, 2 * rollout * copies + 1)), epochs=int(rng.integers(1, 4)),
                       clip=round(float(rng.uniform(0.05, 0.3)), 3))
        if rng.random() < 0.5:
            options["value_clip"] = round(float(rng.uniform(0.05, 0.5)), 3)
    for src, dst in (("obs", "a"), ("a", "pi"), ("obs", "c"), ("c", "v"), *((("a", "s"),) if std_unit else ())):
        net.link(src, dst)
    choice, extra = optimizer_line(rng)
    eopts = env_options(rng)
    copies = eopts["n"]
    text = "\n".join(net.model_lines("m") + [
        "train {", "  model m", f"  env {call(env, eopts)}", f"  method {call(method, options)}", f"  gamma {gamma}",
        "  steps 1000", f"  optimizer {choice}", *extra, "}"]) + "\n"
    with scripted_environments(rng, []) as made:
        config, agent = method_for(text)
    vector = made[0]
    view = AgentView(eopts, gamma, vector)
    obs = view.first
    P = torch_copies(agent.params)
    topt = torch_optimizer_of(config, P)
    case = {"method": method, "discrete": discrete, "actions": actions, "size": size, "gamma": gamma,
            "clip": None, "value_clip": None, **options}
    worst = Worst()
    kept = keep_rollouts(agent)
    updates = int(rng.integers(1, 3))
    space = vector.single_action_space
    for update in range(updates):
        draws = Draws(np.random.default_rng(int(rng.integers(1 << 30))))
        start = len(vector.steps)
        ours = agent.iterate(draws)
        handed = Handed(draws)
        seen = [view.step(*step) for step in vector.steps[start:]]
        theirs_rollout, obs, taken = twin_rollout(net, P, case, obs, seen, handed)
        for t, (given, *_) in enumerate(seen):  # what the environment was given: continuous actions clipped
            want = taken[t].numpy() if discrete else np.clip(taken[t].numpy(), space.low, space.high)
            worst.note(rel_diff(given, want), f"actions given to the environment at step {t + 1}")
        for key in ROLLOUT_KEYS:
            worst.note(rel_diff(kept[-1][key], theirs_rollout[key].detach()), f"rollout {key}, update {update + 1}")
        theirs = twin_updates(net, P, topt, config, case, theirs_rollout, handed)
        worst.note(*metric_difference(ours, theirs))
        if set(ours) != set(theirs):
            worst.note(math.inf, f"metrics {sorted(ours)} against {sorted(theirs)}")
        for name, p in P.items():
            worst.note(rel_diff(agent.backend.to_numpy(agent.params[name]), p.detach()),
                       f"parameter {name} after update {update + 1}")
    worst.note(*metric_difference(agent.episode_metrics(), view.episode_metrics()))
    cut = any(s[4].any() for s in vector.steps)
    used = {f"{method} rollout", f"{method} rollout, " + ("discrete" if discrete else "gaussian"),
            *(("time limit bootstrapped",) if cut else ()), *env_constructs(eopts)}
    return used, (worst.value, text)


def torch_optimizer_of(config, P):
    return torch_optimizer(config, P)[0]


def keep_rollouts(agent) -> list[dict]:
    """Every rollout `collect` returns, as the update reads it."""
    kept, collect = [], agent.collect

    def keeping(rng):
        rollout = collect(rng)
        kept.append({k: np.array(v) for k, v in rollout.items()})
        return rollout

    agent.collect = keeping
    return kept


def policy_and_value(net, P, obs, case):
    """(the policy unit's output, the log std per row or None, V) of observations, by the twin's network."""
    inputs = {"obs": obs}
    vals = twin_forward(net, P, {}, inputs, False, [], [])
    if case["discrete"]:
        logits = twin_logits(net, vals, P, {}, inputs, False, [], [], "pi")
        return torch.log_softmax(logits, dim=1), None, vals["v"][:, 0]
    log_std = vals["s"] if "log_std_unit" in case else P["log_std"].expand_as(vals["pi"])
    return vals["pi"], log_std, vals["v"][:, 0]


def draw_actions(out, log_std, case, handed):
    """Section 16's draws: a discrete action by inverse transform of one uniform number u per copy (the first
    action whose cumulative probability exceeds u); a continuous one as mean + exp(log_std) eps, eps ~ N(0, 1)."""
    if case["discrete"]:
        u = handed.take("random", (len(out), 1))
        cumulative = out.exp().cumsum(dim=1)
        return torch.clamp(torch.searchsorted(cumulative, u, right=True)[:, 0], max=out.shape[1] - 1)
    return out + log_std.exp() * handed.take("normal", out.shape)


def twin_rollout(net, P, case, obs, steps, handed):
    """The rollout section 16 collects from `obs` through `steps` as the agent sees them: (its arrays
    step-major, the observations after it, each step's actions)."""
    gamma, lam = case["gamma"], case.get("gae", 1.0)
    rows = {k: [] for k in ("obs", "actions", "logp", "values", "rewards", "dones")}
    taken = []
    with torch.no_grad():
        for action_given, next_obs, rewards, terminated, truncated, last in steps:
            out, log_std, value = policy_and_value(net, P, obs, case)
            action = draw_actions(out, log_std, case, handed)
            taken.append(action)
            logp, _, _ = twin_policy(net, P, obs, action.numpy(), case)
            reward = torch.tensor(rewards)
            cut = torch.tensor(truncated & ~terminated)
            reward = reward + cut * gamma * policy_and_value(net, P, last, case)[2]
            for k, v in (("obs", torch.tensor(obs)), ("actions", action), ("logp", logp), ("values", value),
                         ("rewards", reward), ("dones", torch.tensor(terminated | truncated).double())):
                rows[k].append(v)
            obs = next_obs
        after = policy_and_value(net, P, obs, case)[2]
    arrays = {k: torch.stack(v) for k, v in rows.items()}  # (steps, copies, ...)
    advantages = gae_sums(arrays["rewards"], arrays["values"], arrays["dones"], after, gamma, lam)
    arrays.update(advantages=advantages, returns=advantages + arrays["values"])
    keep = episodes_that_ended(arrays["dones"]) if case["method"] == "reinforce" else torch.ones_like(
        arrays["dones"], dtype=torch.bool)
    return {k: arrays[k][keep] for k in ROLLOUT_KEYS}, obs, taken  # a mask over (steps, copies): rows step-major


def gae_sums(rewards, values, dones, after, gamma, lam):
    """A_t = sum over l of (gamma lam)^l delta_{t+l} to the end of the episode or the rollout, delta_t = r_t +
    gamma V(s_{t+1}) (1 - done_t) - V(s_t), V after the last step the value of the observations then."""
    steps = len(rewards)
    following = torch.cat([values[1:], after[None]])
    delta = rewards + gamma * following * (1 - dones) - values
    advantages = torch.zeros_like(rewards)
    for t in range(steps):
        weight = torch.ones_like(rewards[0])
        for s in range(t, steps):
            advantages[t] += weight * delta[s]
            weight = weight * gamma * lam * (1 - dones[s])
    return advantages


def episodes_that_ended(dones):
    """reinforce's rows, a mask over (steps, copies): each copy's steps up to its last episode end inside the
    rollout."""
    keep = torch.zeros_like(dones, dtype=torch.bool)
    for c in range(dones.shape[1]):
        ends = torch.nonzero(dones[:, c]).flatten()
        if len(ends):
            keep[: int(ends[-1]) + 1, c] = True
    return keep


def twin_updates(net, P, topt, config, case, rollout, handed):
    """ppo's epochs of minibatches (each epoch's order a handed permutation), a2c's and reinforce's one step on
    the whole rollout in its order; the record's figures: each step's, averaged weighted by its rows."""
    size = len(rollout["actions"])
    if case["method"] == "reinforce" and size == 0:
        return {}
    ppo = case["method"] == "ppo"
    batch = case["minibatch"] if ppo else size
    sums, total = {}, 0
    for _ in range(case.get("epochs", 1) if ppo else 1):
        order = handed.take("permutation", (size,)) if ppo else torch.arange(size)
        for start in range(0, size, batch):
            rows = order[start:start + batch]
            mb = {k: rollout[k][rows].detach().numpy() for k in ROLLOUT_KEYS}
            topt.zero_grad()
            logp, entropy, value = twin_policy(net, P, mb["obs"], mb["actions"], case)
            figures, loss = twin_loss(logp, entropy, value, mb, case)
            twin_update(config, P, topt, loss)
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v * len(rows)
            total += len(rows)
    return {k: v / total for k, v in sums.items()}


# ---- dqn --------------------------------------------------------------------------------------------------------

def dqn_case(rng):
    env, _, net = random_q_net(rng)
    steps = int(rng.integers(8, 60))
    eps_start = round(float(rng.uniform(0.5, 1.0)), 3)
    options = {"buffer": int(rng.integers(3, 40)), "start": int(rng.integers(0, 20)),
               "minibatch": int(rng.integers(1, 9)), "train_every": int(rng.integers(1, 5)),
               "gradient_steps": int(rng.integers(1, 3)), "target_every": int(rng.integers(1, 15)),
               "explore": round(float(rng.uniform(0.1, 1.0)), 3), "eps_start": eps_start,
               "eps_end": round(float(rng.uniform(0.0, eps_start)), 3), "double": bool(rng.random() < 0.5)}
    gamma = round(float(rng.uniform(0.5, 0.99)), 3)
    choice, extra = optimizer_line(rng)
    eopts = env_options(rng)
    copies = eopts["n"]
    text = "\n".join(net.model_lines("m") + [
        "train {", "  model m", f"  env {call(env, eopts)}", f"  method {call('dqn', options)}", f"  gamma {gamma}",
        f"  steps {steps}", f"  optimizer {choice}", *extra, "}"]) + "\n"
    with scripted_environments(rng, []) as made:
        config, agent = method_for(text)
    vector = made[0]
    view = AgentView(eopts, gamma, vector)
    P = torch_copies(agent.program.params)
    topt = torch_optimizer_of(config, P)
    draws = Draws(np.random.default_rng(int(rng.integers(1 << 30))))
    ours = agent.iterate(draws)
    twin = DqnTwin(net, P, options, gamma, steps, copies)
    seen = [view.step(*step) for step in vector.steps]
    theirs = twin.iterate(view.first, seen, Handed(draws), config, topt)
    worst = Worst()
    worst.note(*metric_difference(ours, theirs))
    if set(ours) != set(theirs):
        worst.note(math.inf, f"metrics {sorted(ours)} against {sorted(theirs)}")
    for name, p in P.items():
        worst.note(rel_diff(agent.backend.to_numpy(agent.program.params[name]), p.detach()), f"parameter {name}")
        worst.note(rel_diff(agent.backend.to_numpy(agent.target.params[name]), twin.target[name]),
                   f"target network's {name}")
    worst.note(float(len(seen) != len(twin.taken)), "environment steps made")
    for step, (given, *_), mine in zip(range(len(seen)), seen, twin.taken):
        worst.note(float(np.any(given != mine.numpy())), f"actions of vector step {step + 1}")
    worst.note(*metric_difference(agent.episode_metrics(), view.episode_metrics()))
    used = {"dqn rollout, " + ("double" if options["double"] else "max over the target"),
            "dqn replay ring wrapped" if twin.added > options["buffer"] else "dqn replay ring not full",
            *(f"dqn, {c}" for c in env_constructs(eopts))}
    return used, (worst.value, text)


class DqnTwin:
    """Section 16's dqn run, from the docs: its replay ring, target network, epsilon and cycles."""

    def __init__(self, net, P, options, gamma, steps, copies):
        self.net, self.P, self.options, self.gamma, self.steps, self.copies = net, P, options, gamma, steps, copies
        self.target = {k: p.detach().clone() for k, p in P.items()}  # a copy of the online network to begin
        self.ring = [None] * options["buffer"]
        self.added = self.env_steps = self.vector_steps = 0
        self.taken: list[torch.Tensor] = []

    def q(self, params, obs):
        return twin_forward(self.net, params, {}, {"obs": torch.tensor(obs)}, False, [], [])["q"]

    def epsilon(self) -> float:
        o = self.options
        fraction = min(1.0, self.env_steps / (o["explore"] * self.steps))
        return o["eps_start"] + fraction * (o["eps_end"] - o["eps_start"])

    def act(self, obs, handed):
        """A uniform random action per copy; after `start` steps the greedy one where a uniform draw is at least
        epsilon."""
        random_actions = handed.take("integers", (self.copies,))
        if self.env_steps < self.options["start"]:
            return random_actions
        greedy = handed.take("random", (self.copies,)) >= self.epsilon()
        with torch.no_grad():
            best = self.q(self.P, obs).argmax(dim=1)
        return torch.where(greedy, best, random_actions)

    def iterate(self, obs, steps, handed, config, topt):
        o = self.options
        per_cycle = o["train_every"] * self.copies
        sums, count, script = {}, 0, iter(steps)
        for _ in range(math.ceil(self.steps / per_cycle)):
            for _ in range(o["train_every"]):
                action = self.act(obs, handed)
                self.taken.append(action)
                _, next_obs, rewards, terminated, _, last = next(script)
                for c in range(self.copies):  # slots in the order of steps, copies in order within one
                    self.ring[self.added % o["buffer"]] = (obs[c], int(action[c]), rewards[c], last[c],
                                                           float(terminated[c]))
                    self.added += 1
                self.env_steps += self.copies
                self.vector_steps += 1
                if self.vector_steps % max(o["target_every"] // self.copies, 1) == 0:
                    self.target = {k: p.detach().clone() for k, p in self.P.items()}
                obs = next_obs
            if self.env_steps > o["start"]:
                for _ in range(o["gradient_steps"]):
                    figures = self.gradient_step(handed.take("integers", (o["minibatch"],)), config, topt)
                    for k, v in figures.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
        return {**{k: v / count for k, v in sums.items()}, "epsilon": self.epsilon()}

    def gradient_step(self, slots, config, topt):
        filled = min(self.added, self.options["buffer"])
        assert int(slots.max()) < filled, "a slot drawn beyond the filled ones"
        obs, actions, rewards, last, dones = (np.array(column) for column in zip(*(self.ring[int(s)] for s in slots)))
        rows = torch.arange(len(slots))
        with torch.no_grad():
            target_q = self.q(self.target, last)
            chosen = (self.q(self.P, last) if self.options["double"] else target_q).argmax(dim=1)
            goal = torch.tensor(rewards) + self.gamma * (1 - torch.tensor(dones)) * target_q[rows, chosen]
        topt.zero_grad()
        taken = self.q(self.P, obs)[rows, torch.tensor(actions)]
        loss = torch.nn.functional.smooth_l1_loss(taken, goal, beta=1.0)
        twin_update(config, self.P, topt, loss)
        return {"loss": float(loss.detach()), "q": float(taken.detach().mean())}
