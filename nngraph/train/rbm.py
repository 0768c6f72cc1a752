"""Methods `cd` and `pcd`: restricted Boltzmann machines by contrastive divergence, plain (CD-k) or persistent.

One step: the hidden probabilities given the data (positive statistics), then k block-Gibbs steps from the
data's hidden sample (CD-k) or from the persistent chains (PCD, whose states are checkpointed), and the
hidden probabilities at the end (negative statistics). Visible states in the chain are sampled; statistics use
hidden probabilities (Hinton's practical guide, section 3). The gradient passed to the optimizer is
<v h>_model - <v h>_data, as one matrix product over the stacked positive and negative rows into a buffer
made once, so a step allocates almost nothing.

Metrics are measured on about MEASURED_STEPS steps per epoch (every step when an epoch has fewer; the steps
between repeat the last measure), on the whole batch up to FULL_METRICS rows, else about METRIC_ROWS rows:
reconstruction error (mean squared: for CD the chain's first reconstruction, from sampled hidden states; for
PCD and in `evaluate` the visible means given the hidden probabilities), free energy, the pseudo-log-likelihood
(V log sigmoid of the free-energy change when one random bit flips, as scikit-learn's `score_samples`), and
where an exact log Z is cheap the log-likelihood (log Z refreshed once per epoch). `loss` is the negative
log-likelihood where it is known, else the reconstruction error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nngraph.compile.gibbs import BlockGibbs, device_generator, random_bits
from nngraph.data.dataset import Dataset
from nngraph.graph.memory import EVAL_ROWS
from nngraph.ops.activations import stable_sigmoid, stable_softplus
from nngraph.train.boltzmann import EnergyMethod
from nngraph.train.feeding import Tally, chunks, host_metrics
from nngraph.train.parallel import Shard, ShardedGenerator, other_rows, step_rows, whole, world

METRIC_ROWS = 16  # batches larger than FULL_METRICS are measured on about this many rows
FULL_METRICS = 64
MEASURED_STEPS = 16  # steps measured per epoch when it has more (the others repeat the last measure)


def build(checked, config, backend) -> RBM:
    return RBM(checked.models[config.model], config, backend)


@dataclass
class Buffers:
    """Arrays for one batch size: `v`/`h` stack the data rows over the negative rows."""

    key: tuple  # (data rows, negative rows, the negative rows' sign)
    v: object
    h: object
    hidden_sample: object
    hidden_draws: object
    visible_means: object
    visible_draws: object
    signs: object  # -1/n for data rows, +1/m for negative rows: the bias gradient is signs @ v


def measured_rows(examples: Shard) -> tuple[slice, Shard]:
    """Which of a step's rows the metrics measure: all of a global batch of up to FULL_METRICS rows, else every
    s-th row of it (about METRIC_ROWS); as (this shard's rows of them, their share of all measured rows)."""
    stride = 1 if examples.total <= FULL_METRICS else -(-examples.total // METRIC_ROWS)
    first = -examples.start % stride
    start, count = -(-examples.start // stride), len(range(first, examples.rows, stride))
    return slice(first, None, stride), Shard(start, start + count, len(range(0, examples.total, stride)))


def fixed_bits(xp, v, n_visible: int):
    """A visible unit to flip per 0/1 row, a fixed function of the row's values (exact in float64)."""
    weights = xp.asarray((np.arange(n_visible) * 7919 + 1) % 65521, dtype=np.float64)
    return (v.astype(np.float64) @ weights).astype(np.int64) % n_visible


def mean(values):
    """The mean of an array, 0 for an empty one: a 0-d array on the array's device (read once per epoch)."""
    return values.sum() / max(values.size, 1)


class RBM(EnergyMethod):
    """CD-k and PCD on a restricted machine (`EnergyModel.restricted`)."""

    def __init__(self, model, config, backend):
        super().__init__(model, config, backend)
        self.k, self.chain_count = config.method.options["k"], config.method.options.get("chains", 0)
        self.gibbs = BlockGibbs(self.machine)
        self.buffers: Buffers | None = None
        self.steps_in_epoch, self.measure_every, self.last_metrics = 0, 1, {}

    def set_learning_rate(self, lr: float) -> None:
        super().set_learning_rate(lr)
        self.measure_every = max(1, self.steps_in_epoch // MEASURED_STEPS)
        self.steps_in_epoch = 0

    # ---- one update -----------------------------------------------------------------------------

    def _buffers_for(self, n: int, neg: int, negative_sign: float) -> Buffers:
        if self.buffers is None or self.buffers.key != (n, neg, negative_sign):
            xp, m = self.xp, self.machine
            dtype = m.weights.dtype
            empty = lambda rows, cols: xp.empty((rows, cols), dtype=dtype)
            signs = np.concatenate([np.full(n, -1.0 / n), np.full(neg, negative_sign)])
            self.buffers = Buffers((n, neg, negative_sign), empty(n + neg, m.n_visible), empty(n + neg, m.n_hidden),
                                   empty(neg, m.n_hidden), empty(neg, m.n_hidden), empty(neg, m.n_visible),
                                   empty(neg, m.n_visible), xp.asarray(signs, dtype=dtype))
        return self.buffers

    def train_step(self, batch: Dataset, rng) -> dict:
        """Under MPI (`rng` a rank's view, train/parallel.py) the rank's examples are its shard of the global
        batch, and with PCD it steps its share of the chains (every rank holds them all, for checkpoints); every
        draw is one process's for those rows, and the negative statistics are weighed so that the allreduce,
        which weighs the gradients by the share of the examples, averages them over all chains."""
        xp, m, gibbs = self.xp, self.machine, self.gibbs
        drng = device_generator(xp, rng)
        n = len(batch)
        examples = step_rows(rng, n)
        chain_rng, chains = other_rows(drng, self.chain_count) if self.chain_count else (drng, examples)
        b = self._buffers_for(n, chains.rows, examples.total / n / chains.total)
        data, negative, positive_h, negative_h = b.v[:n], b.v[n:], b.h[:n], b.h[n:]
        data[...] = self.backend.asarray(batch.x.reshape(n, -1))
        xp.matmul(data, m.weights, out=positive_h)
        positive_h += m.hidden_bias
        self.steps_in_epoch += 1
        measure = (self.steps_in_epoch - 1) % self.measure_every == 0
        picked, measured = measured_rows(examples)
        z_rows = positive_h[picked].copy() if measure else None
        stable_sigmoid(xp, positive_h, positive_h)
        if self.chain_count:
            gibbs.hidden_probs(self.persistent_chains(drng)[chains.start:chains.stop], out=negative_h)
            gibbs.sample_hidden(negative_h, chain_rng, b.hidden_sample, b.hidden_draws)
        else:
            gibbs.sample_hidden(positive_h, drng, b.hidden_sample, b.hidden_draws)
        recon = None
        for step in range(self.k):
            gibbs.visible_means(b.hidden_sample, out=b.visible_means)
            if step == 0 and measure and not self.chain_count:  # CD's first reconstruction of the data
                recon = b.visible_means[picked].copy()
            gibbs.sample_visible(b.visible_means, chain_rng, negative, b.visible_draws)
            gibbs.hidden_probs(negative, out=negative_h)
            if step + 1 < self.k:
                gibbs.sample_hidden(negative_h, chain_rng, b.hidden_sample, b.hidden_draws)
        if self.chain_count:
            self.chains[chains.start:chains.stop] = negative
            world().gather_rows(self.chains, chains, xp)
        if measure:  # the measured rows of the global batch, over the ranks (the loop's reduction keeps them)
            metrics = self.metrics(data[picked], z_rows, ShardedGenerator(whole(rng), measured), recon)
            self.last_metrics = world().reduce_metrics(metrics, measured.rows)
        positive_h *= b.signs[0]
        negative_h *= b.signs[-1]
        xp.matmul(b.v.T, b.h, out=self.grad_weights)
        self._bias_gradients(data, negative, positive_h, negative_h, b.signs)
        self.apply()
        return self.last_metrics

    def _bias_gradients(self, data, negative, positive_h, negative_h, signs) -> None:
        """<s>_model - <s>_data: each side's states (visible) and weighed hidden probabilities summed apart, then
        subtracted, so that a chain whose rows are the data's gives exactly 0 (visible units: as many states
        on as in the data, whole counts for bernoulli units; hidden units: with CD, whose chain has a row per
        data row, the same probabilities summed in the same order). A signed sum over both sides' rows at once
        leaves rounding there (about 1e-8 in float32), which Adam, whose step is about lr for any gradient
        well above its eps, turned into a full step."""
        m, xp = self.machine, self.xp
        visible, hidden = self.grad_bias[: m.n_visible], self.grad_bias[m.n_visible:]
        xp.sum(negative, axis=0, out=visible)
        visible *= signs[-1]
        visible += data.sum(axis=0) * signs[0]
        xp.sum(negative_h, axis=0, out=hidden)
        hidden += positive_h.sum(axis=0)

    @property
    def chain_width(self) -> int:
        """PCD's chains keep the visible states (`persistent_chains`)."""
        return self.machine.n_visible

    def persistent_chains(self, rng):
        """The PCD chains' visible states, started from random bits at the first step (all of them, the same
        on every MPI rank)."""
        if self.chains is None:
            m = self.machine
            self.chains = random_bits(whole(rng), self.xp, (self.chain_count, m.n_visible), m.weights.dtype)
        return self.chains

    # ---- measures -----------------------------------------------------------------------------------

    def metrics(self, v, z, rng=None, recon=None) -> dict:
        """Measures of visible rows v given their hidden net input z = v W + c. `recon`: the rows'
        reconstructions, if at hand (CD's, from sampled hidden states); else the visible means given the
        hidden probabilities. Without `rng` the flipped bits of the pseudo-likelihood are a fixed function
        of the row's values, so evaluation draws nothing (and a split evaluated in shares flips the bits one
        pass does). Means of no rows (an MPI rank measuring none of a step's rows) are 0. 0-d arrays on the
        device, as a training step returns them."""
        xp, m = self.xp, self.machine
        free = m.free_energy(v, z)
        if recon is None:
            recon = self.gibbs.visible_means(stable_sigmoid(xp, z))
        out = {"recon_error": mean((recon - v) ** 2), "free_energy": mean(free)}
        if not m.any_gaussian:
            out["pseudo_ll"] = self.pseudo_likelihood(v, z, free, rng)
        log_z = self.log_z(fresh=rng is None)
        if log_z is not None:
            out["log_likelihood"] = mean(-free - log_z)
        out["loss"] = -out["log_likelihood"] if log_z is not None else out["recon_error"]
        return out

    def pseudo_likelihood(self, v, z, free, rng):
        """`rng`: a view of the measured rows of the global batch (`ShardedGenerator`), or None."""
        xp, m, count = self.xp, self.machine, len(v)
        bits = (rng.rows("integers", (count,), low=0, high=m.n_visible) if rng is not None
                else fixed_bits(xp, v, m.n_visible))
        rows, bits = xp.arange(count), xp.asarray(bits)
        flipped = v.copy()
        flipped[rows, bits] = 1 - v[rows, bits]
        z_flipped = z + (flipped[rows, bits] - v[rows, bits])[:, None] * m.weights[bits]
        gap = m.free_energy(flipped, z_flipped) - free
        return mean(-m.n_visible * stable_softplus(xp, -gap))

    def evaluate(self, data: Dataset) -> dict[str, float]:
        tally = Tally()
        for part in chunks(data, EVAL_ROWS):
            v = self.rows(part)
            tally.add(self.metrics(v, v @ self.machine.weights + self.machine.hidden_bias), len(v))
        return host_metrics(tally.means())

    # ---- predict, sample, checkpoint ------------------------------------------------------------------

    def means_given_visible(self, v):
        hidden = self.gibbs.hidden_probs(v)
        return self.xp.concatenate([self.gibbs.visible_means(hidden), hidden], axis=1)

    def last_sweep(self, values, observed: np.ndarray, steps: int, rng):
        """`steps` block-Gibbs steps (hidden given visible, then visible given hidden) from the visible part
        of `random_states`."""
        xp = self.xp
        start = self.random_states(len(values), rng)[:, : self.machine.n_visible]
        clamp = xp.asarray(observed)
        start[:, clamp] = values[:, clamp]
        means, states = self.gibbs.run(start, steps, rng, clamp if observed.any() else None, values)
        return states, means
