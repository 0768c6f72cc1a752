"""Method `vae`: a variational autoencoder trained on the negative ELBO.

The model holds a `sample z ~ normal(mu, logvar)` unit, which the compiler lowers to
`gaussian_sample(mu, logvar, eps)` with eps drawn from the rng passed to `Program.feeds`: in
training that is the loop's checkpointed generator, so a resumed run draws the same noise.
The program is compiled with `sum_units=True`, so the reconstruction terms are sums over
units (means over the batch), like `kl_normal`: the loss is the negative ELBO per example.

Options (`method vae(samples=1, warmup=0)`):
- samples: latent draws per data point; each row is repeated that many times, and the mean
  over the repeated batch is the Monte-Carlo estimate of the ELBO with that many samples.
- warmup: KL warm-up in epochs. The KL terms' weight is min(1, epoch / warmup) (1/warmup in
  epoch 1, full from epoch `warmup` on); 0 keeps it at full weight throughout.

Per-step and evaluation metrics: `loss` (the negative ELBO at full KL weight), `recon` (the
reconstruction terms), `kl`, and in training `kl_weight`.

The latent's prior is N(0, I) (`kl_normal`, closed form) or, with `prior=mixture(K)`, a learned equal-weight
mixture of K diagonal Gaussians (`kl_mixture`, the one-draw estimate log q(z | x) - log p(z) at the drawn z; its
means and log-variances are parameters `z.prior.mean` and `z.prior.logvar`): `log_prior` and `draw_prior` read
them, so the importance-sampled likelihood and `sample` use the learned prior.

An autoregressive decoder (PixelVAE, VLAE) reads the data through `autoregressive` links besides z
(graph/autoregressive.py: only through them): output value i depends on z and on the data's values before i, so
the likelihood p(x | z) = prod_i p(x_i | z, x_<i) is exact given the data, and training, the ELBO and the
importance-sampled likelihood need nothing new. Generating does: `sample` draws the values one at a time in
flattened order, the decoder run once per value on the values drawn so far (`decode_in_order`), and fill-in
draws the missing values so, the known ones kept. Reconstructions (`predict`) read the true values before each.

`importance_log_likelihood` estimates the test log-likelihood by importance sampling with the encoder
as proposal (Burda et al. 2016, "Importance weighted autoencoders"): log p(x) ~ log mean_j p(x, z_j) /
q(z_j | x) over k = 1000 draws z_j ~ q(z | x), the figure VAE papers quote. Its expectation lies between
the ELBO (k = 1) and log p(x), and rises to log p(x) as k grows. It needs the loss to be a log-likelihood:
bernoulli reconstruction terms (`bce`) and the KL, each at weight 1.
"""

from __future__ import annotations

import math

import numpy as np

from nngraph.compile.plan import TARGET
from nngraph.compile.program import Program
from nngraph.data.dataset import Dataset
from nngraph.errors import TrainingError, plural
from nngraph.graph.autoregressive import reads_data_in_order
from nngraph.graph.ir import ModelGraph
from nngraph.graph.methods import METHODS
from nngraph.graph.training import TrainConfig
from nngraph.graph.work import Factor, StepWork, pass_flops, require_step_work
from nngraph.ops.sampling import log_mixture, spread
from nngraph.train.backprop import Backprop
from nngraph.train.feeding import Tally, chunks, host_metrics
from nngraph.train.checkpoint import saved_count
from nngraph.train.method import EVAL_SEED, count_times_steps
from nngraph.train.outputs import sample_path

EVAL_ROWS = 4096  # rows per evaluation chunk, after repeating each example `samples` times
IS_SAMPLES = 1000  # importance samples per example for the log-likelihood estimate
REFINE_LR = 0.01  # Adam's step size on each example's posterior mean and log-variance when refining
LOG_2PI = math.log(2 * math.pi)
BERNOULLI_LOSSES = ("bce_logits", "bce")  # loss ops whose sum over units is -log p(x | z) of bernoulli pixels
KL_LOSSES = ("kl_normal", "kl_mixture")  # to the N(0, I) prior, to a learned mixture (the latent's `prior=`)


def build(checked, config: TrainConfig, backend) -> Vae:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    return Vae(model, compile_model(model, config.loss, backend, seed=config.seed, sum_units=True), config)


def log_mean_exp(a: np.ndarray) -> np.ndarray:
    """log(mean(exp(a))) over the last axis, shifted by the row maximum so that nothing overflows."""
    top = a.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(a - top).mean(axis=-1, keepdims=True)))[..., 0]


def bernoulli_log_prob(op: str, pred: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log p(x | z) of each row, summed over units: `pred` holds logits (bce_logits) or probabilities."""
    if op == "bce_logits":  # x log s(a) + (1 - x) log(1 - s(a)) = x a - softplus(a)
        return (x * pred - np.logaddexp(0.0, pred)).sum(axis=1)
    p = pred.clip(1e-12, 1 - 1e-12)
    return (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1)


def _adam_step(value, grad, first, second, step: int, lr: float) -> None:
    """One Adam step (Kingma and Ba 2015, betas 0.9 / 0.999) descending `grad`, in place."""
    first *= 0.9
    first += 0.1 * grad
    second *= 0.999
    second += 0.001 * grad * grad
    value -= lr * (first / (1 - 0.9 ** step)) / ((second / (1 - 0.999 ** step)) ** 0.5 + 1e-8)


def kl_weight(epoch: int, warmup: int) -> float:
    """The KL terms' weight in `epoch` (counted from 1): a linear ramp over `warmup` epochs."""
    return 1.0 if warmup <= 0 else min(1.0, max(epoch, 1) / warmup)


class Vae(Backprop):
    """Backprop on the negative ELBO, with the KL warm-up, several latent draws per example, and sampling."""

    # its evaluation draws noise chunk by chunk from its own generator: a rank's share of a split would get
    # other draws than one process gives those examples, so under MPI every rank evaluates whole splits
    splits_evaluation = False

    def __init__(self, model: ModelGraph, program: Program, config: TrainConfig):
        super().__init__(model, program, config)
        self.samples, self.warmup = config.method.options["samples"], config.method.options["warmup"]
        self.full_weights = dict(program.loss_weights)
        self.kl_labels = {ls.label for ls in self.plan.losses if ls.op in KL_LOSSES}
        self.latent = next(u for u in model.units if u.role == "sample")
        self.output, self.data = self._reconstruction(model, config)
        # the data input the decoder reads in order (autoregressive links), or None
        self.ordered = self.data if self.data and reads_data_in_order(model, self.data, self.output) else None
        self.epoch = 0
        self._set_kl_weight(kl_weight(1, self.warmup))

    @staticmethod
    def _reconstruction(model: ModelGraph, config: TrainConfig) -> tuple[str, str | None]:
        """(the decoder output the first reconstruction term reads, the data input it reconstructs or None)."""
        term = next(t for t in config.loss if t.kind != "kl")
        inputs = [u.name for u in model.units if u.role == "input"]
        return term.unit, term.target or (inputs[0] if len(inputs) == 1 else None)

    def set_learning_rate(self, lr: float) -> None:
        """Called by the loop at the start of every epoch: the epoch count drives the KL warm-up."""
        super().set_learning_rate(lr)
        self.epoch += 1
        self._set_kl_weight(kl_weight(self.epoch, self.warmup))

    def _set_kl_weight(self, weight: float) -> None:
        self.weight = weight
        for label in self.kl_labels:
            self.program.loss_weights[label] = self.full_weights[label] * weight

    # ---- feeding ---------------------------------------------------------------------------

    def _feeds(self, x: np.ndarray, samples: int | None = None) -> tuple[dict, np.ndarray | None]:
        """Inputs with each example repeated `samples` times (default: the method's); the data is also the
        target of reconstruction terms that name no target unit."""
        samples = self.samples if samples is None else samples
        x = np.repeat(x, samples, axis=0) if samples > 1 else x
        needs_target = any(TARGET in ins.inputs for ins in self.plan.instrs)
        return self.inputs(x), (x if needs_target else None)

    def _terms(self, terms: dict) -> dict:
        """Split the unweighted loss terms into reconstruction and KL, at full KL weight."""
        kl = sum(self.full_weights[k] * v for k, v in terms.items() if k in self.kl_labels)
        recon = sum(self.full_weights[k] * v for k, v in terms.items() if k not in self.kl_labels)
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    # ---- the Method protocol ---------------------------------------------------------------

    def train_step(self, batch: Dataset, rng) -> dict:
        inputs, target = self._feeds(batch.x)
        _, terms, grads, _ = self.program.loss_and_grads(inputs, target, rng)
        self.apply_update(grads)
        return {**self._terms(terms), "kl_weight": self.weight}

    def evaluate(self, data: Dataset, moments: dict | None = None) -> dict[str, float]:
        """The negative ELBO, its reconstruction and KL parts, averaged over a split (own noise); under the
        encoder's posterior, or one given by its `moments` per example (`refined_moments(data.x, steps)`)."""
        rng, tally = np.random.default_rng(EVAL_SEED), Tally()
        rows = max(1, EVAL_ROWS // self.samples)
        for start, part in zip(range(0, len(data), rows), chunks(data, rows)):
            values = self.program.feeds(*self._feeds(part.x), rng=rng)
            self._give(values, moments, slice(start, start + len(part)), self.samples)
            self.program.run(values, training=False)
            tally.add(self._terms(self.program.loss(values, self.program.eval_plan)[1]), len(part))
        return host_metrics(tally.means())

    def check_evaluation_work(self, data: Dataset, span, what: str) -> None:
        """Each example evaluated `samples` times, the whole split at once: vae(samples=100000) with batch 1 passed
        the step's bound (1 x 100,000 rows) and made each epoch's validation of the digits' 288 examples 2.9e7
        passes (4.5e12 FLOPs), the final evaluation of the training split four times that."""
        rows, method = len(data) * self.samples, self.config.method
        factors = [Factor("samples", self.samples, METHODS["vae"].options["samples"].default,
                          method.span_of("samples"), "samples" in method.spans),
                   Factor("examples", len(data), len(data), span, False)]
        require_step_work(StepWork(rows=rows, calls=-(-rows // EVAL_ROWS)), pass_flops([self.model]), factors,
                          method.span or self.config.span, what=f"one evaluation of {what}", each="one evaluation",
                          why="an evaluation runs whole: the validation split's each epoch, every split's at the "
                              "end and in `nngraph eval`")

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """Any unit's value with the latent at its mean (eps = 0): by default the reconstruction."""
        values = self.encode_decode(x)
        return self.program.backend.to_numpy(values[self.program.eval_plan.slot(unit or self.plan.outputs[0])])

    def extra_state(self) -> dict[str, np.ndarray]:
        return {"vae.epoch": np.asarray(self.epoch)}

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.epoch = saved_count(state.get("vae.epoch", 0), "VAE epoch count")
        self._set_kl_weight(kl_weight(self.epoch, self.warmup))

    # ---- the importance-sampled log-likelihood ----------------------------------------------

    def importance_log_likelihood(self, data: Dataset, k: int = IS_SAMPLES, seed: int = EVAL_SEED,
                                  moments: dict | None = None) -> dict:
        """{"log_likelihood": the k-sample importance estimate of log p(x), "elbo": the ELBO estimated from
        the same draws}, nats per example averaged over `data`. Batched: at most EVAL_ROWS rows per pass. The
        proposal is the encoder's posterior, or one given by its `moments` (`refined_moments(data.x, steps)`)."""
        self._check_likelihood_loss()
        rng, tally, block = np.random.default_rng(seed), Tally(), min(k, EVAL_ROWS)
        rows = max(1, EVAL_ROWS // k)
        for first, part in zip(range(0, len(data), rows), chunks(data, rows)):
            mine = None if moments is None else {u: m[first:first + len(part)] for u, m in moments.items()}
            w = np.concatenate([self.log_weights(part.x, min(block, k - start), rng, mine)
                                for start in range(0, k, block)], axis=1)
            tally.add({"log_likelihood": float(log_mean_exp(w).mean()), "elbo": float(w.mean())}, len(part))
        return tally.means()

    def log_weights(self, x: np.ndarray, k: int, rng, moments: dict | None = None) -> np.ndarray:
        """log p(x, z_j) - log q(z_j | x) for k draws z_j ~ q(z | x) per row of x: [len(x), k], float64; q the
        encoder's, or given by its `moments` ({mean unit: [len(x), ...], log-variance unit: ...})."""
        program, plan = self.program, self.program.eval_plan
        rows = np.repeat(x, k, axis=0)
        values = program.feeds(self.inputs(rows), rng=rng)
        self._give(values, moments, slice(None), k)
        program.run(values, training=False, with_loss=False)
        host = lambda slot: program.backend.to_numpy(values[slot]).astype(np.float64).reshape(len(rows), -1)
        sample = next(ins for ins in plan.instrs if ins.op.name == "gaussian_sample")
        logvar, eps, z = (host(slot) for slot in (*sample.inputs[1:], sample.output))
        log_q = -0.5 * (eps * eps + logvar + LOG_2PI).sum(axis=1)  # z = mu + exp(logvar / 2) eps
        log_prior = self.log_prior(z)
        log_px = 0.0
        for ls in plan.losses:
            if ls.op in BERNOULLI_LOSSES:
                pred, target = next(ins.inputs for ins in plan.instrs if ins.output == ls.slot)
                truth = rows.reshape(len(rows), -1).astype(np.float64) if target == TARGET else host(target)
                log_px = log_px + bernoulli_log_prob(ls.op, host(pred), truth)
        return (log_px + log_prior - log_q).reshape(len(x), k)

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """log p(z) of each row of z [rows, values] (float64, on the host): N(0, I), or the learned mixture."""
        if not self.latent.prior_components:
            return -0.5 * (z * z + LOG_2PI).sum(axis=1)
        return log_mixture(np, z, *self._prior_parameters())[0]

    def _prior_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """A mixture prior's means and log-variances [K, values], float64 on the host."""
        name = self.latent.name
        return tuple(self.program.backend.to_numpy(self.program.params[f"{name}.prior.{part}"]).astype(np.float64)
                     for part in ("mean", "logvar"))

    def draw_prior(self, count: int, rng) -> np.ndarray:
        """`count` latent values drawn from the prior, [count, *shape] in the run's dtype: a mixture's component
        is drawn uniformly, then its Gaussian."""
        shape = self.plan.shapes[self.latent.name]
        eps = rng.standard_normal((count, math.prod(shape)))
        if self.latent.prior_components:
            means, logvars = self._prior_parameters()
            pick = rng.integers(len(means), size=count)
            eps = means[pick] + spread(np, logvars[pick], self.program.backend.dtype) * eps  # capped as the unit's
        return eps.reshape(count, *shape).astype(self.program.backend.dtype)

    # ---- refined posteriors (semi-amortised inference) ------------------------------------------

    def refined_moments(self, x: np.ndarray, steps: int, seed: int = EVAL_SEED,
                        lr: float = REFINE_LR) -> dict[str, np.ndarray]:
        """Each row's posterior q(z | x) refined (semi-amortised inference, Kim et al. 2018; the amortisation gap
        of Cremer, Li and Duvenaud 2018): its mean and log-variance start at the encoder's and take `steps` Adam
        steps up that row's own ELBO (step size `lr`, decayed to ~0 on a cosine), one fresh draw of z a step, the
        decoder, prior and encoder fixed and no dropout. Any q(z | x) gives a lower bound on log p(x), so the ELBO under the refined one is
        still one; the encoder's amortised guess leaves it lower. {mean unit: [rows, ...], log-variance unit}."""
        self._check_refinable()
        rng, moments = np.random.default_rng(seed), {}
        for start in range(0, len(x), EVAL_ROWS):
            part = self._refine_rows(x[start:start + EVAL_ROWS], steps, rng, lr)
            for unit, value in part.items():
                moments.setdefault(unit, []).append(value)
        return {unit: np.concatenate(parts) for unit, parts in moments.items()}

    def _refine_rows(self, x: np.ndarray, steps: int, rng, lr: float) -> dict[str, np.ndarray]:
        program, plan, xp = self.program, self.program.train_plan, self.xp
        units = self.latent.sample_params
        start = self.encode_decode(x)
        moments = {u: start[program.eval_plan.slot(u)].copy() for u in units}
        first, second = ({u: xp.zeros_like(m) for u, m in moments.items()} for _ in range(2))
        # each row's own ELBO: the losses are means over the rows, so weigh them by the rows, at full KL weight
        seeds = {ls.slot: xp.asarray(self.full_weights[ls.label] * len(x), dtype=program.backend.dtype)
                 for ls in plan.losses}
        for step in range(1, steps + 1):
            values = program.feeds(*self._feeds(x, samples=1), rng=rng, training=True)
            for r in plan.random:
                if r.kind == "dropout":
                    values[r.slot] = xp.ones_like(values[r.slot])
            self._give(values, moments, slice(None), 1, plan)
            grads = program.slot_gradients(values, program.run(values, training=True),
                                           [plan.slot(u) for u in units], seeds)
            decayed = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))  # to ~0: the draws' noise fades
            for u in units:
                _adam_step(moments[u], grads[plan.slot(u)], first[u], second[u], step, decayed)
        return {u: program.backend.to_numpy(m) for u, m in moments.items()}

    def _give(self, values, moments: dict | None, rows: slice, repeat: int, plan=None) -> None:
        """Set the mean and log-variance units' slots of a pass to `moments[rows]`, each row repeated `repeat`
        times (the pass's rows); nothing without moments."""
        if moments is None:
            return
        plan = plan or self.program.eval_plan
        for unit, value in moments.items():
            value = value[rows]
            if repeat > 1:
                value = self.xp.repeat(self.program.backend.asarray(value), repeat, axis=0)
            values[plan.slot(unit)] = self.program.backend.asarray(value)
            values.given.add(plan.slot(unit))

    def _check_refinable(self) -> None:
        """Refinement runs the training plan without dropout; batch normalisation there would normalise by the
        rows' statistics and move its running ones."""
        if self.program.train_plan.buffer_updates or self.program.train_plan.sequence:
            raise TrainingError("refining the posterior needs a feedforward VAE without batch normalisation",
                                hint="evaluate with the encoder's posterior (refine=0)")

    def _check_likelihood_loss(self) -> None:
        """The estimate is of log p(x) only when the loss is -log p(x | z) + KL, one latent, weights 1."""
        plan = self.program.eval_plan
        samples = [u for u in self.model.units if u.role == "sample"]
        odd = [f"{ls.label} (weight {self._term_weight(ls):g})" for ls in plan.losses
               if ls.op not in (*BERNOULLI_LOSSES, *KL_LOSSES) or self._term_weight(ls) != 1]
        if len(samples) != 1 or odd or not self.kl_labels:
            raise TrainingError("the importance-sampled log-likelihood needs the loss to be a log-likelihood: "
                                "bce reconstruction terms plus kl of the one sample unit, each at weight 1"
                                + (f"; this loss has {', '.join(odd)}" if odd else ""),
                                hint="loss bce(x_hat, x) + kl(z)")

    def _term_weight(self, ls) -> float:
        """A loss term's weight as the spec wrote it (the compiler multiplies bernoulli terms by their units)."""
        units = 1 if ls.op in KL_LOSSES else math.prod(self.plan.shapes[ls.unit])
        return self.full_weights[ls.label] / units

    # ---- encoding and decoding -------------------------------------------------------------

    def encode_decode(self, x: np.ndarray, rng=None) -> dict:
        """Slot values of the eval plan's forward pass: the latent drawn with `rng`, or without one at its mean
        (every eps zero)."""
        program, plan = self.program, self.program.eval_plan
        values = program.feeds(self.inputs(x), rng=rng or np.random.default_rng(EVAL_SEED))
        if rng is None:
            for r in plan.random:
                values[r.slot] = self.xp.zeros_like(values[r.slot])
        program.run(values, training=False, with_loss=False)
        return values

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """A pass a draw, or --steps rounds an example to fill in; an autoregressive decoder runs once a value."""
        passes, asked = count_times_steps(request) if request.get("fill") else super().sample_passes(request)
        if not self.ordered:
            return passes, asked
        values = math.prod(self.plan.shapes[self.ordered])
        return passes * values, f"{asked} x {values} values decoded in order"

    def fill(self, values: np.ndarray, missing: np.ndarray, request: dict) -> tuple[np.ndarray, str]:
        """The fill-in protocol (train/fill_in.py): iterative conditional imputation (Rezende, Mohamed and
        Wierstra 2014): encode, draw z from q(z|x), decode, put the known values back, `--steps`
        rounds; the last round decodes the latent's mean, and its reconstruction (the decoder's means) fills
        the missing values."""
        from nngraph.train.fill_in import require_output_like_input

        plan = self.program.eval_plan
        require_output_like_input(self, plan, "fill in missing values")
        output = plan.outputs[0]
        rng, rounds = np.random.default_rng(request.get("seed", 0)), int(request.get("steps") or 1000)
        x = values
        for round_ in range(rounds):
            last = round_ == rounds - 1
            decoded = self.encode_decode(x, None if last else rng)
            if self.ordered:  # the missing values drawn in order (at the last round their means), the rest kept
                z = self.program.backend.to_numpy(decoded[plan.slot(self.latent.name)])
                x = self.decode_in_order(z, values=x, missing=missing, rng=None if last else rng)
            else:
                x = np.where(missing, self.program.backend.to_numpy(decoded[plan.slot(output)]).reshape(x.shape),
                             values)
        how = "decoding the missing values in order" if self.ordered else "decoding"
        return x, f"{plural(rounds, 'round')} of encoding, drawing z, {how}; the last at z's mean"

    def decode(self, z: np.ndarray, data: np.ndarray | None = None) -> np.ndarray:
        """The first output for given latent values (an autoregressive decoder's: the reconstruction): the eval
        forward pass with the sample unit's value given as `z` (the encoder runs on zeros, or on `data`, which an
        autoregressive decoder reads; it is cheap and its result unused)."""
        program, plan = self.program, self.program.eval_plan
        dtype = program.backend.dtype  # the run's: a float64 run's values so far are not rounded to float32
        feeds = {name: np.zeros((len(z), *plan.shapes[name]), dtype) for name in plan.feeds}
        if data is not None:
            feeds[self.ordered] = data.reshape(feeds[self.ordered].shape).astype(dtype)
        values = program.forward(feeds, rng=np.random.default_rng(EVAL_SEED),
                                 given={plan.slot(self.latent.name): program.backend.asarray(z)})
        return program.backend.to_numpy(values[self.output if self.ordered else plan.outputs[0]])  # by unit

    def decode_in_order(self, z: np.ndarray, values: np.ndarray | None = None, missing: np.ndarray | None = None,
                        rng=None) -> np.ndarray:
        """An autoregressive decoder's data for latent values `z`, value by value in flattened order: value i
        is drawn from p(x_i | z, x_<i) with `rng` (bernoulli pixels, the reconstruction terms being bce), or
        without one set to its mean, the decoder run once per value on the values so far (the later ones, which
        value i does not read, hold anything). Only the `missing` values of `values` are drawn (default: all)."""
        shape = (len(z), *self.plan.shapes[self.ordered])
        x = np.zeros((len(z), math.prod(shape[1:]))) if values is None else values.reshape(len(z), -1).copy()
        todo = np.ones(x.shape, bool) if missing is None else missing.reshape(x.shape)
        x[todo] = 0  # not yet drawn: a NaN there would reach every value through the mask's zero weights
        bernoulli = all(ls.op in BERNOULLI_LOSSES for ls in self.program.eval_plan.losses if ls.op not in KL_LOSSES)
        for i in np.flatnonzero(todo.any(axis=0)):
            mean = self.decode(z, x).reshape(len(z), -1)[:, i].astype(np.float64)
            drawn = mean if rng is None else (rng.random(len(z)) < mean) if bernoulli else mean
            x[:, i] = np.where(todo[:, i], drawn, x[:, i])
        return x.reshape(shape)

    def latent_means(self, x: np.ndarray) -> np.ndarray:
        values = self.encode_decode(x)
        mu = self.latent.sample_params[0]
        return self.program.backend.to_numpy(values[self.program.eval_plan.slot(mu)])

    samples_from_inputs = False  # `sample --input` fills in (--fill) only

    def sample(self, request: dict, splits) -> str:
        """Decoded prior draws; beside them reconstructions of test images, and for a 2-D latent
        space the test set's latent means coloured by label."""
        from nngraph.viz import samples as pictures

        rng = np.random.default_rng(request["seed"])
        z = self.draw_prior(request["count"], rng)
        path = sample_path(request)
        drawn = self.decode_in_order(z, rng=rng) if self.ordered else self.decode(z)
        written = [pictures.write_generated(path, drawn, splits.train)]
        if pictures.is_array(path):
            how = " (each value drawn in order)" if self.ordered else ""
            return f"wrote {plural(request['count'], 'decoded prior draw')}{how} to {path}"
        test = splits.test if splits.test is not None and len(splits.test) else splits.train
        written.append(pictures.write_reconstructions(path, test, self.predict))
        if self.plan.shapes[self.latent.name] == (2,):
            written.append(pictures.write_latents(path, self.latent_means(test.x), test.y))
        return "wrote " + ", ".join(str(p) for p in written if p is not None)
