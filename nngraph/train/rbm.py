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
from nngraph.ops.activations import stable_sigmoid, stable_softplus
from nngraph.train.boltzmann import EnergyMethod
from nngraph.train.feeding import Tally, chunks, host_metrics

METRIC_ROWS = 16  # batches larger than FULL_METRICS are measured on about this many rows
FULL_METRICS = 64
MEASURED_STEPS = 16  # steps measured per epoch when it has more (the others repeat the last measure)
EVAL_CHUNK = 2048


def build(checked, config, backend) -> RBM:
    return RBM(checked.models[config.model], config, backend)


@dataclass
class Buffers:
    """Arrays for one batch size: `v`/`h` stack the data rows over the negative rows."""

    rows: int
    v: object
    h: object
    hidden_sample: object
    hidden_draws: object
    visible_means: object
    visible_draws: object
    signs: object  # -1/n for data rows, +1/m for negative rows: the bias gradient is signs @ v


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

    def _buffers_for(self, n: int) -> Buffers:
        if self.buffers is None or self.buffers.rows != n:
            xp, m = self.xp, self.machine
            dtype, neg = m.weights.dtype, self.chain_count or n
            empty = lambda rows, cols: xp.empty((rows, cols), dtype=dtype)
            signs = np.concatenate([np.full(n, -1.0 / n), np.full(neg, 1.0 / neg)])
            self.buffers = Buffers(n, empty(n + neg, m.n_visible), empty(n + neg, m.n_hidden),
                                   empty(neg, m.n_hidden), empty(neg, m.n_hidden), empty(neg, m.n_visible),
                                   empty(neg, m.n_visible), xp.asarray(signs, dtype=dtype))
        return self.buffers

    def train_step(self, batch: Dataset, rng) -> dict:
        xp, m, gibbs = self.xp, self.machine, self.gibbs
        drng = device_generator(xp, rng)
        n = len(batch)
        b = self._buffers_for(n)
        data, negative, positive_h, negative_h = b.v[:n], b.v[n:], b.h[:n], b.h[n:]
        data[...] = self.backend.asarray(batch.x.reshape(n, -1))
        xp.matmul(data, m.weights, out=positive_h)
        positive_h += m.hidden_bias
        self.steps_in_epoch += 1
        measure = (self.steps_in_epoch - 1) % self.measure_every == 0
        picked = slice(None, None, 1 if n <= FULL_METRICS else -(-n // METRIC_ROWS))
        z_rows = positive_h[picked].copy() if measure else None
        stable_sigmoid(xp, positive_h, positive_h)
        if self.chain_count:
            gibbs.hidden_probs(self.persistent_chains(drng), out=negative_h)
            gibbs.sample_hidden(negative_h, drng, b.hidden_sample, b.hidden_draws)
        else:
            gibbs.sample_hidden(positive_h, drng, b.hidden_sample, b.hidden_draws)
        recon = None
        for step in range(self.k):
            gibbs.visible_means(b.hidden_sample, out=b.visible_means)
            if step == 0 and measure and not self.chain_count:  # CD's first reconstruction of the data
                recon = b.visible_means[picked].copy()
            gibbs.sample_visible(b.visible_means, drng, negative, b.visible_draws)
            gibbs.hidden_probs(negative, out=negative_h)
            if step + 1 < self.k:
                gibbs.sample_hidden(negative_h, drng, b.hidden_sample, b.hidden_draws)
        if self.chain_count:
            self.chains[...] = negative
        if measure:
            self.last_metrics = self.metrics(data[picked], z_rows, rng, recon)
        positive_h *= b.signs[0]
        negative_h *= b.signs[-1]
        xp.matmul(b.v.T, b.h, out=self.grad_weights)
        xp.sum(b.h, axis=0, out=self.grad_bias[m.n_visible:])
        xp.matmul(b.signs, b.v, out=self.grad_bias[: m.n_visible])
        self.apply()
        return self.last_metrics

    def persistent_chains(self, rng):
        """The PCD chains' visible states, started from random bits at the first step."""
        if self.chains is None:
            m = self.machine
            self.chains = random_bits(rng, self.xp, (self.chain_count, m.n_visible), m.weights.dtype)
        return self.chains

    # ---- measures -----------------------------------------------------------------------------------

    def metrics(self, v, z, rng=None, recon=None) -> dict:
        """Measures of visible rows v given their hidden net input z = v W + c. `recon`: the rows'
        reconstructions, if at hand (CD's, from sampled hidden states); else the visible means given the
        hidden probabilities. Without `rng` the flipped bits of the pseudo-likelihood are a fixed function
        of the row, so evaluation draws nothing. 0-d arrays on the device, as a training step returns them."""
        xp, m = self.xp, self.machine
        free = m.free_energy(v, z)
        if recon is None:
            recon = self.gibbs.visible_means(stable_sigmoid(xp, z))
        out = {"recon_error": ((recon - v) ** 2).mean(), "free_energy": free.mean()}
        if not m.any_gaussian:
            out["pseudo_ll"] = self.pseudo_likelihood(v, z, free, rng)
        log_z = self.log_z(fresh=rng is None)
        if log_z is not None:
            out["log_likelihood"] = (-free - log_z).mean()
        out["loss"] = -out["log_likelihood"] if log_z is not None else out["recon_error"]
        return out

    def pseudo_likelihood(self, v, z, free, rng):
        xp, m, count = self.xp, self.machine, len(v)
        bits = (rng.integers(0, m.n_visible, count) if rng is not None
                else (np.arange(count) * 7919) % m.n_visible)
        rows, bits = xp.arange(count), xp.asarray(bits)
        flipped = v.copy()
        flipped[rows, bits] = 1 - v[rows, bits]
        z_flipped = z + (flipped[rows, bits] - v[rows, bits])[:, None] * m.weights[bits]
        gap = m.free_energy(flipped, z_flipped) - free
        return (-m.n_visible * stable_softplus(xp, -gap)).mean()

    def evaluate(self, data: Dataset) -> dict[str, float]:
        tally = Tally()
        for part in chunks(data, EVAL_CHUNK):
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
