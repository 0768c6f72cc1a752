"""Method `dqn`: deep Q-learning (Mnih et al. 2015) with a replay buffer, a target network, an epsilon-greedy
schedule, double Q-learning (van Hasselt et al. 2016) and the Huber loss, as stable-baselines3 runs it.

The model's Q output (`q=`, default the first output) holds one value per action. Every `train_every`
vector steps (after `start` environment steps of uniformly random actions), `gradient_steps` minibatches of
`minibatch` transitions are drawn from the replay buffer (the last `buffer` transitions) and the Q-value of
each taken action moves towards r + gamma * Q_target(s', a*), a* = argmax_a Q(s', a) with `double`, else
argmax_a Q_target(s', a); the Huber loss (smooth L1, beta 1) of the difference is averaged over the
minibatch, and its gradient seeded into the Q output's slot. A time limit does not end the task: such a
transition is stored as not done, so its target bootstraps from the last observation. The target network
(a second Program, the same model) copies the online one every `target_every` environment steps. Epsilon falls
linearly from `eps_start` to `eps_end` over the first `explore` fraction of the run's steps.

An update of the schedule (one record in metrics.jsonl) spans at least RECORD_STEPS environment steps, in
whole `train_every` cycles; the last one stops at the first cycle that reaches `steps`, as stable-baselines3's
`learn(total_timesteps)` does. Metrics: loss (Huber), q (mean Q of the taken actions), epsilon. A checkpoint
holds the replay buffer, the target network and the counters, so a resumed run is exact.
"""

from __future__ import annotations

import math

import numpy as np

from nngraph.graph.methods import DQN_RECORD_STEPS as RECORD_STEPS
from nngraph.graph.methods import output_unit
from nngraph.graph.training import TrainConfig
from nngraph.train.agent import Agent
from nngraph.train.feeding import Tally
from nngraph.train.parallel import draw



def build(checked, config: TrainConfig, backend) -> Dqn:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    programs = (compile_model(model, (), backend, seed=config.seed), compile_model(model, (), backend, seed=config.seed))
    return Dqn(model, programs, config)


def huber(error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(smooth L1 loss with beta 1, its derivative) per element."""
    small = np.abs(error) < 1.0
    return np.where(small, 0.5 * error ** 2, np.abs(error) - 0.5), np.clip(error, -1.0, 1.0)


class ReplayBuffer:
    """The last `capacity` transitions (obs, action, reward, next obs, done), in fixed arrays."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "dones")

    def __init__(self, capacity: int, obs_shape: tuple, dtype):
        self.capacity, self.position, self.size = capacity, 0, 0
        self.arrays = {"obs": np.zeros((capacity, *obs_shape), dtype), "actions": np.zeros(capacity, np.int64),
                       "rewards": np.zeros(capacity, dtype), "next_obs": np.zeros((capacity, *obs_shape), dtype),
                       "dones": np.zeros(capacity, dtype)}

    def add(self, **batch) -> None:
        rows = len(batch["actions"])
        if self.position + rows <= self.capacity:  # no wrap (every step but one in `capacity`): a slice is cheaper
            where = slice(self.position, self.position + rows)
        else:
            where = (self.position + np.arange(rows)) % self.capacity
        for name in self.FIELDS:
            self.arrays[name][where] = batch[name]
        self.position = (self.position + rows) % self.capacity
        self.size = min(self.size + rows, self.capacity)

    def sample(self, rows: int, rng) -> dict[str, np.ndarray]:
        picked = rng.integers(0, self.size, rows)
        return {name: array[picked] for name, array in self.arrays.items()}

    def state(self) -> dict[str, np.ndarray]:
        return {**self.arrays, "counts": np.asarray([self.position, self.size], np.int64)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        for name in self.FIELDS:
            self.arrays[name][...] = state[name]
        self.position, self.size = (int(v) for v in state["counts"])


class Dqn(Agent):
    def __init__(self, model, programs, config: TrainConfig):
        online, self.target = programs
        super().__init__(model, online, config)
        options = self.options = config.method.options
        self.add_program(online)
        self.q_slot = self.plan.slot(output_unit(model, config, "q", 0).name)
        self.buffer = ReplayBuffer(options["buffer"], self.plan.shapes[self.feed], self.backend.dtype)
        self.cycles = max(1, math.ceil(RECORD_STEPS / (options["train_every"] * self.envs.total)))
        self.vector_steps = 0
        self.target_stale = True  # whether the online network may have moved since the target copied it
        self.sync_target()

    @property
    def steps_per_iteration(self) -> int:
        return self.cycles * self.options["train_every"] * self.envs.total

    def sync_target(self) -> None:
        """Copy the online network into the target; skipped when no gradient step came since the last copy
        (`target_every` 10 with `train_every` 256: 24 of 25 copies would rewrite the same values)."""
        if not self.target_stale:
            return
        for name, value in self.program.params.items():
            self.target.params[name][...] = value
        self.target_stale = False

    def q_values(self, program, obs: np.ndarray) -> np.ndarray:
        values, _ = program.run_on(obs)
        return program.backend.to_numpy(values[self.q_slot])

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.q_values(self.program, obs).argmax(axis=1)

    def epsilon(self) -> float:
        options = self.options
        progress = self.env_steps / max(1.0, options["explore"] * self.config.steps)
        return options["eps_start"] + (options["eps_end"] - options["eps_start"]) * min(progress, 1.0)

    # ---- one iteration ---------------------------------------------------------------------------

    def cycles_left(self) -> int:
        """This iteration's `train_every` cycles: a whole record's, or the fewer that reach the run's `steps`
        (stable-baselines3 stops at the first cycle that reaches its total; a whole last record would make up
        to RECORD_STEPS steps and gradient updates more than the run asks)."""
        per_cycle = self.options["train_every"] * self.envs.total
        return max(1, min(self.cycles, math.ceil((self.config.steps - self.env_steps) / per_cycle)))

    def iterate(self, rng) -> dict[str, float]:
        tally = Tally()
        for _ in range(self.cycles_left()):
            for _ in range(self.options["train_every"]):
                self.step(rng)
            if self.env_steps > self.options["start"]:
                for _ in range(self.options["gradient_steps"]):  # every rank holds the same buffer and draws
                    tally.add(self.update(self.buffer.sample(self.options["minibatch"], rng), rng), 1)
        return {**tally.means(), "epsilon": self.epsilon()}

    def step(self, rng) -> None:
        """One step of every copy (under MPI: of this rank's, drawing its rows of every copy's draws): random
        actions before `start`, then epsilon-greedy ones. The transitions of every copy go to the buffer."""
        envs, n, draws = self.envs, self.envs.n, self.copy_view(rng)
        obs = envs.obs
        explore = self.env_steps < self.options["start"]
        actions = draw(draws, "integers", (n,), low=0, high=envs.vector.single_action_space.n)
        if not explore:
            greedy = draw(draws, "random", (n,)) >= self.epsilon()
            actions = np.where(greedy, self.act(obs), actions)
        _, rewards, terminated, _, last = envs.step(actions)
        self.buffer.add(**self.every_copy(obs=obs, actions=actions, rewards=rewards, next_obs=last,
                                          dones=terminated))
        self.env_steps += envs.total
        self.vector_steps += 1
        if self.vector_steps % max(self.options["target_every"] // envs.total, 1) == 0:
            self.sync_target()

    def every_copy(self, **transitions: np.ndarray) -> dict[str, np.ndarray]:
        """This rank's copies' transitions -> every copy's (under MPI: packed into one float64 array, as they
        all are small integers or floats, gathered in one collective, unpacked)."""
        if not self.ranks.parallel:
            return transitions
        n = self.envs.n
        packed = self.gather_copies(np.concatenate([np.asarray(v, np.float64).reshape(n, -1)
                                                    for v in transitions.values()], axis=1))
        every, start = {}, 0
        for name, value in transitions.items():
            width = int(np.prod(np.shape(value)[1:], dtype=np.int64))
            column = packed[:, start:start + width].reshape((len(packed), *np.shape(value)[1:]))
            every[name], start = column.astype(np.asarray(value).dtype), start + width
        return every

    def update(self, batch: dict[str, np.ndarray], rng=None) -> dict[str, float]:
        """One gradient step of the Huber loss on a minibatch of transitions (under MPI each rank's on its share
        of the rows), its dropout masks drawn with `rng`."""

        def step(rows: dict[str, np.ndarray]) -> dict[str, float]:
            metrics, grads = self.loss_and_grads(rows, rng)
            self.apply_update(grads)
            return metrics

        self.target_stale = True
        return self.on_share(batch, step)

    def loss_and_grads(self, batch: dict[str, np.ndarray], rng=None) -> tuple[dict[str, float], dict]:
        """(metrics, the Huber loss's gradients by parameter name) on a minibatch of transitions."""
        target_q = self.q_values(self.target, batch["next_obs"])
        rows = np.arange(len(target_q))
        if self.options["double"]:
            next_q = target_q[rows, self.q_values(self.program, batch["next_obs"]).argmax(axis=1)]
        else:
            next_q = target_q.max(axis=1)  # the value at the argmax, found in one pass
        goal = batch["rewards"] + self.config.gamma * (1.0 - batch["dones"]) * next_q
        values, ctxs = self.program.run_on(batch["obs"], training=True, rng=rng)
        q = self.backend.to_numpy(values[self.q_slot])
        taken = q[rows, batch["actions"]]
        loss, slope = huber(taken - goal)
        seed = np.zeros_like(q)
        seed[rows, batch["actions"]] = slope / len(rows)
        grads = self.program.backward(values, ctxs, {self.q_slot: self.backend.asarray(seed)})
        return {"loss": float(loss.mean()), "q": float(taken.mean())}, grads

    # ---- checkpoints -----------------------------------------------------------------------------

    def extra_state(self) -> dict[str, np.ndarray]:
        return {**super().extra_state(), **{f"replay.{k}": v for k, v in self.buffer.state().items()},
                **{f"target.{k}": self.backend.to_numpy(v) for k, v in self.target.params.items()},
                "dqn.vector_steps": np.asarray(self.vector_steps, np.int64)}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        super().load_extra_state(state)
        self.buffer.load({k[7:]: v for k, v in state.items() if k.startswith("replay.")})
        for name in self.target.params:
            self.target.params[name][...] = self.backend.asarray(state[f"target.{name}"])
        self.vector_steps = int(state["dqn.vector_steps"])
        self.target_stale = True  # the loaded online network may differ from the loaded target
