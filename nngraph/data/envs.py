"""Environments as the data of reinforcement learning: gymnasium vector environments (synchronous: on one
core the copies are stepped in turn anyway), seeded, with optional observation and reward normalisation,
the episode returns and lengths counted as they end, and a state a checkpoint keeps for an exact resume.

`Environments(env_id, options, seed, gamma)`: `options` as the `env` setting binds them (n copies,
normalize_obs, normalize_reward, clip_obs). Copies reset themselves in the step that ends an episode
(gymnasium's same-step autoreset): `step` returns the first observation of the next episode, and the last
one of the finished episode separately, so a method can bootstrap a truncated episode from its value.

Normalisation (as stable-baselines3's VecNormalize): observations by a running mean and variance (which the
reset's observations and then every step's move), clipped to +-clip_obs; rewards divided by the running
standard deviation of the discounted return, clipped to +-10. The
statistics move only while training (`Environments.training`), and are saved in checkpoints.

Several processes (MPI ranks, train/agent.py) may share the copies: each steps its contiguous `copies` of
the `n`, copy i seeded as copy i of one process, and `gather(local)` (given by the caller) lays every
process's per-copy arrays side by side, so the normalisation statistics move by all copies' values, and
`state` holds every copy's, as one process's would.

Exact resume: a checkpoint holds each copy's generator state, its TimeLimit step count, and where the
environment keeps its whole physical state in `unwrapped.state` (gymnasium's classic-control ones), that
state. An environment without one restarts its episodes on resume (`resumable` says which).
"""

from __future__ import annotations

import numpy as np

from nngraph.errors import DataError, unimportable

REWARD_CLIP = 10.0
EPSILON = 1e-8
COUNT_START = 1e-4  # what a running mean's count starts at (stable-baselines3's RunningMeanStd `epsilon`)
MASK64 = (1 << 64) - 1


def import_gymnasium():
    try:
        import gymnasium
    except ImportError as e:
        raise DataError(f"reinforcement learning needs gymnasium, {unimportable(e, 'gymnasium')}", None,
                        'install the rl extra: pip install "nngraph[rl]"') from None
    return gymnasium


class RunningMeanStd:
    """Mean and variance of everything `update` has seen (Chan et al.'s parallel update), in float64, from mean 0,
    variance 1 and a count of COUNT_START, as stable-baselines3's RunningMeanStd."""

    def __init__(self, shape: tuple = ()):
        self.mean, self.var, self.count = np.zeros(shape), np.ones(shape), np.asarray(COUNT_START)

    def update(self, batch: np.ndarray) -> None:
        mean, var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta, total = mean - self.mean, self.count + n
        m2 = self.var * self.count + var * n + delta ** 2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, np.asarray(total)

    def state(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load(self, state: dict) -> None:
        self.mean, self.var, self.count = (np.array(state[k], np.float64) for k in ("mean", "var", "count"))


def _alone(local: np.ndarray) -> np.ndarray:
    return local


class Environments:
    """`copies` (default all) of `options["n"]` copies of one environment stepped together; observations and
    rewards as the agent sees them. `n` is the copies stepped here, `total` all of them."""

    PER_COPY = ("obs", "episode_return", "episode_length", "discounted", "rng", "elapsed", "physics")

    def __init__(self, env_id: str, options: dict, seed: int, gamma: float, dtype=np.float32,
                 copies: range | None = None, gather=_alone):
        gym = import_gymnasium()
        self.total = options["n"]
        self.copies = copies if copies is not None else range(self.total)
        self.n, self.gamma, self.dtype, self.seed = len(self.copies), gamma, np.dtype(dtype), seed
        self.gather = gather  # this process's per-copy array (copies first) -> all copies'
        self.steps = 0  # vector steps made: when an episode ended, in `finished`
        self.clip_obs = options.get("clip_obs", 10.0)
        self.vector = gym.make_vec(env_id, num_envs=self.n, vectorization_mode="sync",
                                   vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
        self.discrete = isinstance(self.vector.single_action_space, gym.spaces.Discrete)
        space = self.vector.single_action_space
        self.low, self.high = (None, None) if self.discrete else (space.low, space.high)
        shape = self.vector.single_observation_space.shape
        self.obs_stats = RunningMeanStd(shape) if options.get("normalize_obs") else None
        self.return_stats = RunningMeanStd() if options.get("normalize_reward") else None
        self.training = True
        self.discounted = np.zeros(self.n)  # each copy's discounted return so far (reward normalisation)
        self.episode_return, self.episode_length = np.zeros(self.n), np.zeros(self.n, np.int64)
        # (copy here, return, length, vector step) of the episodes ended lately
        self.finished: list[tuple[int, float, int, int]] = []
        self.raw_obs, _ = self.vector.reset(seed=[seed + i for i in self.copies])
        if self.obs_stats is not None:  # VecNormalize's reset: the first observations count too
            self.obs_stats.update(self.gather(self.raw_obs))

    # ---- what the agent sees --------------------------------------------------------------------

    @property
    def obs(self) -> np.ndarray:
        return self.normalize(self.raw_obs)

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        if self.obs_stats is None:
            return raw.astype(self.dtype, copy=False)
        scaled = (raw - self.obs_stats.mean) / np.sqrt(self.obs_stats.var + EPSILON)
        return np.clip(scaled, -self.clip_obs, self.clip_obs).astype(self.dtype)

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the environment is given: action indices, or continuous actions clipped into the Box."""
        if self.discrete:
            return actions.astype(np.int64).reshape(self.n)
        return np.clip(actions.reshape((self.n, *self.low.shape)), self.low, self.high)

    def step(self, actions: np.ndarray):
        """(next observations, rewards, terminated, truncated, last observations): the next observation of a
        copy whose episode ended is its new episode's first; `last` holds the ended episode's final one
        there (for bootstrapping a truncated episode) and the next observation elsewhere."""
        raw, reward, terminated, truncated, info = self.vector.step(self.env_actions(actions))
        done = terminated | truncated
        last = raw.copy()
        if done.any():
            for i in np.flatnonzero(done):
                last[i] = info["final_obs"][i]
        self.steps += 1
        self._count_episodes(reward, done)
        if self.training and self.obs_stats is not None:
            self.obs_stats.update(self.gather(raw))
        self.raw_obs = raw
        return self.normalize(raw), self._scaled(reward, done), terminated, truncated, self.normalize(last)

    def _count_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.episode_return += reward
        self.episode_length += 1
        for i in np.flatnonzero(done):
            self.finished.append((int(i), float(self.episode_return[i]), int(self.episode_length[i]), self.steps))
        self.episode_return[done], self.episode_length[done] = 0.0, 0

    def _scaled(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        if self.return_stats is None:
            return reward.astype(self.dtype)
        if self.training:
            self.discounted = self.discounted * self.gamma + reward
            self.return_stats.update(self.gather(self.discounted))
        self.discounted[done] = 0.0
        scaled = reward / np.sqrt(self.return_stats.var + EPSILON)
        return np.clip(scaled, -REWARD_CLIP, REWARD_CLIP).astype(self.dtype)

    def take_episodes(self) -> list[tuple[int, float, int, int]]:
        """(copy here, return, length, vector step) of every episode that ended since the last call, in the order
        they ended (by step, then by copy)."""
        finished, self.finished = self.finished, []
        return finished

    def close(self) -> None:
        self.vector.close()

    # ---- checkpoints ------------------------------------------------------------------------------

    @property
    def resumable(self) -> bool:
        """Whether a checkpoint holds the copies' whole state (see the module's docstring)."""
        return all(isinstance(getattr(env.unwrapped, "state", None), (np.ndarray, tuple, list))
                   for env in self.vector.envs)

    def state(self) -> dict[str, np.ndarray]:
        """Every copy's state (gathered from the processes that share them), and the normalisation's."""
        state = {"obs": self.raw_obs, "episode_return": self.episode_return,
                 "episode_length": self.episode_length, "discounted": self.discounted,
                 "rng": np.stack([_generator_words(env.unwrapped.np_random) for env in self.vector.envs]),
                 "elapsed": np.asarray([_elapsed(env) for env in self.vector.envs], np.int64)}
        if self.resumable:
            state["physics"] = np.stack([np.asarray(env.unwrapped.state, np.float64) for env in self.vector.envs])
        state = {k: self.gather(v) if k in self.PER_COPY else v for k, v in state.items()}
        for name, stats in (("obs_stats", self.obs_stats), ("return_stats", self.return_stats)):
            if stats is not None:
                state.update({f"{name}.{k}": v for k, v in stats.state().items()})
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name, stats in (("obs_stats", self.obs_stats), ("return_stats", self.return_stats)):
            if stats is not None:
                stats.load({k: state[f"{name}.{k}"] for k in ("mean", "var", "count")})
        if len(state["discounted"]) != self.total:
            raise DataError(f"the checkpoint holds {len(state['discounted'])} environment copies, the spec "
                            f"{self.total}")
        here = slice(self.copies.start, self.copies.stop)  # this process's copies of every copy's state
        state = {k: v[here] if k in self.PER_COPY else v for k, v in state.items()}
        self.discounted = np.array(state["discounted"], np.float64)
        if "physics" not in state or not self.resumable:
            return  # the copies keep the episodes they started afresh
        self.raw_obs = np.array(state["obs"], self.vector.single_observation_space.dtype)
        self.episode_return = np.array(state["episode_return"], np.float64)
        self.episode_length = np.array(state["episode_length"], np.int64)
        for env, words, elapsed, physics in zip(self.vector.envs, state["rng"], state["elapsed"],
                                                state["physics"], strict=True):
            _set_generator_words(env.unwrapped.np_random, words)
            _set_elapsed(env, int(elapsed))
            current = env.unwrapped.state
            env.unwrapped.state = physics.astype(np.asarray(current).dtype).reshape(np.shape(current))


def _generator_words(rng: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's state as six unsigned 64-bit words: a fixed shape, as a checkpoint's arrays need."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise DataError(f"cannot checkpoint an environment's {state['bit_generator']} generator")
    inner = state["state"]
    return np.asarray([inner["state"] >> 64, inner["state"] & MASK64, inner["inc"] >> 64, inner["inc"] & MASK64,
                       state["has_uint32"], state["uinteger"]], np.uint64)


def _set_generator_words(rng: np.random.Generator, words: np.ndarray) -> None:
    w = [int(v) for v in words]
    rng.bit_generator.state = {"bit_generator": "PCG64", "state": {"state": w[0] << 64 | w[1], "inc": w[2] << 64 | w[3]},
                               "has_uint32": w[4], "uinteger": w[5]}


def _time_limit(env):
    while env is not None and not hasattr(env, "_elapsed_steps"):
        env = getattr(env, "env", None)
    return env


def _elapsed(env) -> int:
    limit = _time_limit(env)
    return int(limit._elapsed_steps or 0) if limit is not None else 0


def _set_elapsed(env, steps: int) -> None:
    limit = _time_limit(env)
    if limit is not None:
        limit._elapsed_steps = steps


def play(act, env_id: str, options: dict, episodes: int, seed: int, normalize, dtype=np.float32,
         share=None) -> np.ndarray:
    """The returns of `episodes` episodes played by `act(observations) -> actions` (the agent's deterministic
    policy), on copies seeded from `seed`, the observations normalised by `normalize` (the training run's
    frozen statistics). Each copy plays its share, so that short episodes are not over-counted. `share(copies)`
    (several processes) gives the range of the copies this process plays: the returns are theirs, in order."""
    copies = max(1, min(episodes, options["n"]))
    mine = share(copies) if share is not None else range(copies)
    if not len(mine):
        return np.zeros(0)
    envs = Environments(env_id, {**options, "n": copies, "normalize_obs": False, "normalize_reward": False},
                        seed, 0.99, dtype, copies=mine)
    quota = [episodes // copies + (i < episodes % copies) for i in mine]
    returns: list[list[float]] = [[] for _ in mine]
    try:
        while any(len(r) < q for r, q in zip(returns, quota, strict=True)):
            envs.step(act(normalize(envs.raw_obs)))
            for copy, episode_return, *_ in envs.take_episodes():
                if len(returns[copy]) < quota[copy]:
                    returns[copy].append(episode_return)
    finally:
        envs.close()
    return np.asarray([r for per_copy in returns for r in per_copy])


def record(act, env_id: str, episodes: int, seed: int, normalize, max_frames: int,
           dtype=np.float32) -> tuple[list[np.ndarray], list[float]]:
    """(frames, returns) of `episodes` episodes played one after another by `act` on one copy rendered as
    rgb_array pictures, at most `max_frames` frames kept (the returns count every step)."""
    gym = import_gymnasium()
    try:
        env = gym.make(env_id, render_mode="rgb_array")
        frames, returns = [], []
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                if len(frames) < max_frames:
                    frames.append(env.render())
                action = act(normalize(np.asarray(obs, dtype)[None]))[0]
                obs, reward, terminated, truncated, _ = env.step(_one_action(env, action))
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
    except gym.error.DependencyNotInstalled as e:
        raise DataError(f"rendering {env_id} needs a package that is not installed ({e})", None,
                        'pip install "gymnasium[classic-control]" (pygame)') from None
    env.close()
    return frames, returns


def _one_action(env, action):
    if hasattr(env.action_space, "n"):
        return int(action)
    return np.clip(np.asarray(action, env.action_space.dtype).reshape(env.action_space.shape),
                   env.action_space.low, env.action_space.high)
