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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nngraph.compile.plan import TARGET
from nngraph.compile.program import Program
from nngraph.data.dataset import Dataset
from nngraph.errors import plural
from nngraph.graph.ir import ModelGraph
from nngraph.graph.training import TrainConfig
from nngraph.graph.vocabulary import METHODS
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import split_inputs
from nngraph.train.optimizers import make_optimizer
from nngraph.train.outputs import sample_path
from nngraph.train.regularize import add_penalties, clip_by_global_norm

EVAL_ROWS = 4096  # rows per evaluation chunk, after repeating each example `samples` times
EVAL_SEED = 0  # evaluation draws its own noise, so it never touches the loop's rng


def build(checked, config: TrainConfig, backend) -> Vae:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    return Vae(model, compile_model(model, config.loss, backend, seed=config.seed, sum_units=True), config)


def kl_weight(epoch: int, warmup: int) -> float:
    """The KL terms' weight in `epoch` (counted from 1): a linear ramp over `warmup` epochs."""
    return 1.0 if warmup <= 0 else min(1.0, max(epoch, 1) / warmup)


class Vae:
    """Implements the trainer's Method protocol (see nngraph.train.loop)."""

    def __init__(self, model: ModelGraph, program: Program, config: TrainConfig):
        self.model, self.program, self.config = model, program, config
        self.xp, self.plan = program.xp, program.train_plan
        options = {**METHODS["vae"], **config.method.options}
        self.samples, self.warmup = int(options["samples"]), int(options["warmup"])
        self.optimizer = make_optimizer(config.optimizer, program.params, self.xp)
        self.full_weights = dict(program.loss_weights)
        self.kl_labels = {ls.label for ls in self.plan.losses if ls.op == "kl_normal"}
        self.latent = next(u for u in model.units if u.role == "sample")
        self.epoch = 0
        self._set_kl_weight(kl_weight(1, self.warmup))

    @property
    def params(self) -> dict:
        return self.program.params

    def set_learning_rate(self, lr: float) -> None:
        """Called by the loop at the start of every epoch: the epoch count drives the KL warm-up."""
        self.optimizer.lr = lr
        self.epoch += 1
        self._set_kl_weight(kl_weight(self.epoch, self.warmup))

    def _set_kl_weight(self, weight: float) -> None:
        self.weight = weight
        for label in self.kl_labels:
            self.program.loss_weights[label] = self.full_weights[label] * weight

    # ---- feeding ---------------------------------------------------------------------------

    def _feeds(self, x: np.ndarray) -> tuple[dict, np.ndarray | None]:
        """Inputs with each example repeated `samples` times; the data is also the target of
        reconstruction terms that name no target unit."""
        x = np.repeat(x, self.samples, axis=0) if self.samples > 1 else x
        needs_target = any(TARGET in ins.inputs for ins in self.plan.instrs)
        return split_inputs(self.model, self.plan.feeds, x), (x if needs_target else None)

    def _terms(self, terms: dict[str, float]) -> dict[str, float]:
        """Split the unweighted loss terms into reconstruction and KL, at full KL weight."""
        kl = sum(self.full_weights[k] * v for k, v in terms.items() if k in self.kl_labels)
        recon = sum(self.full_weights[k] * v for k, v in terms.items() if k not in self.kl_labels)
        return {"loss": recon + kl, "recon": recon, "kl": kl}

    # ---- the Method protocol ---------------------------------------------------------------

    def train_step(self, batch: Dataset, rng) -> dict[str, float]:
        cfg = self.config
        inputs, target = self._feeds(batch.x)
        _, terms, grads, _ = self.program.loss_and_grads(inputs, target, rng)
        if cfg.l1 or cfg.l2:
            add_penalties(self.params, grads, cfg.l1, cfg.l2, self.xp)
        if cfg.clip:
            clip_by_global_norm(grads, cfg.clip, self.xp)
        self.optimizer.update(self.params, grads)
        return {**self._terms(terms), "kl_weight": self.weight}

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """The negative ELBO, its reconstruction and KL parts, averaged over a split (own noise)."""
        rng = np.random.default_rng(EVAL_SEED)
        sums: dict[str, float] = {}
        step = max(1, EVAL_ROWS // self.samples)
        for start in range(0, len(data), step):
            part = data.x[start:start + step]
            values = self.program.feeds(*self._feeds(part), rng=rng)
            self.program.run(values, training=False)
            for key, value in self._terms(self.program.loss(values, self.program.eval_plan)[1]).items():
                sums[key] = sums.get(key, 0.0) + value * len(part)
        return {key: value / max(len(data), 1) for key, value in sums.items()}

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """Any unit's value with the latent at its mean (eps = 0): by default the reconstruction."""
        values = self.encode_decode(x)
        return self.program.backend.to_numpy(values[self.program.eval_plan.slot(unit or self.plan.outputs[0])])

    def state(self) -> dict[str, np.ndarray]:
        params = {k: self.program.get(k) for k in self.params}
        return {**nest("params", params), **nest("optimizer", self.optimizer.state_dict()),
                "vae.epoch": np.asarray(self.epoch)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name, value in unnest("params", state).items():
            self.program.set(name, value)
        self.optimizer.load_state_dict(unnest("optimizer", state))
        self.epoch = int(state.get("vae.epoch", 0))
        self._set_kl_weight(kl_weight(self.epoch, self.warmup))

    # ---- encoding and decoding -------------------------------------------------------------

    def encode_decode(self, x: np.ndarray) -> dict:
        """Slot values of the eval plan's forward pass with every eps at zero (z = mu)."""
        program, plan = self.program, self.program.eval_plan
        values = program.feeds(split_inputs(self.model, plan.feeds, x), rng=np.random.default_rng(EVAL_SEED))
        for r in plan.random:
            values[r.slot] = self.xp.zeros_like(values[r.slot])
        program.run(values, training=False, with_loss=False)
        return values

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The first output for given latent values: the eval forward pass with the sample unit's
        value replaced by `z` (the encoder runs on zeros; it is cheap and its result unused)."""
        program, plan = self.program, self.program.eval_plan
        dummy = {name: np.zeros((len(z), *plan.shapes[name]), np.float32) for name in plan.feeds}
        values = program.feeds(dummy, rng=np.random.default_rng(EVAL_SEED))
        fixed = plan.slot(self.latent.name)
        values[fixed] = program.backend.asarray(z)
        for ins in plan.instrs[:plan.body]:
            if ins.output != fixed:
                values[ins.output] = ins.op.forward(self.xp, tuple(values[s] if s else None for s in ins.inputs),
                                                    ins.attrs)[0]
        return program.backend.to_numpy(values[plan.slot(plan.outputs[0])])

    def latent_means(self, x: np.ndarray) -> np.ndarray:
        values = self.encode_decode(x)
        mu = self.latent.sample_params[0]
        return self.program.backend.to_numpy(values[self.program.eval_plan.slot(mu)])

    def sample(self, request: dict, splits) -> str:
        """Decoded prior draws; beside them reconstructions of test images, and for a 2-D latent
        space the test set's latent means coloured by label."""
        z = np.random.default_rng(request["seed"]).standard_normal(
            (request["count"], *self.plan.shapes[self.latent.name]))
        path = sample_path(request)
        written = [write_generated(self.decode(z.astype(np.float32)), path, splits, self.model)]
        if path.suffix == ".npy":
            return f"wrote {plural(request['count'], 'decoded prior draw')} to {path}"
        test = splits.test if splits.test is not None and len(splits.test) else splits.train
        shape = image_shape(test, self.model)
        from nngraph.viz import grids, scatter

        per_row = min(PER_ROW, len(test))
        originals = test.x[:min(RECONSTRUCTIONS, len(test)) // per_row * per_row]
        if shape is not None and len(originals):
            pairs = _interleave(originals, self.predict(originals), per_row)
            written.append(grids.image_grid(pairs, sibling(path, "recon"), shape, nrow=per_row))
        if self.plan.shapes[self.latent.name] == (2,):
            written.append(scatter.latent_scatter(self.latent_means(test.x), test.y, sibling(path, "latent")))
        return "wrote " + ", ".join(str(p) for p in written)


# ---- pictures shared with the gan method -----------------------------------------------------

RECONSTRUCTIONS = 32  # test images shown beside their reconstructions
PER_ROW = 8


def sibling(path: Path, tag: str) -> Path:
    """`samples.png` -> `samples_recon.png`: the other pictures of one `nngraph sample` call."""
    return path.with_name(f"{path.stem}_{tag}{path.suffix}")


def image_shape(data: Dataset, model: ModelGraph) -> tuple[int, ...] | None:
    """The picture shape of one example, where the examples are pictures."""
    if data.info.get("image_shape"):
        return tuple(data.info["image_shape"])
    shape = data.feature_shape
    if len(shape) in (2, 3):
        return shape
    side = int(np.sqrt(shape[0])) if len(shape) == 1 else 0
    return (side, side) if side > 1 and side * side == shape[0] else None


def write_generated(x: np.ndarray, path: Path, splits, model: ModelGraph) -> Path:
    """Generated examples as a .npy array, a scatter over the data (2-D points) or an image grid."""
    from nngraph.atomic import atomic_save_npy
    from nngraph.errors import DataError
    from nngraph.viz import grids, scatter

    if path.suffix == ".npy":
        atomic_save_npy(path, x)
        return path
    if x.ndim == 2 and x.shape[1] == 2:
        return scatter.scatter_samples(x, splits.train.x.reshape(len(splits.train), -1), path)
    shape = image_shape(splits.train, model)
    if shape is None:
        raise DataError(f"generated examples of shape {list(x.shape[1:])} are neither 2-D points nor pictures",
                        None, "write them as an array: -o samples.npy")
    return grids.image_grid(x.reshape(len(x), -1), path, shape)


def _interleave(originals: np.ndarray, reconstructions: np.ndarray, per_row: int) -> np.ndarray:
    """Rows of `per_row` originals, each followed by a row of their reconstructions."""
    flat = [a.reshape(len(a) // per_row, 1, per_row, -1) for a in (originals, reconstructions)]
    return np.concatenate(flat, axis=1).reshape(2 * len(originals), -1)
