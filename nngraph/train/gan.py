"""Method `gan`: a generator and a discriminator trained in alternation (Goodfellow et al. 2014).

Every step takes the loop's data minibatch and a noise minibatch of the same size (the generator's
`noise` units draw from the loop's checkpointed rng, so resume is exact) and updates the
discriminator on both: binary cross-entropy with target 1 on real and 0 on generated points,
d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0). Every k-th step then updates the generator with the
non-saturating loss g_loss = BCE(D(G(z')), 1) = -log D(G(z')) on a fresh noise batch: its gradient
reaches the generator through the discriminator's input gradient (`Program.slot_gradients`), seeded
into the generator's output slot. k = 1 alternates one and one; k discriminator steps per generator
step thus use k fresh data minibatches.

Each model has its own optimizer: the train block's `optimizer`, unless `g_optimizer=...` or
`d_optimizer=...` (an optimizer call, e.g. `adam(lr=2e-4, beta1=0.5)`) names another. A schedule
scales every optimizer's rate by the same factor.

Metrics per step: d_loss, g_loss (the generator's loss on the discriminator step's fakes),
d_real (D's accuracy on real data) and d_fake (on generated data). `evaluate` adds, for the 2-D
mixtures (`ring`, `grid`), the modes captured and the high-quality share of 2500 samples
(`gan_metrics`); with a `validation` split these appear in every epoch's record.

`nngraph predict` runs the discriminator (`predict_model`): one probability of "real" per `pack`
consecutive input examples, judged together as in training.
"""

from __future__ import annotations

import math

import numpy as np

from nngraph.backend import array_module, computed_on_device, device_scalar, to_device
from nngraph.compile.program import Program
from nngraph.data.dataset import Dataset
from nngraph.errors import BuildError, DataError, plural
from nngraph.graph.ir import ModelGraph
from nngraph.graph.memory import EVAL_ROWS
from nngraph.graph.shapes import minibatch_group
from nngraph.graph.work import BACKWARD_PASSES
from nngraph.graph.training import LossTerm, TrainConfig
from nngraph.ops.activations import stable_softplus
from nngraph.spec.options import Choice
from nngraph.train.feeding import host_metrics, reshape_hint
from nngraph.train.gan_metrics import SAMPLES, has_modes, mode_metrics
from nngraph.train.checkpoint import saved_count
from nngraph.train.method import EVAL_SEED, Method, count_times_steps, require_batch_work
from nngraph.train.optimizers import make_optimizer, settings

ROLES = ("generator", "discriminator")
FILL_STARTS = 4  # noise draws per example that the fill-in's search starts from; the best match is kept
FILL_OPTIMIZER = Choice("adam", {"lr": 0.05})  # the steps of the fill-in's search for the noise
# the weight of the fill-in's prior term on normal noise, prior * ||z||^2 / 2 (the noise's negative log-density
# up to a constant; Yeh et al. 2017): it keeps z where the generator was trained, instead of drifting to where
# it makes junk. Off by default: on gan_digits (benchmarks/gan_fill_prior.py, 3 seeds) the median share of filled
# pixels right on a held-out part of the training split fell as the weight rose, 73.3% at 0 to 71.9% at 1
FILL_PRIOR = 0.0
# the largest weight taken: the squared error it is weighed against is of values in [0, 1], so beyond a million
# the search ends at z = 0 whatever the known part; far beyond, prior * z overflowed float32 (1e308: NaN fill-ins
# under overflow warnings)
FILL_PRIOR_MAX = 1e6


def build(checked, config: TrainConfig, backend) -> Gan:
    from nngraph.compile import compile_model

    gen, disc = (checked.models[config.method.options[role]] for role in ROLES)
    judge = LossTerm(1.0, "bce", disc.units_with_role("output")[0].name, None)
    # the generator's backward pass reaches its noise too: fill-in searches the noise (`Gan.fill`)
    programs = (compile_model(gen, (), backend, seed=config.seed, input_grads=True),
                compile_model(disc, (judge,), backend, seed=config.seed + 1, input_grads=True))
    return Gan((gen, disc), programs, config)


def judge_metrics(real_logits, fake_logits) -> dict:
    """Both losses and the discriminator's accuracies, from its logits on real and generated data, as 0-d
    arrays where the logits are (a training step's stay on the device)."""
    return judged(real_judged(real_logits), fake_logits)


def real_judged(real_logits) -> dict:
    """The discriminator on real data: its loss there and its accuracy, means over the (packed) examples."""
    xp = array_module(real_logits)
    return {"real_loss": stable_softplus(xp, -real_logits).mean(), "d_real": (real_logits > 0).mean()}


def judged(real: dict, fake_logits) -> dict:
    """`judge_metrics` from `real_judged`'s figures and the logits on generated data."""
    xp = array_module(fake_logits)
    fake, fooled = (stable_softplus(xp, z).mean() for z in (fake_logits, -fake_logits))
    return {"d_loss": real["real_loss"] + fake, "g_loss": fooled, "d_real": real["d_real"],
            "d_fake": (fake_logits < 0).mean()}


class Gan(Method):
    """Implements the trainer's Method protocol (see nngraph.train.loop)."""

    def __init__(self, models: tuple[ModelGraph, ModelGraph], programs: tuple[Program, Program],
                 config: TrainConfig):
        super().__init__(config, programs[0].xp)
        (self.gen_model, self.disc_model), (self.gen, self.disc) = models, programs
        options = config.method.options
        self.k, self.pack = options["k"], options["pack"]
        self.instance_noise = options["instance_noise"]
        self.noise_std = self.instance_noise  # this epoch's: the schedule's factor times instance_noise
        self.evaluation_unit = self.pack  # the discriminator judges `pack` examples at a time
        for role, program, key in zip(ROLES, programs, ("g_optimizer", "d_optimizer")):
            choice = options[key] or config.optimizer  # each moves at its own rate, scaled by the schedule
            self.add_program(program, choice, role, base_lr=settings(choice)["lr"])
        gplan, dplan = self.gen.train_plan, self.disc.train_plan
        self.fake_slot = gplan.slot(gplan.outputs[0])  # the generator output the discriminator judges
        self.real_input = dplan.feeds[0]
        self.judged_shape = dplan.shapes[self.real_input]
        self.logit_slot = dplan.slot(dplan.outputs[0] + ":z")
        self.loss_slot = dplan.losses[0].slot
        self.steps = 0
        self._labels: dict = {}  # the discriminator's targets by (real rows, generated rows), on the device
        # real and generated rows share one discriminator batch: each half a whole number of minibatch_std
        # groups, so that no group mixes the two
        self.real_rows = self.pack * math.lcm(1, *(minibatch_group(e) for e in self.disc_model.edges
                                                   if e.kind == "minibatch_std"))

    def check_data(self, dataset: Dataset, span) -> None:
        """Real examples must look like generated ones: the generator output's shape."""
        want = self.gen.train_plan.shapes[self.gen.train_plan.outputs[0]]
        if dataset.feature_shape != want:
            raise DataError(f"data '{dataset.name}' has examples of shape {list(dataset.feature_shape)}, but "
                            f"generator '{self.gen_model.name}' makes {list(want)}", span,
                            reshape_hint(dataset.feature_shape, want))

    # ---- the two passes ------------------------------------------------------------------------

    def generate(self, n: int, rng, training: bool = False) -> tuple[dict, list]:
        """Generator slot values and vjp contexts for `n` noise draws from `rng`."""
        # Program.feeds reads the batch size off an input array; the generator has none, so pass an empty one
        values = self.gen.feeds({"batch": np.empty((n, 0), np.float32)}, rng=rng, training=training)
        return values, self.gen.run(values, training)

    def packed(self, x):
        """Examples as the discriminator sees them: `pack` rows concatenated into one (a remainder dropped)."""
        return x[:len(x) // self.pack * self.pack].reshape(-1, *self.judged_shape)

    def set_learning_rate(self, lr: float) -> None:
        """The schedule's rate to both optimizers, and its factor to the instance noise: it fades as the rate does."""
        super().set_learning_rate(lr)
        self.noise_std = self.instance_noise * lr / settings(self.config.optimizer)["lr"]

    def _with_instance_noise(self, x, rng):
        """`x` plus Gaussian noise of this epoch's std, drawn as the programs draw theirs (Program._draw): from
        the loop's generator, under MPI as one process would where the rows allow it."""
        dtype = np.dtype(self.gen.backend.dtype)
        rows = getattr(rng, "rows", None)
        draw = rows("standard_normal", x.shape, dtype=dtype) if rows else rng.standard_normal(x.shape, dtype=dtype)
        return x + self.gen.backend.asarray(draw) * dtype.type(self.noise_std)

    def _judge(self, x, target: np.ndarray, rng, noised: bool = False) -> tuple[dict, list]:
        # x is on the device: real rows and the generator's, or the generator's alone; `noised`: with its
        # instance noise already
        if self.noise_std and not noised:  # the discriminator sees every example blurred, real and generated alike
            x = self._with_instance_noise(x, rng)
        values = self.disc.feeds({self.real_input: computed_on_device(self.packed(x))}, target, rng, training=True)
        return values, self.disc.run(values, training=True)

    def labels(self, real: int, fake: int):
        """The targets of `real` real then `fake` generated rows (1 and 0), a column on the device: copied there
        once per batch size, not every step."""
        if (real, fake) not in self._labels:
            column = np.concatenate([np.ones((real, 1)), np.zeros((fake, 1))]).astype(self.gen.backend.dtype)
            self._labels[real, fake] = to_device(column, self.xp)
        return self._labels[real, fake]

    def discriminator_pass(self, real: np.ndarray, rng) -> tuple[dict, dict]:
        """(metrics, gradients of d_loss) on a real batch and as many generated points."""
        n = len(real) // self.real_rows * self.real_rows or len(real) // self.pack * self.pack
        fake = self.generate(n, rng, training=True)[0][self.fake_slot]
        real, n = real[:n], n // self.pack
        x = self.xp.concatenate([self.gen.backend.asarray(real), fake])
        if n * self.pack % self.real_rows:  # a batch smaller than a minibatch_std group of each half
            return self._judge_halves_apart(x, n, rng)
        values, ctxs = self._judge(x, self.labels(n, n), rng)
        # the loss is the mean over both halves; twice that is BCE(real, 1) + BCE(fake, 0)
        grads = self.disc.backward(values, ctxs, seeds={self.loss_slot: device_scalar(self.xp, 2.0, x.dtype)})
        logits = values[self.logit_slot].reshape(-1)
        return judge_metrics(logits[:n], logits[n:]), grads

    def _judge_halves_apart(self, x, n: int, rng) -> tuple[dict, dict]:
        """`discriminator_pass` for halves of `n` judged rows that are no whole number of minibatch_std groups:
        each half in a pass of its own, so that no group mixes real and generated examples (the instance noise
        drawn for both at once, as in one pass). The gradients of BCE(real, 1) and BCE(fake, 0) are summed."""
        if self.noise_std:
            x = self._with_instance_noise(x, rng)
        rows, logits, grads = len(x) // 2, [], {}
        for half, target in ((x[:rows], self.labels(n, 0)), (x[rows:], self.labels(0, n))):
            values, ctxs = self._judge(half, target, rng, noised=True)
            for name, g in self.disc.backward(values, ctxs, seeds={self.loss_slot: device_scalar(self.xp, 1.0, x.dtype)}
                                              ).items():
                grads[name] = grads[name] + g if name in grads else g
            logits.append(values[self.logit_slot].reshape(-1))
        return judge_metrics(*logits), grads

    def generator_pass(self, n: int, rng) -> tuple:
        """(g_loss, its gradients for the generator's parameters) on `n` fresh noise draws."""
        values, ctxs = self.generate(max(n // self.pack, 1) * self.pack, rng, training=True)
        fake = values[self.fake_slot]
        judged, judge_ctxs = self._judge(fake, self.labels(len(fake) // self.pack, 0), rng)
        seed = {self.loss_slot: device_scalar(self.xp, 1.0, fake.dtype)}
        to_input = self.disc.slot_gradients(judged, judge_ctxs, [self.real_input], seeds=seed)[self.real_input]
        grads = self.gen.backward(values, ctxs, seeds={self.fake_slot: to_input.reshape(fake.shape)})
        return judged[self.loss_slot], grads

    # ---- the Method protocol -------------------------------------------------------------------

    def check_step_work(self, data: Dataset, span) -> None:
        """A step: the discriminator forward and backward on the batch and as many fakes, the generator forward;
        every k-th step also both forward and backward on a fresh noise batch (at most 3 passes with their
        backward passes a row, counted through both models)."""
        require_batch_work(self.config, data, [self.gen_model, self.disc_model], 3 * BACKWARD_PASSES, 2, span)

    def train_step(self, batch: Dataset, rng) -> dict:
        metrics, grads = self.discriminator_pass(batch.x, rng)
        self.apply_update(grads, self.parts[1])
        self.steps += 1
        if self.steps % self.k == 0:
            self.apply_update(self.generator_pass(len(batch), rng)[1], self.parts[0])
        return metrics

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Losses and accuracies on the split's real data and 2500 generated points (fixed noise);
        for the 2-D mixtures also the modes captured and the high-quality share."""
        return self.evaluation_result(self.evaluation_means(data), data)

    def evaluation_means(self, data: Dataset) -> dict[str, float]:
        """What is a mean over the split's examples (`pack` at a time): the discriminator on real data."""
        return real_judged(self._logits(data.x))  # 0-d arrays: read with the rest, or for MPI's reduction

    def evaluation_result(self, means: dict[str, float], data: Dataset) -> dict[str, float]:
        """The rest is of generated points, not of the split's examples: the same on every MPI rank."""
        fake = self.sample_points(SAMPLES, EVAL_SEED)
        metrics = judged(means, self._logits(fake))
        if has_modes(data.info):
            metrics.update(mode_metrics(fake, data.info["centres"], data.info["std"]))
        return host_metrics(metrics)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """The discriminator's logits on examples `x`, about EVAL_ROWS at a time: each chunk a whole number of
        minibatch_std groups of packs (`real_rows`), so the logits are those of the whole set at once, whose
        activations were all held together (the final evaluation of a large split, `nngraph eval`)."""
        step = self.real_rows * max(1, EVAL_ROWS // self.real_rows)
        chunks = [self._chunk_logits(x[start:start + step]) for start in range(0, len(x), step)] or \
            [self._chunk_logits(x)]
        # joined where they were computed: an evaluation reads the device once, with its other figures
        return self.disc.backend.to_numpy(chunks[0] if len(chunks) == 1 else self.disc.xp.concatenate(chunks))

    def _chunk_logits(self, x: np.ndarray):
        """The logits of one chunk, on the device (a copy: the program's next run may reuse its buffers)."""
        values = self.disc.feeds({self.real_input: self.packed(x)})
        self.disc.run(values, training=False, with_loss=False)
        return values[self.disc.eval_plan.slot(self.disc_model.units_with_role("output")[0].name + ":z")] \
            .reshape(-1).copy()

    def sample_points(self, n: int, seed: int) -> np.ndarray:
        """`n` generated examples (host arrays) from noise drawn with `seed`."""
        values, _ = self.generate(n, np.random.default_rng(seed))
        return self.gen.backend.to_numpy(values[self.gen.eval_plan.slot(self.gen.eval_plan.outputs[0])])

    @property
    def predict_model(self) -> ModelGraph:
        """`nngraph predict` runs the discriminator (the train block names no single model)."""
        return self.disc_model

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """The discriminator's probability that examples are real: one row per `pack` consecutive examples."""
        if len(x) % self.pack:
            raise DataError(f"the discriminator judges {self.pack} examples at a time (pack={self.pack}), "
                            f"but {len(x)} examples were given", None,
                            f"give a multiple of {self.pack} examples; row i of the output judges examples "
                            f"{self.pack}*i to {self.pack}*i+{self.pack - 1} together")
        values = self.disc.forward({self.real_input: self.packed(x)})
        return self.disc.backend.to_numpy(values[unit or self.disc.eval_plan.outputs[0]])

    def sample(self, request: dict, splits) -> str:
        """Generated examples: a scatter over the data for 2-D points, an image grid for pictures."""
        from nngraph.train.outputs import sample_path
        from nngraph.viz.samples import write_generated

        path = write_generated(sample_path(request), self.sample_points(request["count"], request["seed"]),
                               splits.train)
        return f"wrote {plural(request['count'], 'generated example')} to {path}"

    predicted = "real"  # the discriminator's probability
    takes_fill_prior = True  # `sample --fill --prior W` (train/fill_in.py refuses it for other methods)

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """A fill-in searches from FILL_STARTS noise draws an example, --steps Adam steps each (forward and
        backward); plain samples are a generator pass each."""
        if not request.get("fill"):
            return super().sample_passes(request)
        passes, asked = count_times_steps(request, FILL_STARTS * BACKWARD_PASSES)
        return passes, f"{asked} x {FILL_STARTS} starts"

    def fill(self, values: np.ndarray, missing: np.ndarray, request: dict) -> tuple[np.ndarray, str]:
        """The fill-in protocol (train/fill_in.py): the noise whose generated example best matches the known
        part. From FILL_STARTS noise draws per example (`--seed`), `--steps` Adam steps on the noise lower the
        squared error on the known values plus, for normal noise, the prior term `prior * ||z||^2 / 2` (`--prior`,
        default FILL_PRIOR; uniform noise is kept in [-1, 1] instead); the start with the lowest objective gives
        the fill-in."""
        xp, plan, backend = self.xp, self.gen.train_plan, self.gen.backend
        noise = [r for r in plan.random if r.slot in plan.shapes]
        if len(noise) != 1 or len(plan.random) != 1 or self.gen.buffers:
            # the search runs the training pass (the one with a backward pass): dropout would perturb it, and a
            # normalisation's running statistics would move
            raise BuildError(f"generator '{self.gen_model.name}' cannot fill in: the search for its noise needs a "
                             "generator with one noise unit, no dropout and no normalisation",
                             self.config.method.span)
        bounded = noise[0].kind == "uniform"
        prior = self.fill_prior(request, bounded)
        n, steps = len(values), int(request.get("steps") or 1000)
        rows = n * FILL_STARTS
        known = backend.asarray(np.repeat(~missing.reshape(n, -1), FILL_STARTS, axis=0).astype(values.dtype))
        target = backend.asarray(np.repeat(values.reshape(n, -1), FILL_STARTS, axis=0))
        draw = self.gen.feeds({"batch": np.empty((rows, 0), np.float32)}, rng=np.random.default_rng(
            request.get("seed", 0)))
        z = draw[noise[0].slot]
        search = make_optimizer(FILL_OPTIMIZER, {"z": z}, xp)
        for _ in range(steps):
            _, grads = self.fill_objective(z, known, target, prior)
            search.update({"z": z}, {"z": grads})
            if bounded:
                xp.clip(z, -1, 1, out=z)
        objective, _ = self.fill_objective(z, known, target, prior, with_grads=False)
        best = backend.to_numpy(objective).reshape(n, FILL_STARTS).argmin(axis=1)
        generated = self._generated_from(z)
        chosen = generated.reshape(n, FILL_STARTS, -1)[np.arange(n), best]
        term = f", prior {prior:g} * ||z||^2 / 2" if prior else ""
        return chosen.reshape(values.shape), (f"the noise searched from {plural(FILL_STARTS, 'draw')} by "
                                              f"{plural(steps, 'Adam step')} to match the known part{term}")

    def fill_prior(self, request: dict, bounded: bool) -> float:
        """The prior term's weight: `--prior`, else FILL_PRIOR; none for uniform noise, whose density is flat
        inside the [-1, 1] the search keeps it in."""
        given = request.get("prior")
        if bounded and given:
            raise DataError(f"--prior {given:g}: generator '{self.gen_model.name}' draws uniform noise, whose "
                            "density is flat inside [-1, 1], where the search keeps it", None,
                            "leave --prior out; it weighs the prior of normal noise")
        if given is not None and (not math.isfinite(given) or given < 0 or given > FILL_PRIOR_MAX):
            raise DataError(f"--prior {given:g}: the prior term's weight must be a number from 0 to "
                            f"{FILL_PRIOR_MAX:g}", None, "beyond a million the prior outweighs any match of the known "
                            "part: the search ends at z = 0")
        return 0.0 if bounded else float(FILL_PRIOR if given is None else given)

    def fill_objective(self, z, known, target, prior: float = 0.0, with_grads: bool = True):
        """What the fill-in lowers, per row: the squared error on the known values of the example generated
        from noise `z` plus `prior * ||z||^2 / 2`; and its gradient with respect to `z`."""
        slot = self.gen.train_plan.random[0].slot
        values = self.gen.feeds({"batch": np.empty((len(z), 0), np.float32)}, rng=np.random.default_rng(0),
                                training=True)
        values[slot] = z
        ctxs = self.gen.run(values, training=True)
        fake = values[self.fake_slot].reshape(len(z), -1)
        residual = known * (fake - target)
        objective = (residual ** 2).sum(axis=1)
        if prior:
            objective = objective + (prior / 2) * (z.reshape(len(z), -1) ** 2).sum(axis=1)
        if not with_grads:
            return objective, None
        seeds = {self.fake_slot: (2 * residual).reshape(values[self.fake_slot].shape)}
        grads = self.gen.slot_gradients(values, ctxs, [slot], seeds)[slot]
        return objective, (grads + prior * z if prior else grads)

    def _generated_from(self, z) -> np.ndarray:
        values = self.gen.feeds({"batch": np.empty((len(z), 0), np.float32)}, rng=np.random.default_rng(0))
        values[self.gen.eval_plan.random[0].slot] = z
        self.gen.run(values, training=False, with_loss=False)
        return self.gen.backend.to_numpy(values[self.gen.eval_plan.slot(self.gen.eval_plan.outputs[0])])

    def extra_state(self) -> dict[str, np.ndarray]:
        return {"gan.steps": np.asarray(self.steps)}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.steps = saved_count(state.get("gan.steps", 0), "GAN step count")
