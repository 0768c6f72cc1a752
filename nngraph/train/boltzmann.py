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
from nngraph.errors import DataError, TrainingError, plural
from nngraph.graph.memory import EVAL_ROWS
from nngraph.ops.activations import stable_sigmoid
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import Tally, check_data_fits, chunks, host_metrics
from nngraph.train.method import Method, count_times_steps
from nngraph.train.parallel import other_rows, step_rows, whole, world

EXACT_LIMIT = 1 << 26  # an exact log Z per epoch costs at most this many multiply-adds
OFF_TO_ON = 1 / 3  # noisy clamping turns 0s on at a third of the rate it turns 1s off (0.15 / 0.05 in 1985)


def build(checked, config, backend) -> GeneralBoltzmann:
    return GeneralBoltzmann(checked.models[config.model], config, backend)


class EnergyMethod(Method):
    predicted = "hidden"
    takes_means = True  # `sample --means`: the visible units' probabilities after the last sweep
    """The Method protocol (nngraph.train.loop) for any machine of `nngraph.compile.energy`: its couplings
    are the parameters, the negated statistics difference their gradient (`apply`)."""

    temperature = 1.0
    start_bias_from_data = True  # False: the visible biases start at zero (as scikit-learn's BernoulliRBM's do)

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
        """Shapes as for any model; bernoulli visible units take 0/1 data only."""
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

    def pretrain(self, train: Dataset, rng, quiet: bool = True) -> None:
        """Before the first epoch (the loop's hook): the visible biases from the training split's marginals,
        as the machine sees it (scaled), never from held-out examples (`EnergyModel.set_visible_bias_from`,
        Hinton's practical guide, section 8); skipped where `start_bias_from_data` is False or a step was
        taken. Under MPI every rank holds the whole training split (each steps on its shard of every global
        batch, train/parallel.py), so every rank starts from the same biases."""
        if self.start_bias_from_data and self.optimizer.steps == 0 and len(train):
            self.machine.set_visible_bias_from(train.x)

    def rows(self, data: Dataset):
        return self.backend.asarray(data.x.reshape(len(data), -1))

    # ---- the update and checkpoints ---------------------------------------------------------------

    def apply(self) -> None:
        """One update from the gradients in `self.grads` (the negated statistics difference)."""
        self.apply_update(self.grads)
        self.machine.sync()

    def extra_state(self) -> dict[str, np.ndarray]:
        return nest("sampler", {} if self.chains is None else {"chains": self.backend.to_numpy(self.chains)})

    def _saved_chains(self, chains: np.ndarray) -> np.ndarray:
        """PCD's persistent chains as saved: one row of visible states a chain (5 rows of 100 chains were a
        matmul's 'mismatch in its core dimension' at the first step of a resume, exit 70)."""
        want = (self.chain_count, self.chain_width)
        if chains.shape != want:
            raise TrainingError(f"the checkpoint's persistent chains (sampler.chains) have shape {list(chains.shape)}; "
                                f"this run's are {list(want)} ({plural(self.chain_count, 'chain')} of "
                                f"{self.chain_width} units)", hint="the checkpoint was edited or is of another run")
        return chains

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.machine.sync()
        sampler = unnest("sampler", state)
        if "chains" in sampler:
            self.chains = self.backend.asarray(self._saved_chains(sampler["chains"]))
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
        """`nngraph sample`: free-running samples, written as an image grid (PNG) or .npy; a restricted machine's
        weight filters beside a picture. Every machine follows one rule: chains start from `random_states`, run
        `--steps` sweeps (after the annealing schedule, for `boltzmann`), and a sample is the visible states of
        the last sweep, or with `--means` their probabilities (means, for gaussian units) given the rest of that
        sweep's state. Fill-ins (`--fill`, train/fill_in.py) run the same chains with the known units clamped."""
        from nngraph.train.outputs import sample_path
        from nngraph.viz import samples as pictures

        machine, to_host = self.machine, self.backend.to_numpy
        rng = device_generator(machine.xp, np.random.default_rng(request.get("seed", 0)))
        count, steps = int(request.get("count") or 64), int(request.get("steps") or 1000)
        shape, output = visible_picture(machine), sample_path(request)
        means = bool(request.get("means"))
        values = machine.xp.zeros((count, machine.n_visible), dtype=machine.weights.dtype)
        samples = to_host(self.last_sweep(values, np.zeros(machine.n_visible, bool), steps, rng)[int(means)])
        pictures.write_samples(output, samples, shape)
        message = f"wrote {plural(count, 'free-running sample')} ({sweeps_described(steps, means)}) to {output}"
        if machine.restricted and not pictures.is_array(output) and shape[0] != 1:
            message += f", weight filters to {pictures.write_filters(output, to_host(machine.weights), shape)}"
        return message

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """A chain an example (free-running or clamped), --steps sweeps each."""
        return count_times_steps(request)

    @property
    def fill_shape(self) -> tuple[int, ...]:
        """What `--fill` fills in: the visible vector."""
        return (self.machine.n_visible,)

    def fill(self, values: np.ndarray, missing: np.ndarray, request: dict) -> tuple[np.ndarray, str]:
        """The fill-in protocol (train/fill_in.py): chains with the known visible units clamped, as `sample` runs
        them; the missing units' states of the last sweep, or with `--means` their probabilities."""
        from nngraph.train.fill_in import by_mask

        rng = device_generator(self.xp, np.random.default_rng(request.get("seed", 0)))
        steps, means = int(request.get("steps") or 1000), bool(request.get("means"))

        def clamped(rows, mask):
            sweep = self.last_sweep(self.backend.asarray(rows), ~mask, steps, rng)[int(means)]
            return self.backend.to_numpy(sweep)

        return by_mask(values, missing, clamped), sweeps_described(steps, means)

    @property
    def chain_width(self) -> int:
        """The units a persistent chain keeps the states of: every unit (`random_states`)."""
        return self.machine.size

    def random_states(self, count: int, rng):
        """Where chains start: bernoulli units on with probability 1/2, gaussian units at their bias."""
        xp, m = self.xp, self.machine
        states = random_bits(rng, xp, (count, m.size), m.weights.dtype)
        if m.any_gaussian:
            cols = m.gaussian_mask
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


def sweeps_described(steps: int, means: bool) -> str:
    return f"{plural(steps, 'Gibbs sweep')}; {'probabilities' if means else 'states'} of the last sweep"


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
        neg_pairs, neg_singles = self.negative_phase(len(v), drng, step_rows(rng, len(v)).weight)
        difference = xp.subtract(neg_pairs, pos_pairs, out=neg_pairs)
        if m.restricted:  # it keeps only the [visible, hidden] block (compile/energy.py)
            self.grad_weights[...] = difference[: m.n_visible, m.n_visible:]
        else:
            self.grad_weights[...] = difference
            self.grad_weights[self.diagonal, self.diagonal] = 0  # a unit has no link to itself
        xp.subtract(neg_singles, pos_singles, out=self.grad_bias)
        metrics = self.metrics(self.rows(batch), positive, fresh=False)  # the machine that ran the phases
        self.apply()
        return metrics

    def negative_phase(self, count: int, rng, share_of_examples: float = 1.0):
        """The model's statistics: from `count` random states, or from the persistent chains. Under MPI a rank
        steps its share of the chains (every rank holds them all, for checkpoints), and its statistics are
        weighed so that the allreduce, which weighs gradients by the share of the examples, averages them
        over all chains."""
        if self.chain_count:
            if self.chains is None:
                self.chains = self.random_states(self.chain_count, whole(rng))
            chain_rng, chains = other_rows(rng, self.chain_count)
            pairs, singles = self.sweeper.statistics(self.chains[chains.start:chains.stop], self.all_units,
                                                     self.sweeps, self.temperature, chain_rng)
            world().gather_rows(self.chains, chains, self.xp)
            weight = chains.weight / share_of_examples
            return (pairs, singles) if weight == 1.0 else (pairs * weight, singles * weight)
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
        flip &= ~m.gaussian_mask[: m.n_visible]
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
        return xp.where(m.gaussian_mask[: m.n_visible], z, stable_sigmoid(xp, z / self.temperature))

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
        """The metrics of a split, EVAL_ROWS rows at a time (each row's mean field is its own)."""
        tally = Tally()
        for part in chunks(data, EVAL_ROWS):
            v = self.rows(part)
            states = self.means_given_visible(v)
            states[:, : self.machine.n_visible] = v
            tally.add(self.metrics(v, states), len(v))
        return host_metrics(tally.means())

