"""What every reinforcement-learning method shares: the agent (`Agent`, a `Method` whose data is an
environment) and its training loop (`train_agent`).

The loop counts updates as the data loop counts epochs: each iteration collects environment steps and
updates the network (`Agent.iterate`), the schedule sets the learning rate per iteration (`linear` decays it
over the run, as stable-baselines3's `lin_` rates), and every iteration writes one record to metrics.jsonl:
`steps` (environment steps so far, every copy's counted), `episodes`, `return` and `length` (means over the
last 100 episodes ended, as stable-baselines3 reports them), and the method's own metrics. Checkpoints,
Ctrl-C and `--resume` are the data loop's (`loop._save`, `loop.restore`): the method's state adds the
environments' (train/agent.py: `Agent.extra_state`), so a resumed run makes the same steps as a straight one.

Under MPI (train/parallel.py) each rank steps its contiguous share of the `n` copies (copy i seeded as in one
process), acts on its own copies' observations and draws its rows of the draws one process makes for all
copies (`copy_view`); what is global in one process is made so: the episodes that ended are gathered from all
ranks in the order one process ends them, the normalisation statistics move by all copies, a checkpoint holds
every copy's state (gathered every iteration: `gather_state`, so that rank 0 alone can write it), and each
gradient step is on a rank's share of a global minibatch (`on_share`) that every rank holds whole.

After training, `evaluate_episodes` plays the deterministic policy (the most probable action, or the mean)
for `episodes` episodes (the env's `episodes` option) on fresh copies seeded apart from training's:
summary.json's `test` and `nngraph eval`.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from nngraph.data.envs import Environments, play, record
from nngraph.errors import DataError, TrainingError, plural
from nngraph.graph.envs import import_gymnasium
from nngraph.graph.training import TrainConfig
from nngraph.train.feeding import check_data_fits
from nngraph.train.loop import History, StopOnCtrlC, _CheckpointPolicy, _interrupt, _save, blas_policy, restore
from nngraph.train.method import Method
from nngraph.train.optimizers import settings
from nngraph.train.parallel import Shard, ShardedGenerator, world
from nngraph.train.progress import TrainingProgress
from nngraph.train.schedules import learning_rate

RECENT = 100  # episodes the logged `return` and `length` are averaged over
EVAL_SEED_OFFSET = 1_000_000  # evaluation copies are seeded apart from the training copies
MAX_FRAMES = 1000  # of an animation (`nngraph sample -o FILE.gif`): 40 s at 25 frames a second


class Agent(Method):
    """A network (one compiled Program) acting in `config.env`. Subclasses add `iterate`, `act` and
    `steps_per_iteration`."""

    predicted = "action"

    def __init__(self, model, program, config: TrainConfig):
        super().__init__(config, program.xp, model)
        self.program, self.plan = program, program.train_plan
        self.backend = program.backend
        self.feed = self.plan.feeds[0]
        self.ranks, self.share = world(), copies_share(config)
        import_gymnasium(config.env.span)  # `check` passes without it for short names; say so at the `env` setting
        self.envs = Environments(config.env.id, config.env.options, config.seed, config.gamma, self.backend.dtype,
                                 range(self.share.start, self.share.stop), self.gather_copies)
        self.gathered_state: dict[str, np.ndarray] | None = None  # under MPI: every copy's, at the last iteration
        self.gather_state()  # a checkpoint's layout is asked for before the first iteration (`restore`)
        self.env_steps = 0
        self.recent = np.zeros((RECENT, 2))  # the last episodes' (return, length), a ring
        self.episodes = 0

    # ---- sharing the copies across MPI ranks ----------------------------------------------------

    def gather_copies(self, local: np.ndarray, axis: int = 0) -> np.ndarray:
        """This rank's per-copy array (copies along `axis`) -> every copy's, as one process holds it."""
        return self.ranks.gather_copies(local, self.share.total, axis)

    def copy_view(self, rng):
        """The generator as this rank's copies see it: draws for all copies, this rank's rows of them."""
        return ShardedGenerator(rng, self.share) if self.ranks.parallel else rng

    def on_share(self, batch: dict[str, np.ndarray], step) -> dict[str, float]:
        """`step(rows)` (a gradient step, its metrics as means over the rows) on this rank's contiguous share of
        a global minibatch that every rank holds: its gradients weighted by that share in the allreduce, its
        metrics averaged over all rows. A rank left without rows (a minibatch smaller than the world) steps on
        the first row with weight 0, so that it joins the allreduce."""
        if not self.ranks.parallel:
            return step(batch)
        share = self.ranks.share(len(next(iter(batch.values()))))
        rows = np.arange(share.start, share.stop) if share.rows else np.arange(1)
        with self.ranks.step(share):
            metrics = step({k: v[rows] for k, v in batch.items()})
        return self.ranks.reduce_metrics(metrics, share.rows)

    def _copies_here(self, copies: int) -> range:
        share = self.ranks.share(copies)
        return range(share.start, share.stop)

    def gather_state(self) -> None:
        """Under MPI: every copy's state gathered now (every rank takes part), for rank 0's next checkpoint."""
        if self.ranks.parallel:
            self.gathered_state = self.envs.state()

    # ---- running the network ------------------------------------------------------------------

    def forward(self, obs: np.ndarray, training: bool = False, rng=None):
        """(slot values, vjp contexts) of one pass over observations; a training pass's dropout masks drawn
        with `rng` (the loop's)."""
        return self.program.run_on(obs, training, rng)

    def host(self, values: dict, slot: str) -> np.ndarray:
        return self.backend.to_numpy(values[slot])

    # ---- what subclasses give -----------------------------------------------------------------

    @property
    def steps_per_iteration(self) -> int:
        raise NotImplementedError

    def iterate(self, rng: np.random.Generator) -> dict[str, float]:
        """Collect environment steps and update; the iteration's metrics."""
        raise NotImplementedError

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic policy's actions for (normalised) observations."""
        raise NotImplementedError

    # ---- episodes -------------------------------------------------------------------------------

    def episode_metrics(self) -> dict[str, float]:
        """`episodes` so far, and the mean `return` and `length` of the last RECENT of them."""
        for episode_return, length in self.ended_episodes():
            self.recent[self.episodes % RECENT] = episode_return, length
            self.episodes += 1
        metrics = {"steps": self.env_steps, "episodes": self.episodes}
        if self.episodes:
            recent = self.recent[:min(self.episodes, RECENT)]
            metrics.update({"return": float(recent[:, 0].mean()), "length": float(recent[:, 1].mean())})
        return metrics

    def ended_episodes(self) -> list[tuple[float, int]]:
        """(return, length) of the episodes ended since the last call, on every rank's copies, in the order one
        process ends them: by step, then by copy."""
        ended = self.envs.take_episodes()
        if not self.ranks.parallel:
            return [(episode_return, length) for _, episode_return, length, _ in ended]
        mine = np.asarray([(step, self.share.start + copy, episode_return, length)
                           for copy, episode_return, length, step in ended], np.float64).reshape(-1, 4)
        every = self.ranks.gather_varying(mine)
        every = every[np.lexsort((every[:, 1], every[:, 0]))]
        return [(float(r), int(n)) for r, n in every[:, 2:]]

    def evaluate_episodes(self, episodes: int | None = None, seed: int | None = None) -> dict[str, float]:
        """Mean and standard deviation of the return of the deterministic policy over `episodes` episodes."""
        episodes = episodes or self.config.env.options["episodes"]
        seed = self.config.seed + EVAL_SEED_OFFSET if seed is None else seed
        share = self._copies_here if self.ranks.parallel else None
        returns = self.ranks.gather_varying(play(self.act, self.config.env.id, self.config.env.options, episodes,
                                                 seed, self.envs.normalize, self.backend.dtype, share))
        return {"return_mean": float(returns.mean()), "return_std": float(returns.std()), "episodes": episodes}

    def evaluate(self, data=None) -> dict[str, float]:
        return self.evaluate_episodes()

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """The deterministic policy's actions for raw observations, or a unit's values."""
        obs = self.envs.normalize(x)
        if unit is None:
            return self.act(obs)
        values, _ = self.forward(obs)
        return self.host(values, self.plan.slot(unit))

    def sample(self, request: dict, splits) -> str:
        """`nngraph sample`: play `count` episodes with the deterministic policy and report their returns;
        with `-o FILE.gif`, one after another rendered into an animation (its first MAX_FRAMES frames)."""
        from nngraph.graph.vocabulary import MAX_EPISODES

        if request["count"] > MAX_EPISODES:  # --count 100000 played 50 million CartPole steps
            raise DataError(f"--count {request['count']} asks for as many episodes; an agent plays at most "
                            f"{MAX_EPISODES:,} (about a minute of episodes of 500 steps)", None,
                            f"ask for --count {MAX_EPISODES} or fewer")
        output = request.get("output")
        if output is not None and Path(output).suffix.lower() == ".gif":
            return self._animate(Path(output), request["count"], request["seed"])
        result = self.evaluate_episodes(request["count"], request["seed"])
        return (f"played {plural(result['episodes'], 'episode')} of {self.config.env.id}: return "
                f"{result['return_mean']:.4g} +- {result['return_std']:.3g}")

    def _animate(self, path: Path, episodes: int, seed: int) -> str:
        from nngraph.viz.animation import write_gif

        frames, returns = record(self.act, self.config.env.id, episodes, seed, self.envs.normalize, MAX_FRAMES,
                                 self.backend.dtype)
        write_gif(path, frames)
        return (f"wrote {plural(len(frames), 'frame')} of {plural(episodes, 'episode')} of {self.config.env.id} "
                f"to {path} (returns {', '.join(f'{r:.4g}' for r in returns)})")

    def check_data(self, data, span) -> None:
        check_data_fits(self.model, data, span)

    # ---- checkpoints -----------------------------------------------------------------------------

    def extra_state(self) -> dict[str, np.ndarray]:
        envs = self.gathered_state if self.ranks.parallel else self.envs.state()
        state = {f"env.{k}": v for k, v in envs.items()}
        return {**state, "agent.counts": np.asarray([self.env_steps, self.episodes], np.int64),
                "agent.recent": self.recent}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.envs.load_state({k[4:]: v for k, v in state.items() if k.startswith("env.")})
        self.env_steps, self.episodes = (int(v) for v in state["agent.counts"])
        self.recent = np.array(state["agent.recent"], np.float64)


def copies_share(config: TrainConfig) -> Shard:
    """This rank's contiguous share of the environment copies (all of them in one process); under MPI the ranks
    must divide them evenly."""
    ranks, copies = world(), config.env.copies
    if copies % ranks.size:
        raise TrainingError(f"{copies:,} environment cop{'y' if copies == 1 else 'ies'} cannot be split evenly "
                            f"across {ranks.size} MPI ranks", config.env.span or config.spans.get("env"),
                            hint=f"each rank steps its share of the copies: make `n` a multiple of {ranks.size}, "
                                 f"or start as many ranks as divide it")
    return ranks.share(copies)


def iterations(config: TrainConfig, agent: Agent) -> int:
    return math.ceil(config.steps / agent.steps_per_iteration)


def train_agent(agent: Agent, config: TrainConfig, run=None, rng: np.random.Generator | None = None,
                checkpoint=None, quiet: bool = True) -> History:
    """Train until `config.steps` environment steps are made (whole iterations); from `checkpoint`'s state
    when resuming. Returns the history of per-iteration records."""
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    done, history = 0, History()
    if checkpoint is not None:
        done, history = restore(agent, checkpoint, rng, run.spec_hash if run is not None else None)
    history.resumed_from = done
    total, base_lr = iterations(config, agent), float(settings(config.optimizer)["lr"])
    policy = _CheckpointPolicy(config)
    clock = time.perf_counter() - (history.records[-1].get("time", 0.0) if history.records else 0.0)
    log = run.open_metrics(history.records) if run is not None else nullcontext()
    iteration = done
    with TrainingProgress(total, done, quiet) as progress, log, StopOnCtrlC() as ctrl_c:
        for iteration in range(done + 1, total + 1):
            record = _iteration(agent, config, rng, iteration, total, base_lr)
            record["time"] = round(time.perf_counter() - clock, 6)
            history.records.append(record)
            if run is not None:
                log.write(record)
            progress.epoch_done(iteration, {k: v for k, v in record.items() if k in ("return", "steps")})
            if iteration == total:
                break
            if ctrl_c.requested:
                _interrupt(run, agent, rng, history, None, iteration)
            if run is not None and policy.due(iteration):
                _save(run, agent, rng, history, None, iteration)
    if run is not None and iteration > done:
        _save(run, agent, rng, history, None, iteration, complete=True)
    return history


def _iteration(agent: Agent, config: TrainConfig, rng, iteration: int, total: int, base_lr: float) -> dict:
    lr = learning_rate(config.schedule, base_lr, iteration - 1, total)
    agent.set_learning_rate(lr)
    with blas_policy(agent):
        metrics = agent.iterate(rng)
    agent.gather_state()
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise TrainingError(f"training diverged: {name} is {value} in update {iteration}",
                                hint="lower the learning rate, or set `clip`; the last checkpoint is kept as it was")
    return {"epoch": iteration, "lr": lr, **agent.episode_metrics(), **metrics}

