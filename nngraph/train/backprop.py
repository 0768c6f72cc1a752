"""Method `backprop`: minibatch gradient descent on a compiled Program, feedforward (`Backprop`) or
recurrent (`Bptt`: backprop through time, whole or truncated).

Truncated BPTT (`bptt N`): each minibatch is cut into consecutive windows of N steps; each window runs
forward from the state the previous window ended in (carried as a constant), backpropagates inside the
window only, and updates the parameters (gradient penalties, clipping and the optimizer step, as ever).
A window without any loss row (one target per sequence, read later) only runs forward. How sequences are
fed and where their losses are read: nngraph/train/sequences.py.
"""

from __future__ import annotations

import functools

import numpy as np

from nngraph.backend.threads import blas_yields_to_kernel_threads
from nngraph.compile.program import Program
from nngraph.data.dataset import Dataset
from nngraph.graph.ir import ModelGraph
from nngraph.graph.memory import EVAL_ROWS
from nngraph.graph.training import TrainConfig
from nngraph.graph.work import BACKWARD_PASSES, Factor, StepWork, pass_flops, require_step_work
from nngraph.train.feeding import (
    Tally,
    check_targets_fit,
    chunks,
    classifies,
    host_metrics,
    multi_label,
    predictions_metric,
    split_inputs,
    target_for,
)
from nngraph.train.image_quality import image_quality
from nngraph.train.superres import superres_samples
from nngraph.train.method import EVAL_SEED, Method, require_batch_work, requested
from nngraph.train.parallel import step_rows, world
from nngraph.train.sequences import (
    Targets,
    Vocabulary,
    check_sequences,
    one_hot,
    per_step_targets,
    row_count,
    row_metrics,
    sample_text,
    select_rows,
    shaped_targets,
)

EVAL_SEQUENCES = 256  # sequences per evaluation pass


def build(checked, config: TrainConfig, backend) -> Backprop:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    program = compile_model(model, config.loss, backend, seed=config.seed)
    return (Bptt if program.train_plan.sequence else Backprop)(model, program, config)


class Backprop(Method):
    """Backprop on a feedforward model."""

    # whether the targets are a multi-label task's 0/1 rows (which metrics a step and an evaluation report),
    # decided once from the whole data set by `check_data`, not from each minibatch or MPI rank's shard, whose
    # targets may happen to be all 0s and 1s where the others' are not; None: from each batch (a method whose
    # data was not checked)
    labels: bool | None = None

    def __init__(self, model: ModelGraph, program: Program, config: TrainConfig):
        super().__init__(config, program.xp, model)
        self.program, self.plan = program, program.train_plan
        self.add_program(program)

    def train_step(self, batch: Dataset, rng) -> dict:
        """One update; its metrics as 0-d arrays on the device (the loop reads them later)."""
        loss, _, grads, values = self.program.loss_and_grads(
            self.inputs(batch.x), target_for(self.plan, batch.y), rng)
        self.apply_update(grads)
        labels = self.labels if self.labels is not None else labels_of(self.plan, batch)
        if self.plan.scored is None:
            return {"loss": loss}
        output = values[self.plan.slot(self.plan.scored)]
        return {"loss": loss, **predictions_metric(self.plan, output, batch, labels)}

    def check_data(self, data: Dataset, span) -> None:
        super().check_data(data, span)
        self.labels = labels_of(self.plan, data)

    def check_targets(self, data: Dataset, span) -> None:
        check_targets_fit(self.plan, data, span)

    def check_step_work(self, data: Dataset, span) -> None:
        """A step: the batch forward and backward."""
        require_batch_work(self.config, data, [self.model], BACKWARD_PASSES, 1, span)

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Loss terms and accuracy or MSE over a whole split, in chunks, without dropout; noise inputs drawn from
        the evaluation's own generator. Every figure is a mean over the examples, so each chunk's is weighed by
        its rows: a chunk's outputs are dropped once measured (kept for the whole split, 5,000 classes of a large
        csv took 21.8 GB)."""
        program, plan = self.program, self.program.eval_plan
        labels = self.labels if self.labels is not None else labels_of(plan, data)
        tally, rng = Tally(), np.random.default_rng(EVAL_SEED)
        for part in chunks(data, EVAL_ROWS):
            values = program.feeds(self.inputs(part.x), target_for(plan, part.y), rng)
            program.run(values, training=False)
            total, terms = program.loss(values, plan)
            metrics = {"loss": total, **terms}
            if plan.scored is not None:
                output = program.backend.to_numpy(values[plan.slot(plan.scored)])
                metrics.update(predictions_metric(plan, output, part, labels))
                metrics.update(image_quality(output, part))  # super-resolution's PSNR and SSIM, and bicubic's
            tally.add(metrics, len(part))
        return host_metrics(tally.means(len(plan.losses) > 1))

    def evaluation_details(self, data: Dataset) -> dict:
        """A multi-label task's accuracy of each label (`label_accuracies`), beside `evaluate`'s mean over the
        labels and its exact-match accuracy; counted chunk by chunk, as `evaluate` measures."""
        plan = self.program.eval_plan
        if plan.scored is None or data.y is None or data.task == "classification" or not len(data):
            return {}
        if not multi_label(plan, data.y):
            return {}
        right = 0
        for part in chunks(data, EVAL_ROWS):
            output = self.predict(part.x, plan.scored)
            if output.shape != part.y.shape:  # (a recurrent model's outputs at every step)
                return {}
            right = right + ((output > 0.5) == (part.y > 0.5)).sum(axis=0)
        return {"label_accuracies": [float(a) for a in right / len(data)]}

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """A unit's values (for a recurrent model at every step: (n, steps, *shape)); noise inputs drawn from
        the evaluation's generator."""
        values = self.program.forward(self.inputs(x), rng=np.random.default_rng(EVAL_SEED))
        return self.program.backend.to_numpy(values[unit or self.plan.outputs[0]])

    def inputs(self, x: np.ndarray) -> dict:
        return split_inputs(self.model, self.plan.feeds, x)

    @property
    def predicted(self) -> str:
        return self.plan.outputs[0]

    def predicts_classes(self, unit: str | None = None) -> bool:
        plan = self.program.eval_plan
        return (unit or self.predicted) == plan.scored and classifies(plan)

    samples_from_inputs = True  # `sample --input LOW.npy`: a super-resolution model's own inputs

    def sample(self, request: dict, splits) -> str:
        """Super-resolution's pictures (low / bicubic / model / truth); other data sets have no samples."""
        return superres_samples(self, request, splits)


def labels_of(plan, batch: Dataset) -> bool:
    """Whether the batch's targets are a multi-label task's 0/1 rows (their accuracies are cheap per step)."""
    return batch.y is not None and multi_label(plan, batch.y)


def _kernel_threads(run):
    """`run` with the BLAS on one thread: a recurrent net's steps are mostly products too small for a BLAS
    to split, so the compiled kernels split them (`blas_yields_to_kernel_threads`)."""
    @functools.wraps(run)
    def yielding(self, *args, **kwargs):
        with blas_yields_to_kernel_threads(self.xp):
            return run(self, *args, **kwargs)
    return yielding


class LossRowShares:
    """Under MPI, sequences of different lengths: a BPTT window's loss is the mean over its valid steps, and
    the ranks' shards hold different numbers of them (a rank may hold none where another holds some). Every rank
    gathers the global batch's lengths (one Allgatherv a step), so each knows, for every window, whether any
    rank has a loss row there (then every rank takes part in the update) and its share of them, which weighs its
    gradients in the all-reduce."""

    def __init__(self, lengths: np.ndarray, rows: int, per_step: bool, total: int):
        self.lengths, self.rows = lengths, rows  # the global batch's lengths; this rank's sequences
        self.per_step, self.total = per_step, total

    @classmethod
    def of_step(cls, batch: Dataset, rng, per_step: bool) -> LossRowShares | None:
        """The shares of this step's windows; None in one process or without lengths (a rank's share of every
        window is then its share of the examples)."""
        ranks = world()
        if not ranks.parallel or batch.lengths is None:
            return None
        shard = step_rows(rng, len(batch))
        lengths = np.zeros(shard.total, np.int64)
        lengths[shard.start:shard.stop] = batch.lengths
        ranks.gather_rows(lengths, shard)
        return cls(lengths, len(batch), per_step, batch.x.shape[1])

    def of(self, start: int, steps: int, targets: Targets | None = None) -> float | None:
        """This rank's share (its `targets`) of the loss rows of the window [start, start + steps) over all
        ranks; None when no rank has one there."""
        everyone = select_rows(None, self.lengths, self.per_step, len(self.lengths), start, steps, self.total)
        if everyone is None:
            return None
        mine = 0 if targets is None else row_count(targets, self.rows, steps)
        return mine / row_count(everyone, len(self.lengths), steps)


class Bptt(Backprop):
    """Backprop through time on a recurrent model."""

    vocabulary: Vocabulary | None = None  # a character model's, from its data or its checkpoint

    def check_targets(self, data: Dataset, span) -> None:
        """Targets one a step (`per_step_targets`) for each of the sequences' steps, or one a sequence."""
        check_targets_fit(self.plan, data, span, data.x.shape[1] if per_step_targets(data) else None)

    def check_data(self, data: Dataset, span) -> None:
        vocabulary = check_sequences(self.model, self.plan, data, span)
        if vocabulary is not None:
            self.vocabulary = vocabulary

    def check_step_work(self, data: Dataset, span) -> None:
        """A step runs the whole sequence, in `bptt` windows of a gradient step each: `bptt 1` on sine(n=1,
        length=10000000) passed every check (its memory is one window's) and made one step of 10^7 updates."""
        config, total = self.config, int(data.x.shape[1])
        window, batch = config.bptt or total, min(config.batch, len(data))
        step = StepWork(rows=batch * total * BACKWARD_PASSES, calls=2 * total, gradient_steps=-(-total // window))
        factors = [Factor("bptt", window, total, config.spans.get("bptt"), True, inverse=True)] if config.bptt else []
        factors += [Factor("sequence length", total, 1, span, True),
                    Factor("batch", batch, 1, config.spans.get("batch"), "batch" in config.spans)]
        require_step_work(step, pass_flops([self.model]), factors, span)

    def inputs(self, x: np.ndarray) -> dict:
        """Character codes one-hot encoded first."""
        if x.dtype.kind in "iu":
            x = one_hot(x, self.plan.shapes[self.plan.feeds[0]][0], self.program.backend.dtype)
        return super().inputs(x)

    @_kernel_threads
    def train_step(self, batch: Dataset, rng) -> dict:
        inputs, y, per_step = self.inputs(batch.x), target_for(self.plan, batch.y), per_step_targets(batch)
        total = batch.x.shape[1]
        window = self.config.bptt or total
        state, tally = None, Tally()
        shares = LossRowShares.of_step(batch, rng, per_step)
        for start in range(0, total, window):
            steps = min(window, total - start)
            part = {name: x[:, start:start + steps] for name, x in inputs.items()}
            targets = select_rows(y, batch.lengths, per_step, len(batch), start, steps, total)
            if targets is None:
                values = self.program.feeds(part, rng=rng, training=True, state=state)
                self.program.run(values, training=True, with_loss=False)
                if shares is not None and shares.of(start, steps) is not None:
                    self.apply_update(self.no_gradients(), share=0.0)  # another rank's rows make the update
            else:
                loss, terms, grads, values = self.program.loss_and_grads(
                    part, shaped_targets(self.plan, targets), rng, state, targets.rows)
                self.apply_update(grads, share=None if shares is None else shares.of(start, steps, targets))
                tally.add({"loss": loss, **terms, **row_metrics(self.program, values, targets, batch)},
                          row_count(targets, len(batch), steps))
            if start + steps < total:
                state = self.program.final_state(values, len(batch))
        return tally.means(len(self.plan.losses) > 1)

    def no_gradients(self) -> dict:
        return {name: self.xp.zeros_like(p) for name, p in self.params.items()}

    def metric_rows(self, data: Dataset) -> int:
        """The loss rows the metrics are means over: each sequence's valid steps for per-step targets, else
        one per sequence."""
        if not per_step_targets(data):
            return len(data)
        return int(data.lengths.sum()) if data.lengths is not None else len(data) * data.x.shape[1]

    @_kernel_threads
    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Loss terms and accuracy or MSE over whole sequences (no truncation), without dropout."""
        tally, per_step = Tally(), per_step_targets(data)
        for part in chunks(data, EVAL_SEQUENCES):
            steps = part.x.shape[1]
            y = target_for(self.plan, part.y)
            targets = select_rows(y, part.lengths, per_step, len(part), 0, steps, steps)
            if targets is None:
                continue
            values = self.program.feeds(self.inputs(part.x), shaped_targets(self.plan, targets),
                                        rows=targets.rows)
            self.program.run(values, training=False)
            loss, terms = self.program.loss(values, self.program.eval_plan)
            tally.add({"loss": loss, **terms, **row_metrics(self.program, values, targets, part)},
                      row_count(targets, len(part), steps))
        return host_metrics(tally.means(len(self.plan.losses) > 1))

    @_kernel_threads
    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        return super().predict(x, unit)

    def sample(self, request: dict, splits) -> str:
        return sample_text(self, request)

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """Text: one step a character of --length (one text, whatever --count); a fill-in, a pass a sequence."""
        if self.vocabulary is None or request.get("fill"):
            return super().sample_passes(request)
        length = requested(request, "length")
        return length, f"--length {length}"

    samples_from_inputs = False  # `sample --input` is for super-resolution only

    @_kernel_threads
    def fill(self, values: np.ndarray, missing: np.ndarray, request: dict) -> tuple[np.ndarray, str]:
        """The fill-in protocol (train/fill_in.py) for a model that predicts its next input (sine: y[t] = x[t+1]):
        the model runs through each sequence, and inside a gap its prediction of a step is that step's input.
        Stretches without missing steps run as one window; each missing step runs alone after the step before
        it, from the state that step ended in."""
        self._check_fills_next_input()
        program, plan = self.program, self.program.eval_plan
        filled, n, state = values.copy(), len(values), None
        gaps = missing.reshape(n, values.shape[1], -1).any(axis=(0, 2))  # steps where some example misses values
        start = 0
        while start < values.shape[1]:
            stop = start + 1 if gaps[start] else next((t for t in range(start + 1, values.shape[1]) if gaps[t]),
                                                      values.shape[1])
            part = {plan.feeds[0]: np.ascontiguousarray(filled[:, start:stop])}
            run = program.feeds(part, state=state)
            program.run(run, training=False, with_loss=False)
            state = program.final_state(run, n, plan)
            predicted = program.batch_major(run[plan.slot(plan.outputs[0])], plan, n)[:, -1]
            if stop < values.shape[1]:  # the prediction of step `stop` fills its missing values
                filled[:, stop] = np.where(missing[:, stop], program.backend.to_numpy(predicted), values[:, stop])
            start = stop
        return filled, "the model run through each sequence, its predictions the inputs inside the gaps"

    def _check_fills_next_input(self) -> None:
        from nngraph.errors import BuildError
        from nngraph.train.fill_in import require_output_like_input

        hint = ("sequence fill-in runs models of real-valued series whose output at a step predicts the next "
                "step's input, as on `data sine(...)`")
        if self.vocabulary is not None:
            raise BuildError(f"model '{self.model.name}' is a character model; it cannot fill in the gaps of a "
                             "sequence", self.config.method.span, hint)
        require_output_like_input(self, self.program.eval_plan, "fill in the gaps of a sequence", hint)

    def extra_state(self) -> dict[str, np.ndarray]:
        return {} if self.vocabulary is None else {"text.vocabulary": self.vocabulary.as_array()}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        if "text.vocabulary" in state:
            self.vocabulary = Vocabulary.from_array(state["text.vocabulary"])
