"""Method `boltzmann` on a general machine (hidden-hidden and lateral links, gaussian visible units), a few
epochs of one step each, against the twin's reading of section 9 ("One update of `boltzmann`, exactly"): noisy
clamping, starting states, the annealing schedule's sweeps and the reading sweeps of each phase (random,
sequential or colour-class order; mean field in the positive phase), fresh negative chains or persistent ones,
the draws handed over in the documented order. The optimizer gets `<s_i s_j>_model - <s_i s_j>_data` as for
`cd`. Compared: each step's recon_error (and the exact log-likelihood where the twin enumerates the machine: all
units bernoulli), and the parameters after the last step."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from nngraph.data.dataset import Dataset

from .compare import Worst, rel_diff
from .generate import rand_optimizer
from .net import Net, call
from .stepping import (
    Handed,
    method_for,
    metric_difference,
    parameter_difference,
    start_epoch,
    statistics_update,
    step,
    torch_copies,
)
from .torch_twin import torch_optimizer

EPOCHS = 3


def rand_links(rng, visible, hidden):
    """Symmetric links: each visible group to some hidden group, hidden-hidden, laterals (never between two
    gaussian units); every group joined to something. (first, second) name pairs."""
    links = []
    for name, _, _ in visible:
        links.append((name, hidden[rng.integers(len(hidden))][0]))
        others = [h for h, _, _ in hidden if (name, h) not in links]
        if others and rng.random() < 0.4:
            links.append((name, others[rng.integers(len(others))]))
    for (a, _, _), (b, _, _) in itertools.combinations(hidden, 2):
        if rng.random() < 0.6:
            links.append((a, b))
    joined = {b for a, b in links if a in {name for name, _, _ in visible}}
    joined |= {x for a, b in links for x in (a, b) if {a, b} & joined}
    for name, _, _ in hidden:  # a hidden group no visible unit reaches: `check` refuses it (tested there)
        if name not in joined:
            links.append((visible[0][0], name))
    for name, _, kind in visible + hidden:
        if kind == "bernoulli" and rng.random() < 0.35:
            links.append((name, name))
    if len(visible) == 2 and "gaussian" not in (visible[0][2], visible[1][2]) and rng.random() < 0.3:
        links.append((visible[0][0], visible[1][0]))
    return links


def rand_options(rng):
    """The boltzmann call's options and the constructs they use."""
    options, used = {}, set()
    if rng.random() < 0.5:
        options["anneal"] = [[float(rng.choice([4.0, 2.0, 1.5])), int(rng.integers(1, 3))],
                             [float(rng.choice([1.0, 0.5, 2.0])), int(rng.integers(1, 3))]]
        used.add("anneal")
    options["sweeps"] = int(rng.integers(1, 4))
    options["order"] = ["random", "sequential", "parallel"][rng.integers(3)]
    used.add(f"order={options['order']}")
    if rng.random() < 0.3:
        options["mean_field"] = True
        used.add("mean_field")
    if rng.random() < 0.3:
        options["noisy_clamp"] = 0.2
        used.add("noisy_clamp")
    if rng.random() < 0.35:
        options["chains"] = int(rng.integers(1, 5))
        used.add("chains")
    return options, used


def boltzmann_step_case(rng):
    """A general machine of one or two visible and hidden groups (sizes from 1), its options, an optimizer and
    0/1 data (normal values for a gaussian group); what it uses."""
    net = Net()
    visible = [("v", int(rng.integers(1, 4)), "gaussian" if rng.random() < 0.2 else "bernoulli")]
    if rng.random() < 0.35:
        visible.append(("w", int(rng.integers(1, 3)), "bernoulli"))
    hidden = [(f"h{i}", int(rng.integers(1, 4)), "bernoulli") for i in range(1 + (rng.random() < 0.5))]
    for role, groups in (("visible", visible), ("hidden", hidden)):
        for name, size, kind in groups:
            net.unit(name, role, (size,), kind)
    links = rand_links(rng, visible, hidden)
    for a, b in links:
        net.link(a, b, "symmetric")
    options, used = rand_options(rng)
    lines, more = rand_optimizer(rng)
    n = int(rng.integers(1, 6))
    lines += [f"method {call('boltzmann', options)}", f"batch {n}"]
    names = {name for name, _, _ in visible}
    used |= more | {"restricted" if all((a in names) != (b in names) for a, b in links) else "general"}
    used |= {"lateral" for a, b in links if a == b} | {"gaussian visible" for *_, k in visible if k == "gaussian"}
    text = "\n".join(net.model_lines("m") + ["train {", "  model m", "  data xor", *(
        "  " + line for line in lines), "}"]) + "\n"
    columns = [rng.normal(size=(n, size)) if kind == "gaussian" else (rng.random((n, size)) < 0.5).astype(float)
               for _, size, kind in visible]
    return used, text, np.concatenate(columns, axis=1), options, (visible + hidden, [v[0] for v in visible]), links


class BoltzmannTwin:
    """The machine as section 9 lays it out (one flat state vector), its optimizer, the persistent chains."""

    def __init__(self, method, config, options, groups, visible, links):
        self.config, self.links = config, links
        self.schedule = [(float(t), int(s)) for t, s in options.get("anneal") or []]
        self.T = self.schedule[-1][0] if self.schedule else 1.0
        self.sweeps, self.order = options["sweeps"], options["order"]
        self.mean_field, self.noisy = options.get("mean_field", False), options.get("noisy_clamp", 0.0)
        self.chain_count, self.chains = options.get("chains", 0), None
        self.spans, start = {}, 0
        for name, size, _ in groups:  # visible groups first: the case lists them so
            self.spans[name] = slice(start, start + size)
            start += size
        self.N = start
        self.V = sum(size for name, size, _ in groups if name in visible)
        self.gaussian = torch.tensor([kind == "gaussian" for _, size, kind in groups for _ in range(size)])
        self.linked = torch.zeros(self.N, self.N, dtype=torch.bool)
        for a, b in links:
            self.linked[self.spans[a], self.spans[b]] = self.linked[self.spans[b], self.spans[a]] = True
        self.linked.fill_diagonal_(False)
        self.P = torch_copies(method.params)
        self.optimizer, _ = torch_optimizer(config, self.P)

    def couplings(self):
        """The symmetric [N, N] matrix (each link's block and its mirror) and the bias vector."""
        P = {k: p.detach() for k, p in self.P.items()}
        W = torch.zeros(self.N, self.N)
        for a, b in self.links:
            w = P[f"{a}<->{b}.weight"]
            W[self.spans[a], self.spans[b]] = w
            W[self.spans[b], self.spans[a]] = w.T
        b = torch.zeros(self.N)
        for name, span in self.spans.items():
            b[span] = P[f"{name}.bias"]
        return W, b

    def starting_states(self, rows, handed, b):
        s = (handed.take("random", (rows, self.N)) < 0.5).double()
        s[:, self.gaussian] = b[self.gaussian]
        return s

    def update_sets(self, free, handed):
        """The unit sets of one sweep in update order: single units, or colour classes (lists)."""
        if self.order == "parallel":
            classes = []
            for unit in free:
                home = next((c for c in classes if not self.linked[unit, c].any()), None)
                home.append(unit) if home is not None else classes.append([unit])
            return classes
        if self.order == "random":
            return [free[i] for i in torch.argsort(handed.take("random", (len(free),))).tolist()]
        return list(free)

    def sweep(self, s, free, T, handed, W, b, mean_field=False):
        """One sweep in place: the sweep's uniforms, its order, then each unit (or class) from the current
        states; mean field sets each to its mean and draws no uniforms."""
        u = None if mean_field else handed.take("random", s.shape)
        for units in self.update_sets(free, handed):
            z = s @ W[:, units] + b[units]
            gaussian = self.gaussian[units]
            if mean_field:
                s[:, units] = torch.where(gaussian, z, torch.sigmoid(z / T))
                continue
            new = (u[:, units] < torch.sigmoid(z / T)).double()
            if isinstance(units, int) and gaussian:  # N(z, T): a normal draw per row
                new = z + math.sqrt(T) * handed.take("normal", z.shape)
            elif gaussian.any():  # a class's gaussian units, their draws together
                new[:, gaussian] = z[:, gaussian] + math.sqrt(T) * handed.take("normal", z[:, gaussian].shape)
            s[:, units] = new

    def run(self, s, free, schedule, handed, W, b, mean_field=False):
        for T, sweeps in schedule:
            for _ in range(sweeps):
                self.sweep(s, free, T, handed, W, b, mean_field)

    def statistics(self, s, free, handed, W, b, mean_field=False):
        """<s_i s_j> and <s_i>: after each of `sweeps` sweeps at T_last; mean field: once, after them."""
        pairs, singles, reads = 0, 0, 1 if mean_field else self.sweeps
        if mean_field:
            self.run(s, free, [(self.T, self.sweeps)], handed, W, b, True)
        for _ in range(reads):
            if not mean_field:
                self.sweep(s, free, self.T, handed, W, b)
            pairs, singles = pairs + s.T @ s, singles + s.sum(0)
        return pairs / (reads * len(s)), singles / (reads * len(s))

    def step(self, handed, x):
        W, b = self.couplings()
        data = torch.tensor(x)
        v = data
        if self.noisy:
            u = handed.take("random", v.shape)
            flip = torch.where(v > 0.5, u < self.noisy, u < self.noisy / 3) & ~self.gaussian[: self.V]
            v = torch.where(flip, 1 - v, v)
        hidden, every = list(range(self.V, self.N)), list(range(self.N))
        positive = self.starting_states(len(x), handed, b)
        positive[:, : self.V] = v
        self.run(positive, hidden, self.schedule, handed, W, b, self.mean_field)
        pos = self.statistics(positive, hidden, handed, W, b, self.mean_field)
        if self.chain_count:
            if self.chains is None:
                self.chains = self.starting_states(self.chain_count, handed, b)
            neg = self.statistics(self.chains, every, handed, W, b)
        else:
            negative = self.starting_states(len(x), handed, b)
            self.run(negative, every, self.schedule, handed, W, b)
            neg = self.statistics(negative, every, handed, W, b)
        metrics = self.metrics(data, positive, W, b)
        pairs = neg[0] - pos[0]
        pairs.fill_diagonal_(0)
        grads = {f"{a}<->{c}.weight": pairs[self.spans[a], self.spans[c]] for a, c in self.links}
        grads.update({f"{name}.bias": (neg[1] - pos[1])[span] for name, span in self.spans.items()})
        statistics_update(self.config, self.P, self.optimizer, grads)
        return metrics

    def metrics(self, data, positive, W, b):
        """recon_error from the positive phase's final state; the exact log-likelihood at T_last by enumerating
        every state (all-bernoulli machines)."""
        z = positive @ W[:, : self.V] + b[: self.V]
        recon = torch.where(self.gaussian[: self.V], z, torch.sigmoid(z / self.T))
        out = {"recon_error": float(((recon - data) ** 2).mean())}
        if not self.gaussian.any():
            codes = torch.tensor(list(itertools.product((0.0, 1.0), repeat=self.N)))
            log_z = torch.logsumexp(-energy(codes, W, b) / self.T, 0)
            count = self.N - self.V
            hidden = torch.tensor(list(itertools.product((0.0, 1.0), repeat=count))).reshape(-1, count)
            rows = [torch.logsumexp(-energy(torch.cat([row.expand(len(hidden), -1), hidden], 1), W, b) / self.T, 0)
                    for row in data]
            out["log_likelihood"] = float(torch.stack(rows).mean() - log_z)
            out["loss"] = -out["log_likelihood"]
        return out


def visible_bias_from(x, kind):
    """Section 9: log(p / (1 - p)) of each bernoulli unit's frequency of being on, clipped to [0.001, 0.999];
    the mean for gaussian units."""
    p = torch.tensor(x).mean(0)
    if kind == "gaussian":
        return p
    p = p.clamp(1e-3, 1 - 1e-3)
    return torch.log(p / (1 - p))


def energy(s, W, b):
    """E(s) = - sum_i b_i s_i - sum_{i<j} w_ij s_i s_j (all bernoulli units)."""
    return -(s @ b) - 0.5 * ((s @ W) * s).sum(1)


def compare_boltzmann_steps(rng):
    used, text, x, options, (groups, visible), links = boltzmann_step_case(rng)
    config, method = method_for(text)
    data = Dataset(x, None, "unsupervised")
    method.check_data(data, None)
    method.pretrain(data, None)  # the loop's hook before the first epoch: the visible biases from the data
    twin, worst = BoltzmannTwin(method, config, options, groups, visible, links), Worst()
    worst.note(rel_diff(twin.P["v.bias"].detach(), visible_bias_from(x[:, : twin.spans["v"].stop], groups[0][2])),
               "v's biases from the data")
    for epoch in range(EPOCHS):
        start_epoch(method, config, epoch, EPOCHS)
        draws, ours = step(method, x, seed=400 + epoch)
        handed = Handed(draws)
        d, name = metric_difference(ours, twin.step(handed, x))
        worst.note(d, f"{name} of step {epoch + 1}")
        if handed.made:
            worst.note(np.inf, f"step {epoch + 1} drew {len(handed.made)} arrays more than the twin expects")
    worst.note(parameter_difference(method.params, twin.P), f"parameters after {EPOCHS} steps")
    return used, (worst.value, text)
