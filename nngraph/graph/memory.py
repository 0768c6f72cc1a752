"""How much memory a training run needs, worked out from the checked graph before any array exists.

A run passes through three peaks, and needs the highest of them (P = parameter values, s = bytes a value):

- initialisation: each parameter is drawn in float64 and cast, the parameters made so far are kept, and
  then copied into one flat array: P*s + (8 + s) * the largest parameter, or 2*P*s for the copy;
- training: the parameters, the optimizer's flat arrays (the gathered gradient, a scratch step, and one
  per slot: momentum 1, adam 2), early stopping's copy of the best parameters and the training code's
  modules stay; on top, one at a time, a step's gradients and activations (or an evaluation chunk's,
  forward only: every run but an agent's ends evaluating its training split), the buffer numpy writes a
  checkpoint's arrays through, or matplotlib for the curves;
- a resume: the method is built (parameters and optimizer) while the checkpoint's arrays (parameters,
  optimizer slots, the best copy) are read whole before they are copied in.

Measured with tracemalloc on an MLP of 4M parameters (tests/graph/test_memory.py), the estimate covers
the real peak of every optimizer; data sets are not counted (`check` does not read them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nngraph.errors import Collector, TrainingError, ValidationError
from nngraph.graph.ir import ModelGraph
from nngraph.graph.methods import METHODS
from nngraph.graph.shapes import (
    activation_values,
    coupling_parameters,
    largest_parameter,
    total_parameters,
)
from nngraph.graph.training import TrainConfig
from nngraph.safe_files import about_bytes, available_memory, describe_bytes

ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8, "tf32": 4, "bfloat16": 4}  # the last two hold float32
FLOAT64 = 8  # initialisation draws in float64 before casting
CHECKPOINT_BUFFER = 16 << 20  # numpy writes an array into a zip member in pieces of this size
TRAINING_IMPORTS = 16 << 20  # the training code a run imports first (~13 MiB), kept to the end
CURVES_IMPORT = 32 << 20  # matplotlib, imported to draw curves.png when the run ends (~28 MiB)
EVAL_ROWS = 2048  # evaluation runs a split in chunks of this many rows (train/: backprop, rbm, boltzmann, dbn, gan)
OPTIMIZER_SLOTS = {"adam": 2}  # sgd: one (momentum) only with a momentum above 0


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes, by what holds them; `peak` is what the run needs at its highest point."""

    parameters: int
    training_state: int  # optimizer arrays, early stopping's copy
    gradients: int
    activations: int  # a training step's
    evaluation: int  # an evaluation chunk's activations (forward only)
    evaluation_rows: int
    initialisation: int
    resume: int  # 0 unless resuming
    largest: int  # bytes of the largest parameter: a checkpoint writes it through a buffer up to that size
    batch: int
    optimizer: str
    experience: int = 0  # an agent's rollout or replay buffer, kept beside everything else

    @property
    def peak(self) -> int:
        passing = max(self.gradients + max(self.activations, self.evaluation), min(CHECKPOINT_BUFFER, self.largest),
                      CURVES_IMPORT)
        training = self.parameters + self.training_state + TRAINING_IMPORTS + self.experience + passing
        return max(self.initialisation, training, self.resume)

    def describe(self) -> str:
        return (f"parameters {describe_bytes(self.parameters)}, gradients and {self.optimizer} state "
                f"{describe_bytes(self.gradients + self.training_state)}, activations for batch {self.batch} "
                f"{describe_bytes(self.activations)}" + self._evaluation()
                + (f", experience {describe_bytes(self.experience)}" if self.experience else ""))

    def _evaluation(self) -> str:
        if not self.evaluation:
            return ""
        return f", evaluation of {self.evaluation_rows} examples at a time {describe_bytes(self.evaluation)}"


def model_memory(model: ModelGraph, dtype: str = "float32") -> int:
    """Bytes to build the model alone (`nngraph.program`): its initialisation peak."""
    size = ITEMSIZE.get(dtype, 4)
    stored = total_parameters(model)
    return max(stored * size + (FLOAT64 + size) * largest_parameter(model), 2 * stored * size)


def training_memory(models: dict[str, ModelGraph], config: TrainConfig, dtype: str | None = None,
                    resume: bool = False, rows: int | None = None) -> MemoryEstimate:
    """The estimate for training `config` on `models` (checked), in `dtype` (default: the config's); `rows`:
    the examples of the largest split, where the data is known (None: `check`, which does not read it, counts
    a whole evaluation chunk)."""
    size = ITEMSIZE.get(dtype or config.dtype, 4)
    trained = [models[name] for name in config.models if name in models]
    stored = sum(_stored_parameters(m, config) for m in trained)
    slots = _optimizer_slots(config)
    best = 1 if config.early_stopping else 0
    resumed = (1 + (2 + slots)) + (1 + slots + best)  # built method, checkpoint arrays read whole
    # the run ends with an evaluation of the training split whether or not the spec asks for validation or test
    # splits (an agent evaluates episodes instead)
    eval_rows = 0 if config.env is not None else min(EVAL_ROWS, EVAL_ROWS if rows is None else rows)
    init = max(max((model_memory(m, dtype or config.dtype) for m in trained), default=0), 2 * stored * size)
    return MemoryEstimate(
        parameters=stored * size,
        training_state=(2 + slots + best) * stored * size,
        gradients=stored * size,
        activations=_step_rows(config) * _per_example(trained, config, training=True) * size,
        evaluation=eval_rows * _per_example(trained, config, training=False) * size,
        evaluation_rows=eval_rows,
        initialisation=init,
        resume=resumed * stored * size if resume else 0,
        largest=max((largest_parameter(m) for m in trained), default=0) * size,
        batch=_step_rows(config),
        optimizer=config.optimizer.name,
        experience=_experience(trained, config, size),
    )


def _experience(models: list[ModelGraph], config: TrainConfig, size: int) -> int:
    """An agent's experience: ppo's, a2c's or reinforce's rollout of `rollout` steps of every copy (observations
    and ~8 numbers a step, in float64 lists, then arrays, then gathered: 3 copies), or dqn's replay buffer of
    `buffer` transitions (two observations and 4 numbers each, in the run's dtype). `ppo(rollout=1000000000)`
    with 1024 copies ran into a MemoryError under an estimate of 48 MiB. A Boltzmann machine's persistent
    chains are experience too: `chains` states of every unit, and a sweep's draws and probabilities beside them
    (`pcd(chains=1000000000000)` likewise)."""
    chains = (config.method.options or {}).get("chains") or 0
    if chains and models:
        return chains * sum(math.prod(models[0].shapes.get(u.name, ())) for u in models[0].units) * size * 3
    if config.env is None or not models:
        return 0
    observation = sum(math.prod(models[0].shapes.get(u.name, ())) for u in models[0].units_with_role("input"))
    options = config.method.options or {}
    if "buffer" in options:
        return options["buffer"] * (2 * observation + 4) * size
    return options.get("rollout", 0) * config.env.copies * (observation + 8) * 8 * 3


def _step_rows(config: TrainConfig) -> int:
    """The rows a training step runs: the batch, each example repeated `samples` times by a VAE
    (`vae(samples=1000000)` ran into a MemoryError under an estimate for the batch alone)."""
    return config.batch * ((config.method.options or {}).get("samples") or 1)


def _stored_parameters(model: ModelGraph, config: TrainConfig) -> int:
    if METHODS[config.method.name].couplings:
        return coupling_parameters(model)
    return total_parameters(model)


def _optimizer_slots(config: TrainConfig) -> int:
    if config.optimizer.name == "sgd":
        return 1 if (config.optimizer.options or {}).get("momentum", 0) else 0
    return OPTIMIZER_SLOTS.get(config.optimizer.name, 2)


def _per_example(models: list[ModelGraph], config: TrainConfig, training: bool) -> int:
    """Values an example holds in a training step (`training`) or an evaluation pass (forward only)."""
    return sum(activation_values(m, training=training) for m in models) * _steps(models, config)


def _steps(models: list[ModelGraph], config: TrainConfig) -> int:
    """Time steps held at once by a recurrent model: a `bptt` window, else the longest declared sequence,
    plus the history its longest delay keeps (1 for a feedforward model)."""
    recurrent = [m for m in models if m.is_recurrent]
    if not recurrent:
        return 1
    lengths = [u.max_length for m in recurrent for u in m.units if u.max_length]
    window = config.bptt or max(lengths, default=1)
    history = max((e.delay for m in recurrent for e in m.edges), default=0)
    return window + history


def check_training_memory(models: dict[str, ModelGraph], config: TrainConfig, errors: Collector,
                          limit: int | None = None, dtype: str | None = None, resume: bool = False) -> None:
    """Refuse a run that would not fit, at the trained model's name, with the figure and its parts."""
    estimate = training_memory(models, config, dtype, resume)
    limit = available_memory() if limit is None else limit
    if estimate.peak > limit:
        model = models[config.models[0]]
        option, span = _experience_option(config) if estimate.experience * 2 > estimate.peak else (None, model.span)
        hint = f"lower {option}: the experience is most of it; nothing was allocated" if option else _hint(estimate)
        if not option and estimate.activations * 2 > estimate.peak:
            span, hint = _activations_option(config, span, hint)
        errors.error(f"training model '{model.name}' needs {about_bytes(estimate.peak)} at its peak "
                     f"({estimate.describe()}); {describe_bytes(limit)} is available", span, hint,
                     kind=ValidationError)


def _experience_option(config: TrainConfig):
    """(the option that made an agent's experience or the persistent chains large, where it is written): chains,
    a replay buffer, or the larger grown of a rollout and the copies (`ppo(rollout=1000000000)` was refused at
    the model's line); the method's or the environment's call where the option is a default."""
    method, options = config.method, config.method.options or {}
    for name in ("chains", "buffer"):
        if options.get(name):
            return name, method.span_of(name)
    env = config.env
    rollout_growth = options.get("rollout", 1) / max(METHODS[method.name].options["rollout"].default, 1)
    if "n" in env.spans and (env.copies > rollout_growth or "rollout" not in method.spans):
        return "n", env.span_of("n")
    return "rollout", method.span_of("rollout")


def _activations_option(config: TrainConfig, span, hint: str):
    """(where, hint) of a refusal whose step's activations are most of the peak: at `samples` where a VAE's
    repeats grew them most (`vae(samples=1000000)`), else at `batch` where it is written (`--set
    batch=9223372036854775808` was refused at the model's line); else at the model, `hint`."""
    samples = (config.method.options or {}).get("samples") or 1
    batch_written = "batch" in config.spans
    if samples > 1 and (samples >= config.batch or not batch_written):
        return config.method.span_of("samples"), ("lower samples: a step runs each example of the batch that many "
                                                  "times; nothing was allocated")
    return (config.spans["batch"], hint) if batch_written else (span, hint)


def _hint(estimate: MemoryEstimate) -> str:
    if estimate.evaluation > max(estimate.parameters, estimate.activations):
        return (f"make the layers smaller: evaluation runs {estimate.evaluation_rows} examples at a time "
                "whatever the batch; nothing was allocated")
    if estimate.activations > estimate.parameters:
        return "lower `batch` or make the layers smaller; nothing was allocated"
    return "make the layers smaller (or use sgd, which keeps less state); nothing was allocated"


def require_training_memory(models: dict[str, ModelGraph], config: TrainConfig, dtype: str | None = None,
                            resume: bool = False) -> None:
    """`check_training_memory` for a run about to start, in the dtype it will really use."""
    errors = Collector()
    check_training_memory(models, config, errors, dtype=dtype, resume=resume)
    errors.raise_if_any()


def out_of_memory(models: dict[str, ModelGraph], config: TrainConfig, dtype: str | None = None,
                  resume: bool = False) -> TrainingError:
    """What a MemoryError during a run becomes: the estimate beside what is available now (the data sets,
    which the estimate leaves out, or other programs took the difference)."""
    estimate = training_memory(models, config, dtype, resume)
    model = models[config.models[0]]
    return TrainingError(f"out of memory while training model '{model.name}': the estimate was "
                         f"{about_bytes(estimate.peak)} ({estimate.describe()}) besides the data; "
                         f"{describe_bytes(available_memory())} is available now", model.span,
                         "lower `batch`, use less data (limit=...), or make the layers smaller")
