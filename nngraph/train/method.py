"""The base of every training method: what the loop asks of a method (the `Method` protocol in
nngraph/train/loop.py) but a step, an evaluation and the method's own options.

A method's parameters come in parts (`Part`): the live arrays one optimizer moves, and beside them a
program's buffers (state that is not trained by gradients, such as a normalisation's running statistics,
`Program.buffers`). Most methods have one part; a GAN has two, its generator's and its discriminator's. The
base gives every method:

- `params`: the live arrays (a part's names prefixed with the part's where there are several);
- `set_learning_rate`: the schedule's rate to the optimizer; a part with its own optimizer (`base_lr`) moves
  its rate by the same factor;
- `apply_update(grads, part)`: the one update of every method: under MPI the gradients averaged over the
  ranks first (train/parallel.py), then L1/L2 penalties (biases exempt), clipping by
  the global norm, then the optimizer's in-place step (regularize.py, optimizers.py);
- `state()`/`load_state()`: a checkpoint's arrays, `params.NAME`, `optimizer.*` and `buffers.NAME`
  (`params.PART.NAME`... where there are several parts), then what `extra_state` adds (persistent chains, a
  text vocabulary, step and epoch counts), put back by `load_extra_state`;
- `check_data`: the data's examples must fit the model's inputs (nngraph/train/feeding.py);
- `metric_rows(data)`: the rows a step's or an evaluation's metrics are means over, which weigh a rank's
  metrics under MPI (the examples; a recurrent model's valid steps);
- `evaluation_means`/`evaluation_result`: an evaluation in two halves, so that under MPI each rank evaluates
  its share of a split (train/loop.py: `evaluate`): the metrics that are means over the split's examples
  (weighted means of the ranks' shares), then the figures from those means and the whole split (a GAN's
  generated points are not the split's). By default every metric of `evaluate` is a mean over examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nngraph.graph.work import Factor, StepWork, pass_flops, require_step_work
from nngraph.ops.conv import CONV_OPS
from nngraph.train.checkpoint import nest, restore_arrays, unnest
from nngraph.train.feeding import check_data_fits
from nngraph.train.optimizers import Optimizer, host_array, make_optimizer, settings
from nngraph.train.parallel import world
from nngraph.train.regularize import add_penalties, clip_by_global_norm


EVAL_SEED = 0  # an evaluation's own generator (noise, a VAE's eps): the same draws every time, the loop's untouched
SAMPLE_DEFAULTS = {"count": 64, "steps": 1000, "length": 200}  # `nngraph sample`'s defaults (cli/training.py)


def requested(request: dict, option: str) -> int:
    """A count option of `sample`'s request, its default where the request has none."""
    return int(request.get(option) or SAMPLE_DEFAULTS[option])


def count_times_steps(request: dict, per_step: int = 1) -> tuple[int, str]:
    """`sample_passes` of a method that runs `per_step` passes an example each of --steps rounds (Gibbs sweeps,
    a fill-in's rounds)."""
    count, steps = requested(request, "count"), requested(request, "steps")
    return count * steps * per_step, f"--count {count} x --steps {steps}"


def require_batch_work(config, data, models: list, passes: int, gradient_steps: int, span) -> None:
    """One step of `passes` passes (forward 1, with its backward BACKWARD_PASSES) of each of the batch's rows
    through `models` (as many rows as the training split has, at most) within graph/work.py's bound, refused at
    `batch` (else at `span`): the memory estimate let by a batch that made one step of minutes (an MLP of 50M
    parameters on moons(n=16384), batch 16384: 69 s a step, ~71 GFLOP/s; batch 65536 fitted in 13 GB)."""
    batch = min(config.batch, len(data))
    factor = Factor("batch", batch, 1, config.spans.get("batch"), "batch" in config.spans)
    require_step_work(StepWork(rows=batch * passes, gradient_steps=gradient_steps), pass_flops(models), [factor],
                      span)


@dataclass
class Part:
    """Parameters that one optimizer moves, and the buffers saved and restored beside them."""

    name: str  # "" for a method's only part; a GAN's are "generator" and "discriminator"
    params: dict  # live arrays, updated in place
    optimizer: Optimizer
    buffers: dict = field(default_factory=dict)
    base_lr: float | None = None  # its own optimizer's rate; None: it follows the schedule's rate as it is

    def key(self, kind: str) -> str:
        """Where its arrays of `kind` ("params", "optimizer", "buffers") sit in a checkpoint."""
        return f"{kind}.{self.name}" if self.name else kind


class Method:
    """Implements the loop's Method protocol but `train_step` and `evaluate`, which each method adds."""

    splits_evaluation = True  # False: under MPI every rank evaluates whole splits (the metrics are not means)
    evaluation_unit = 1  # examples judged together (a GAN's `pack`): a rank's share is a whole number of them
    # a program of it convolves: its step runs the convolutions split over the kernel threads, and the BLAS on
    # one thread (the loop's `run_train_step`; docs/performance.md, LeNet-5); a dense net's products are the BLAS's
    convolutional = False

    def __init__(self, config, xp, model=None):
        self.config, self.xp, self.model = config, xp, model
        self.parts: list[Part] = []

    def add_part(self, params: dict, choice=None, name: str = "", buffers: dict | None = None,
                 base_lr: float | None = None) -> Part:
        """Parameters moved by the optimizer `choice` names (default: the train block's)."""
        optimizer = make_optimizer(choice or self.config.optimizer, params, self.xp)
        part = Part(name, params, optimizer, buffers or {}, base_lr)
        self.parts.append(part)
        return part

    def add_program(self, program, choice=None, name: str = "", base_lr: float | None = None) -> Part:
        """A Program's parameters, and its buffers where it has any."""
        self.convolutional |= any(ins.op.name in CONV_OPS for ins in program.train_plan.instrs)
        return self.add_part(program.params, choice, name, getattr(program, "buffers", None), base_lr)

    @property
    def optimizer(self) -> Optimizer:
        return self.parts[0].optimizer

    @property
    def params(self) -> dict:
        if len(self.parts) == 1:
            return self.parts[0].params  # the optimizer's own dict: it recognises it by identity
        return {f"{p.name}.{k}": a for p in self.parts for k, a in p.params.items()}

    @property
    def trained_arrays(self) -> dict:
        """The parameters and the buffers (named as `params` names parameters): the model an epoch leaves,
        which early stopping keeps of its best epoch and restores whole (its parameters with that epoch's
        running statistics, not the last epoch's)."""
        if len(self.parts) == 1:
            return {**self.parts[0].params, **self.parts[0].buffers}
        return {f"{p.name}.{k}": a for p in self.parts for k, a in {**p.params, **p.buffers}.items()}

    def set_learning_rate(self, lr: float) -> None:
        """Called by the loop at the start of every epoch with the schedule's rate."""
        for part in self.parts:
            if part.base_lr is None:
                part.optimizer.lr = lr
            else:
                part.optimizer.lr = part.base_lr * lr / settings(self.config.optimizer)["lr"]

    def apply_update(self, grads: dict, part: Part | None = None, share: float | None = None) -> None:
        """Penalties and clipping on `grads` (in place), then the optimizer's step on `part`'s parameters.
        `share`: under MPI, this rank's share of the rows the loss is a mean over, where they are not the
        examples (a BPTT window's valid steps); by default its share of the step's examples."""
        part = part or self.parts[0]
        config = self.config
        world().allreduce_mean(grads, self.xp, share)  # under MPI: the global batch's, the same on every rank
        add_penalties(part.params, grads, config.l1, config.l2, self.xp)
        if config.clip:
            clip_by_global_norm(grads, config.clip, self.xp)
        part.optimizer.update(part.params, grads)

    def check_data(self, data, span) -> None:
        check_data_fits(self.model, data, span)

    predicted = "value"  # what `predict` gives without --unit, as a table's header names it

    def predicts_classes(self, unit: str | None = None) -> bool:
        """Whether `predict`'s values of `unit` (default: the output) are class probabilities: here never."""
        return False

    def check_step_work(self, data, span) -> None:
        """The training data (its training split): is one step's work, which the data's shape may multiply,
        within graph/work.py's bound? Checked before the run folder is made; here the spec's `check` judged
        it all (graph/methods.py: MethodSpec.work)."""

    def check_evaluation_work(self, data, span, what: str) -> None:
        """An evaluation of `data` (`what`: "the validation split", each epoch; "--data" of `nngraph eval`): is its
        work within graph/work.py's bound where an option multiplies it (a VAE's `samples`)? Here an example's
        forward pass each: an evaluation is as long as its data, as an epoch is."""

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """The forward passes of an example through the train block's models that `sample` runs for `request`,
        and the options that multiply to them (session.py bounds their work, graph/work.py): here one a
        sample."""
        count = requested(request, "count")
        return count, f"--count {count}"

    def check_targets(self, data, span) -> None:
        """Training and evaluation data (not `predict`'s inputs): are its targets what the loss reads? Here,
        nothing is read."""

    def metric_rows(self, data) -> int:
        """The rows that a step's or an evaluation's metrics of `data` are means over (under MPI each rank's
        are weighed by them): the examples; a recurrent model's loss rows (train/backprop.py)."""
        return len(data)

    # ---- evaluation in shares (MPI) ---------------------------------------------------------------

    def evaluation_means(self, data) -> dict[str, float]:
        """The metrics of `data` that are means over its examples (`evaluation_unit`s): here, all of them."""
        return self.evaluate(data)

    def evaluation_result(self, means: dict[str, float], data) -> dict[str, float]:
        """A split's metrics from `evaluation_means` over the whole split (`data`)."""
        return means

    def evaluation_details(self, data) -> dict:
        """What the final evaluation reports beside the metrics and is no single figure (summary.json's
        splits and `nngraph eval`, not the epoch records): here, nothing."""
        return {}

    # ---- checkpoints ----------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        state = {}
        for part in self.parts:
            state.update(nest(part.key("params"), self._host(part.params)))
            state.update(nest(part.key("optimizer"), part.optimizer.state_dict()))
            state.update(nest(part.key("buffers"), self._host(part.buffers)))
        return {**state, **self.extra_state()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for part in self.parts:
            restore_arrays(unnest(part.key("params"), state), part.params, "parameter", self.xp)
            part.optimizer.load_state_dict(unnest(part.key("optimizer"), state))
            restore_arrays(unnest(part.key("buffers"), state), part.buffers, "buffer", self.xp)
        self.load_extra_state(state)

    def extra_state(self) -> dict[str, np.ndarray]:
        """A method's own state beyond parameters, optimizers and buffers, under full checkpoint names."""
        return {}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back what `extra_state` saved (`state` is the whole checkpoint)."""

    def _host(self, arrays: dict) -> dict[str, np.ndarray]:
        return {name: host_array(self.xp, a) for name, a in arrays.items()}
