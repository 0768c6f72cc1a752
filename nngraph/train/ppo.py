"""Methods `ppo`, `a2c` and `reinforce`: actor-critic policy gradients on rollouts of `rollout` steps of every copy.

Both collect a rollout with the current stochastic policy (the categorical of the softmax output, or a
diagonal Gaussian around the mean output with a learned log standard deviation: a parameter starting at
`log_std`, or the values of the unit `log_std_unit` names, one per state), estimate
advantages with GAE (Schulman et al. 2016; `gae` is lambda, the train block's `gamma` the discount; an
episode cut by a time limit is bootstrapped from the value of its last observation, as stable-baselines3
does), and descend

    policy loss + value * value loss - entropy * mean entropy

- `ppo` (Schulman et al. 2017): `epochs` passes over the rollout in shuffled minibatches of `minibatch`,
  the clipped surrogate -min(r A, clip(r, 1 - clip, 1 + clip) A) with r = pi(a|s) / pi_old(a|s), the
  advantages normalised per minibatch (sample standard deviation); the value loss (V - R)^2, or with `value_clip` stable-baselines3's
  clipped form (V_old + clip(V - V_old, -value_clip, value_clip) - R)^2.
- `a2c` (Mnih et al. 2016): one step on the whole rollout, loss -log pi(a|s) A (advantages as they are).
- `reinforce`: see `Reinforce` below (Monte-Carlo returns of the episodes that ended, the critic a baseline).

The losses are computed here from the program's outputs and their gradients seeded into the output slots
(the policy's logits or mean, the critic's value), so the network's backward pass is the Program's; the
log-std's gradient goes to the optimizer beside the program's parameters (`params.log_std`). The train
block's `clip` clips the global gradient norm (stable-baselines3's max_grad_norm).

Metrics per update: loss, pg_loss, value_loss, entropy, and for ppo approx_kl and clip_fraction.

Under MPI (train/agent.py) each rank collects the rollout of its copies, drawing its rows of the actions'
random numbers; the rollouts are gathered into the global one on every rank, so every rank shuffles and
normalises as one process does, and each gradient step is on a rank's contiguous share of a global minibatch.
"""

from __future__ import annotations

import numpy as np

from nngraph.graph.methods import output_unit
from nngraph.graph.training import TrainConfig
from nngraph.train.agent import Agent
from nngraph.train.feeding import Tally
from nngraph.train.policies import Categorical, Gaussian


def build(checked, config: TrainConfig, backend) -> ActorCritic:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    kind = Reinforce if config.method.name == "reinforce" else ActorCritic
    return kind(model, compile_model(model, (), backend, seed=config.seed), config)


def gae(rewards, values, dones, last_values, gamma: float, lam: float) -> np.ndarray:
    """Advantages (T, n) of a rollout: `dones[t]` says the episode ended with step t, `last_values` are the
    values of the observations after the last step."""
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(last_values)
    next_values = last_values
    for t in reversed(range(len(rewards))):
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t], next_values = running, values[t]
    return advantages


def normalized(advantages: np.ndarray) -> np.ndarray:
    """ppo's advantages of a minibatch less their mean, over their sample standard deviation (n - 1, as
    stable-baselines3 and CleanRL take it with torch's `std`) plus 1e-8; one row as it is."""
    if len(advantages) < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)


class ActorCritic(Agent):
    """ppo and a2c (`config.method.name`), on one Program with a policy output and a critic output."""

    def __init__(self, model, program, config: TrainConfig):
        super().__init__(model, program, config)
        options = config.method.options
        self.ppo = config.method.name == "ppo"
        self.rollout, self.lam = options["rollout"], options.get("gae", 1.0)
        self.epochs, self.minibatch = (options["epochs"], options["minibatch"]) if self.ppo else (1, None)
        self.clip, self.value_clip = (options["clip"], options["value_clip"]) if self.ppo else (None, None)
        policy, critic = output_unit(model, config, "policy", 0), output_unit(model, config, "critic", 1)
        self.policy_slot = policy.name + ":z" if policy.activation == "softmax" else self.plan.slot(policy.name)
        self.value_slot = self.plan.slot(critic.name)
        std_unit = options.get("log_std_unit")
        self.std_slot = self.plan.slot(std_unit) if std_unit is not None else None
        params = dict(program.params)
        if self.envs.discrete:
            self.dist = Categorical()
        elif self.std_slot is not None:
            self.dist = Gaussian()  # the log std is the model's unit: its values ride beside the mean
        else:
            shape = self.plan.shapes[policy.name]
            params["log_std"] = self.backend.asarray(np.full(shape, options["log_std"], self.backend.dtype))
            self.dist = Gaussian(params["log_std"], self.backend.to_numpy)
        self.add_part(params, buffers=program.buffers)

    def policy_out(self, values: dict) -> np.ndarray:
        """What the action distribution reads: the policy unit's logits or mean, and beside the mean the
        log-std unit's values where one is named."""
        out = self.host(values, self.policy_slot)
        return out if self.std_slot is None else np.concatenate([out, self.host(values, self.std_slot)], axis=1)

    def _policy_seeds(self, d_out: np.ndarray) -> dict:
        """d loss / d `policy_out` into the output slots it was read from."""
        if self.std_slot is None:
            return {self.policy_slot: self.backend.asarray(d_out)}
        dims = d_out.shape[1] // 2
        return {self.policy_slot: self.backend.asarray(np.ascontiguousarray(d_out[:, :dims])),
                self.std_slot: self.backend.asarray(np.ascontiguousarray(d_out[:, dims:]))}

    @property
    def steps_per_iteration(self) -> int:
        return self.rollout * self.envs.total

    def act(self, obs: np.ndarray) -> np.ndarray:
        values, _ = self.forward(obs)
        return self.dist.mode(self.policy_out(values))

    def _policy_and_value(self, obs):
        values, _ = self.forward(obs)
        return self.policy_out(values), self.host(values, self.value_slot)[:, 0]

    # ---- collecting ----------------------------------------------------------------------------

    def collect(self, rng) -> dict[str, np.ndarray]:
        """A rollout of every copy (under MPI gathered from the ranks): observations, actions, their
        log-probabilities, values, advantages and returns, flattened to (rollout * copies, ...), step-major."""
        envs, steps, n = self.envs, self.rollout, self.envs.n
        draws = self.copy_view(rng)
        obs = envs.obs
        seen = np.empty((steps, *obs.shape), obs.dtype)
        actions, logps, values, rewards, dones = [], [], np.empty((steps, n)), np.empty((steps, n)), np.empty((steps, n))
        for t in range(steps):
            out, values[t] = self._policy_and_value(obs)
            action = self.dist.sample(out, draws)
            seen[t] = obs
            actions.append(action)
            logps.append(self.dist.log_prob(out, action))
            obs, rewards[t], terminated, truncated, last = envs.step(action)
            cut = truncated & ~terminated
            if cut.any():  # a time limit, not the end of the task: the rest of the episode is worth V(last)
                rewards[t, cut] += self.config.gamma * self._policy_and_value(last[cut])[1]
            dones[t] = terminated | truncated
        self.env_steps += steps * envs.total
        advantages = gae(rewards, values, dones, self._policy_and_value(obs)[1], self.config.gamma, self.lam)
        rollout = {"obs": seen, "actions": np.asarray(actions), "logp": np.asarray(logps), "values": values,
                   "advantages": advantages, "returns": advantages + values, "ended": dones}
        rollout = {k: self.gather_copies(v, axis=1) for k, v in rollout.items()}  # (steps, copies, ...)
        return {k: v.reshape((steps * envs.total, *v.shape[2:])) for k, v in rollout.items()}

    # ---- updating ------------------------------------------------------------------------------

    def iterate(self, rng) -> dict[str, float]:
        rollout = self.collect(rng)
        size = len(rollout["obs"])
        batch = self.minibatch or size
        tally = Tally()
        for _ in range(self.epochs):
            order = rng.permutation(size) if self.ppo else np.arange(size)
            for start in range(0, size, batch):
                rows = order[start:start + batch]
                tally.add(self.update({k: v[rows] for k, v in rollout.items()}, rng), len(rows))
        return tally.means(True)

    def update(self, mb: dict[str, np.ndarray], rng=None) -> dict[str, float]:
        """One gradient step on a minibatch of the rollout (under MPI each rank's on its share of it, the
        advantages normalised over the whole minibatch first), its dropout masks drawn with `rng`; its metrics."""
        if self.ppo:
            mb = {**mb, "advantages": normalized(mb["advantages"])}

        def step(rows: dict[str, np.ndarray]) -> dict[str, float]:
            metrics, grads = self.loss_and_grads(rows, normalize=False, rng=rng)
            self.apply_update(grads)
            return metrics

        return self.on_share(mb, step)

    def loss_and_grads(self, mb: dict[str, np.ndarray], normalize: bool = True,
                       rng=None) -> tuple[dict[str, float], dict]:
        """(metrics, the loss's gradients by parameter name) on a minibatch of the rollout; ppo's advantages
        normalised over it unless `normalize` is False (`update` normalised the whole minibatch)."""
        values, ctxs = self.forward(mb["obs"], training=True, rng=rng)
        out, value = self.policy_out(values), self.host(values, self.value_slot)[:, 0]
        rows = len(out)
        if self.ppo and normalize:
            mb = {**mb, "advantages": normalized(mb["advantages"])}
        d_logp, metrics = self._policy_loss(self.dist.log_prob(out, mb["actions"]), mb)
        grads_out = self.dist.grads(out, mb["actions"], d_logp, -self.config.method.options["entropy"] / rows)
        d_value, metrics["value_loss"] = self._value_loss(value, mb)
        entropy = float(self.dist.entropy(out).mean())
        options = self.config.method.options
        metrics.update(entropy=entropy, loss=metrics["pg_loss"] + options["value"] * metrics["value_loss"]
                       - options["entropy"] * entropy)
        seeds = {**self._policy_seeds(grads_out["out"]),
                 self.value_slot: self.backend.asarray((options["value"] * d_value)[:, None])}
        grads = self.program.backward(values, ctxs, seeds)
        if "log_std" in grads_out:
            grads["log_std"] = self.backend.asarray(grads_out["log_std"])
        return metrics, grads

    def _policy_loss(self, logp: np.ndarray, mb: dict) -> tuple[np.ndarray, dict]:
        """(d policy loss / d log pi(a|s) per row, metrics)."""
        advantages, rows = mb["advantages"], len(logp)
        if not self.ppo:
            return -advantages / rows, {"pg_loss": float(-(advantages * logp).mean())}
        log_ratio = logp - mb["logp"]
        ratio = np.exp(log_ratio)
        unclipped, clipped = ratio * advantages, np.clip(ratio, 1 - self.clip, 1 + self.clip) * advantages
        through = unclipped <= clipped  # where the minimum is the unclipped term, the gradient flows
        metrics = {"pg_loss": float(-np.minimum(unclipped, clipped).mean()),
                   "approx_kl": float(((ratio - 1) - log_ratio).mean()),
                   "clip_fraction": float((np.abs(ratio - 1) > self.clip).mean())}
        return -(unclipped * through) / rows, metrics

    def _value_loss(self, value: np.ndarray, mb: dict) -> tuple[np.ndarray, float]:
        """(d value loss / d V per row, the value loss): mean (V - R)^2, or its clipped form."""
        predicted, passes = value, 1.0
        if self.value_clip is not None:
            change = value - mb["values"]
            predicted = mb["values"] + np.clip(change, -self.value_clip, self.value_clip)
            passes = np.abs(change) <= self.value_clip
        error = predicted - mb["returns"]
        return 2 * error * passes / len(value), float((error ** 2).mean())


class Reinforce(ActorCritic):
    """`reinforce` (Williams 1992) with a learned baseline: one step per rollout on the steps whose episode
    ended inside the rollout, each with its Monte-Carlo return G (no bootstrap but at a time limit), the loss
    -log pi(a|s) (G - V(s)) + value (V(s) - G)^2. The steps of an episode still running when the rollout
    ends are left out: make `rollout` longer than most episodes."""

    def collect(self, rng) -> dict[str, np.ndarray]:
        rollout = super().collect(rng)
        ended = rollout["ended"].reshape(self.rollout, self.envs.total)
        steps = np.arange(self.rollout)[:, None]
        last = np.where(ended.any(axis=0), self.rollout - 1 - ended[::-1].argmax(axis=0), -1)
        complete = (steps <= last).reshape(-1)
        return {k: v[complete] for k, v in rollout.items()}

    def iterate(self, rng) -> dict[str, float]:
        rollout = self.collect(rng)
        return self.update(rollout, rng) if len(rollout["obs"]) else {}
