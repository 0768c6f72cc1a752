"""Method `boltzmann`: general Boltzmann machines learned with the two-phase rule; and the parts every
Boltzmann method shares (`EnergyMethod`: data checks, the update, checkpoints, predict, sample).

The rule (Ackley, Hinton and Sejnowski 1985): dw_ij = lr * (<s_i s_j>_data - <s_i s_j>_model). The positive
phase clamps a data vector on the visible units (each clamped bit flipped with a small probability when
`noisy_clamp` > 0), anneals the hidden units through `anneal` and averages the statistics over `sweeps`
further sweeps at the final temperature (or finds the mean-field fixed point, `mean_field=true`). The
negative phase does the same with nothing clamped, from random states, or continues `chains` persistent
chains. The optimizer receives the negative of the statistics difference as the gradient, so momentum,
Adam and L1/L2 apply as for backprop.
"""

from __future__ import annotations

import numpy as np

from nngraph.compile.energy import EnergyModel
from nngraph.compile.gibbs import Sweeper, device_generator, random_bits, uniform
from nngraph.compile.partition import enumeration_size, log_likelihood, log_z_exact
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError, plural
from nngraph.ops.activations import stable_sigmoid
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import check_data_fits, host_metrics
from nngraph.train.method import Method

EXACT_LIMIT = 1 << 26  # an exact log Z per epoch costs at most this many multiply-adds
OFF_TO_ON = 1 / 3  # noisy clamping turns 0s on at a third of the rate it turns 1s off (0.15 / 0.05 in 1985)
FILL_SIDES = ("top", "bottom", "left", "right")


def build(checked, config, backend) -> GeneralBoltzmann:
    return GeneralBoltzmann(checked.models[config.model], config, backend)


class EnergyMethod(Method):
    """The Method protocol (nngraph.train.loop) for any machine of `nngraph.compile.energy`: its couplings
    are the parameters, the negated statistics difference their gradient (`apply`)."""

    temperature = 1.0

    def __init__(self, model, config, backend):
        super().__init__(config, backend.xp, model)
        self.backend = backend
        self.machine = m = EnergyModel(model, backend, seed=config.seed)
        self.grad_weights = self.xp.zeros_like(m.weights)
        self.grad_bias = self.xp.zeros_like(m.bias)
        self.grads = {**{link.name: m.block(self.grad_weights, link) for link in m.links},
                      **{f"{g.name}.bias": self.grad_bias[g.span] for g in m.groups}}
        self.add_part(m.params)
        self.chains = None  # persistent chains' states, where the method keeps any
        self.exact = 0 < enumeration_size(m) <= EXACT_LIMIT
        self._log_z: tuple | None = None  # (optimizer steps when computed, log Z)
        self._epoch_start = True

    def set_learning_rate(self, lr: float) -> None:
        super().set_learning_rate(lr)
        self._epoch_start = True

    def log_z(self, fresh: bool = True):
        """The exact log Z where it is cheap (a 0-d array on the device), else None. Training steps pass
        fresh=False: they reuse the value computed at their epoch's first step (so a step does not pay for an
        enumeration)."""
        if not self.exact:
            return None
        steps = self.optimizer.steps
        stale = self._log_z is None or (self._log_z[0] != steps and (fresh or self._epoch_start))
        if stale:
            self._log_z = (steps, log_z_exact(self.machine, self.temperature))
        if not fresh:
            self._epoch_start = False
        return self._log_z[1]

    # ---- data ---------------------------------------------------------------------------------

    def check_data(self, dataset: Dataset, span) -> None:
        """Shapes as for any model; bernoulli visible units take 0/1 data only. Before training, the
        visible biases start from the data's frequencies."""
        check_data_fits(self.model, dataset, span)
        x = dataset.x.reshape(len(dataset), -1)
        for group in self.machine.visible_groups:
            column = x[:, group.span]
            if group.kind == "bernoulli" and not np.isin(column, (0, 1)).all():
                odd = column[~np.isin(column, (0, 1))].flat[0]
                raise DataError(f"data '{dataset.name}' gives bernoulli unit '{group.name}' values other than "
                                f"0 and 1 (e.g. {odd:g})", span,
                                "binarise the values first (a data call's option does it: "
                                f"`data digits(binarize=0.5)`), or declare `visible {group.name}{list(group.shape)} gaussian` "
                                "for real values")
        if self.optimizer.steps == 0 and len(x):
            self.machine.set_visible_bias_from(x)

    def rows(self, data: Dataset):
        return self.backend.asarray(data.x.reshape(len(data), -1))

    # ---- the update and checkpoints ---------------------------------------------------------------

    def apply(self) -> None:
        """One update from the gradients in `self.grads` (the negated statistics difference)."""
        self.apply_update(self.grads)
        self.machine.sync()

    def extra_state(self) -> dict[str, np.ndarray]:
        return nest("sampler", {} if self.chains is None else {"chains": self.backend.to_numpy(self.chains)})

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.machine.sync()
        sampler = unnest("sampler", state)
        if "chains" in sampler:
            self.chains = self.backend.asarray(sampler["chains"])
        self._log_z = None

    # ---- predict and sample -----------------------------------------------------------------------

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        """Each unit's mean given the visible data: hidden probabilities (default: all hidden units, or
        the named group), or a visible group's reconstruction."""
        means = self.means_given_visible(self.backend.asarray(x.reshape(len(x), -1)))
        if unit is None:
            return self.backend.to_numpy(means[:, self.machine.n_visible:])
        group = self.machine.group(unit)
        return self.backend.to_numpy(means[:, group.span]).reshape((len(x),) + group.shape)

    def means_given_visible(self, v):
        """[B, N]: the visible rows, then the hidden units' means given them (mean field at the final
        temperature, with visible reconstructions from those means)."""
        raise NotImplementedError

    def sample(self, request: dict, splits) -> str:
        """`nngraph sample`: free-running samples, or fill-ins of test vectors (`--fill`), written as an
        image grid (PNG) or .npy; a restricted machine's weight filters beside a picture. Every machine follows
        one rule: chains start from `random_states`, run `--steps` sweeps (after the annealing schedule, for
        `boltzmann`), and a sample is the visible states of the last sweep, or with `--means` their
        probabilities (means, for gaussian units) given the rest of that sweep's state."""
        from nngraph.train.outputs import sample_path
        from nngraph.viz import samples as pictures

        machine, to_host = self.machine, self.backend.to_numpy
        rng = device_generator(machine.xp, np.random.default_rng(request.get("seed", 0)))
        count, steps = int(request.get("count") or 64), int(request.get("steps") or 1000)
        shape, output = visible_picture(machine), sample_path(request)
        means = bool(request.get("means"))
        what = f"{plural(steps, 'Gibbs sweep')}; {'probabilities' if means else 'states'} of the last sweep"
        if request.get("fill"):
            return self._fill_in(request["fill"], splits, count, steps, means, rng, output, what)
        values = machine.xp.zeros((count, machine.n_visible), dtype=machine.weights.dtype)
        samples = to_host(self.last_sweep(values, np.zeros(machine.n_visible, bool), steps, rng)[int(means)])
        pictures.write_samples(output, samples, shape)
        message = f"wrote {plural(count, 'free-running sample')} ({what}) to {output}"
        if machine.restricted and not pictures.is_array(output) and shape[0] != 1:
            message += f", weight filters to {pictures.write_filters(output, to_host(machine.weights), shape)}"
        return message

    def _fill_in(self, fill: str, splits, count: int, steps: int, means: bool, rng, output, what: str) -> str:
        """Test vectors (the test split, else validation, else training data) with the part `fill` names
        resampled and the rest clamped: the grid's rows are the data, the part kept and the filled vectors."""
        from nngraph.viz import samples as pictures

        machine, to_host = self.machine, self.backend.to_numpy
        shape = visible_picture(machine)
        missing = fill_mask(fill, shape, machine.n_visible)
        data = next(p for p in (splits.test, splits.validation, splits.train) if p is not None and len(p))
        values = self.rows(data.take(np.arange(min(count, len(data)))))
        filled, truth = to_host(self.last_sweep(values, ~missing, steps, rng)[int(means)]), to_host(values)
        error = float(((filled - truth)[:, missing] ** 2).mean()) if missing.any() else 0.0
        rows = np.concatenate([truth, np.where(missing, 0.5, truth), filled])
        pictures.write_samples(output, rows, shape, per_row=len(truth), array=filled)
        return (f"filled in {fill_description(fill, missing)} of {plural(len(truth), 'example')} ({what}; rows: "
                f"data, the part kept, filled) to {output}; mean squared error on the filled part {error:.4f}")

    def random_states(self, count: int, rng):
        """Where chains start: bernoulli units on with probability 1/2, gaussian units at their bias."""
        xp, m = self.xp, self.machine
        states = random_bits(rng, xp, (count, m.size), m.weights.dtype)
        if m.any_gaussian:
            cols = xp.asarray(m.gaussian)
            states[:, cols] = m.bias[cols]
        return states

    def last_sweep(self, values, observed: np.ndarray, steps: int, rng):
        """Chains from `random_states` with the `observed` visible units (a bool [V] mask) clamped at `values`
        [B, V], after `steps` sweeps: (the visible states, their means given the rest of the last state)."""
        raise NotImplementedError


def visible_picture(machine) -> tuple[int, ...]:
    """How to draw the visible units: a declared picture shape, a square, or one row."""
    from nngraph.viz.samples import picture_shape

    groups = machine.visible_groups
    return picture_shape(groups[0].shape if len(groups) == 1 else (machine.n_visible,)) or (1, machine.n_visible)


def fill_mask(fill: str, shape: tuple[int, ...], size: int) -> np.ndarray:
    """The visible units to fill in (a bool [V] mask): the half of the picture that `fill` names, or the 1s of
    a .npy mask file; the others are kept."""
    if fill in FILL_SIDES:
        if shape[-2] == 1 and fill in ("top", "bottom"):
            raise DataError(f"--fill {fill}: the visible units are not a picture with rows",
                            hint="use left or right, or a .npy mask of the units to fill")
        rows, cols = np.indices(shape[-2:])
        height, width = shape[-2:]
        mask = {"top": rows < height // 2, "bottom": rows >= height - height // 2,
                "left": cols < width // 2, "right": cols >= width - width // 2}[fill]
        return np.broadcast_to(mask, shape).reshape(-1).copy()
    if not str(fill).endswith(".npy"):
        raise DataError(f"--fill {fill!r}: expected one of {', '.join(FILL_SIDES)} or a .npy mask file")
    from nngraph.safe_files import load_npy

    mask = load_npy(fill, error=lambda message, hint=None: DataError(f"--fill: {message}", None, hint))
    if mask.size != size or mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
        raise DataError(f"the mask {fill} (shape {list(mask.shape)}) does not fit the {size} visible units",
                        hint=f"save a 0/1 or boolean array of {size} values (shape {list(shape)}), 1 = fill in")
    return mask.reshape(-1).astype(bool)


def fill_description(fill: str, missing: np.ndarray) -> str:
    """What was filled, for the message: `the bottom half`, `the 5 units marked in mask.npy`."""
    if fill in FILL_SIDES:
        return f"the {fill} half"
    return f"the {plural(int(missing.sum()), 'unit')} marked in {fill}"


class GeneralBoltzmann(EnergyMethod):
    """Two-phase Boltzmann learning with annealing, noisy clamping, mean field and persistent chains."""

    def __init__(self, model, config, backend):
        super().__init__(model, config, backend)
        opts = config.method.options
        self.schedule = [(float(t), int(n)) for t, n in (opts["anneal"] or [])]
        self.temperature = self.schedule[-1][0] if self.schedule else 1.0
        self.sweeps, self.mean_field = opts["sweeps"], opts["mean_field"]
        self.noisy_clamp, self.chain_count = opts["noisy_clamp"], opts["chains"]
        self.sweeper = Sweeper(self.machine, opts["order"])
        m = self.machine
        self.hidden_units = np.arange(m.n_visible, m.size)
        self.all_units = np.arange(m.size)
        self.diagonal = self.xp.arange(m.size)

    def train_step(self, batch: Dataset, rng) -> dict:
        xp, m = self.xp, self.machine
        drng = device_generator(xp, rng)
        v = self.clamped(self.rows(batch), drng)
        positive = self.random_states(len(v), drng)
        positive[:, : m.n_visible] = v
        self.sweeper.run(positive, self.hidden_units, self.schedule, drng, self.mean_field)
        pos_pairs, pos_singles = self.sweeper.statistics(positive, self.hidden_units, self.sweeps,
                                                         self.temperature, drng, self.mean_field)
        neg_pairs, neg_singles = self.negative_phase(len(v), drng)
        xp.subtract(neg_pairs, pos_pairs, out=self.grad_weights)
        self.grad_weights[self.diagonal, self.diagonal] = 0  # a unit has no link to itself
        xp.subtract(neg_singles, pos_singles, out=self.grad_bias)
        self.apply()
        return self.metrics(self.rows(batch), positive, fresh=False)

    def negative_phase(self, count: int, rng):
        if self.chain_count:
            if self.chains is None:
                self.chains = self.random_states(self.chain_count, rng)
            return self.sweeper.statistics(self.chains, self.all_units, self.sweeps, self.temperature, rng)
        states = self.random_states(count, rng)
        self.sweeper.run(states, self.all_units, self.schedule, rng)
        return self.sweeper.statistics(states, self.all_units, self.sweeps, self.temperature, rng)

    def clamped(self, v, rng):
        """Noisy clamping: bernoulli data bits that are on turn off with probability `noisy_clamp`, those
        off turn on with a third of it."""
        if not self.noisy_clamp:
            return v
        xp, m = self.xp, self.machine
        flip = uniform(rng, xp.empty_like(v)) < xp.where(v > 0.5, self.noisy_clamp,
                                                           self.noisy_clamp * OFF_TO_ON)
        flip &= ~xp.asarray(m.gaussian[: m.n_visible])
        return xp.where(flip, 1 - v, v)

    def means_given_visible(self, v):
        m = self.machine
        states = self.xp.zeros((len(v), m.size), dtype=m.weights.dtype) + 0.5
        states[:, : m.n_visible] = v
        schedule = self.schedule + [(self.temperature, max(self.sweeps, 20))]
        self.sweeper.run(states, self.hidden_units, schedule, None, mean_field=True)
        states[:, : m.n_visible] = self.visible_recon(states)
        return states

    def visible_recon(self, states):
        """Each visible unit's mean given every other unit of `states` [B, N]."""
        xp, m = self.xp, self.machine
        z = states @ m.couplings()[:, : m.n_visible] + m.visible_bias
        gaussian = m.gaussian[: m.n_visible]
        return xp.where(xp.asarray(gaussian), z, stable_sigmoid(xp, z / self.temperature))

    def last_sweep(self, values, observed: np.ndarray, steps: int, rng):
        """After the annealing schedule, `steps` sweeps at the final temperature."""
        m = self.machine
        states = self.random_states(len(values), rng)
        kept = np.flatnonzero(observed)
        states[:, kept] = values[:, kept]
        free = np.concatenate([np.flatnonzero(~observed), self.hidden_units])
        self.sweeper.run(states, free, self.schedule + [(self.temperature, steps)], rng)
        means = self.visible_recon(states)
        means[:, kept] = values[:, kept]
        return states[:, : m.n_visible], means

    def metrics(self, v, positive, fresh: bool = True) -> dict:
        """Reconstruction error: visible means given the positive phase's last hidden states, against the
        data; the exact log-likelihood (per example, at the final temperature) where it is cheap. 0-d arrays
        on the device, as a training step returns them."""
        recon = self.visible_recon(positive)
        out = {"recon_error": ((recon - v) ** 2).mean()}
        log_z = self.log_z(fresh)
        if log_z is not None:
            ll = log_likelihood(self.machine, v, log_z, self.temperature).mean()
            out.update(log_likelihood=ll, loss=-ll)
        else:
            out["loss"] = out["recon_error"]
        return out

    def evaluate(self, data: Dataset) -> dict[str, float]:
        v = self.rows(data)
        states = self.means_given_visible(v)
        states[:, : self.machine.n_visible] = v
        return host_metrics(self.metrics(v, states))

