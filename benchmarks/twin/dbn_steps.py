"""Method `dbn`: greedy pretraining, then fine-tuning, against the twin's reading of section 9 ("Deep belief nets")
and section 7's batches. nngraph pretrains through its training loop with a generator that hands it numbers (each
epoch's row order, the Gibbs sampler's uniforms); the twin trains each pair (below, above) as the `cd` (or `pcd`)
update does, batch by batch in the order it was handed, with a fresh optimizer per pair: weights from nngraph's
initial N(0, 0.01^2) draw of that pair, hidden biases 0, visible biases from the pair's data; the next pair on
the hidden probabilities; with `labels=true` the top pair's visible units joined by the one-hot labels, a softmax
group sampled from its first unit's uniform. Compared: each layer's reconstruction error before and after
pretraining (summary.json's), the installed weights, biases, generative biases and label weights, then two
full-batch fine-tuning steps of backprop (loss and parameters) from the twin's own pretrained network."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from nngraph.data.dataset import Dataset
from nngraph.train import dbn

from .compare import Worst, rel_diff
from .generate import rand_optimizer
from .net import Net, call
from .stepping import Handed, contrastive_chain, method_for, start_epoch, statistics_update
from .torch_twin import Draws, torch_optimizer, torch_optimizer_for, twin_forward, twin_loss, twin_update

FINE_TUNING = 2  # full-batch backprop steps after pretraining


def dbn_case(rng):
    """A chain of sigmoid layers (sizes from 1) with a softmax (or, without labels, an identity) output, dbn
    options, an optimizer; data in [0, 1] (0/1 or real) and labels or real targets; what it uses."""
    net, used = Net(), set()
    d, classes = int(rng.integers(1, 5)), int(rng.integers(2, 4))
    labels = bool(rng.random() < 0.4)
    regression = not labels and rng.random() < 0.3
    net.unit("x", "input", (d,))
    layers = [f"h{i + 1}" for i in range(int(rng.integers(1, 4)))]
    for name in layers:
        net.unit(name, "layer", (int(rng.integers(1, 4)),), "sigmoid")
    net.unit("y", "output", (classes,), "identity" if regression else "softmax")
    for a, b in zip(["x", *layers], [*layers, "y"]):
        net.link(a, b)
    net.losses.append((1, "mse" if regression else "cross_entropy", "y", None))
    options = dict(k=int(rng.integers(1, 3)), pretrain=int(rng.integers(1, 4)))
    if labels:
        options["labels"] = True
    if rng.random() < 0.3:
        options["chains"] = int(rng.integers(1, 4))
    if rng.random() < 0.5:
        options["pretrain_optimizer"] = ["sgd(lr=0.2, momentum=0.5)", "adam(lr=0.02)"][rng.integers(2)]
    lines, used = rand_optimizer(rng)
    if "pretrain_optimizer" in options:
        used.add(f"pretrain_optimizer={options['pretrain_optimizer'][:4]}")
    n = int(rng.integers(1, 7))
    batch = int(rng.integers(1, n + 2))
    lines += [f"method {call('dbn', options)}", f"batch {batch}"]
    used |= {f"{len(layers)} layers", "pcd" if "chains" in options else "cd", *(["labels=true"] if labels else []),
             *(["mse fine-tuning"] if regression else []), *(["batch 1"] if batch == 1 else []),
             *(["a last partial batch"] if n % batch and batch < n else [])}
    binary = rng.random() < 0.5
    x = (rng.random((n, d)) < 0.5).astype(float) if binary else rng.random((n, d))
    y = rng.normal(size=(n, classes)) if regression else rng.integers(0, classes, n)
    used.add("0/1 data" if binary else "real data in [0, 1]")
    return net, used, net.text(lines), x, y, options, layers, batch


@contextlib.contextmanager
def initial_weights():
    """The weights of each pair's RBM as nngraph draws them (a list filled as pretraining builds them)."""
    made, original = [], dbn.RBM

    class Recorded(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(np.array(self.machine.weights, dtype=np.float64))

    dbn.RBM = Recorded
    try:
        yield made
    finally:
        dbn.RBM = original


def labelled_means(z, classes):
    """A pair's visible means from their net input z: sigmoid, the last `classes` units softmax(z) over them."""
    means = torch.sigmoid(z)
    if classes:
        means[:, -classes:] = torch.softmax(z[:, -classes:], dim=1)
    return means


def labelled_sample(means, handed, classes):
    """Visible states from their means, a uniform each (on below it); the last `classes` units one class: the
    number of cumulative probabilities below the label's first uniform (at most the last)."""
    u = handed.take("random", means.shape)
    bits = (u < means).double()
    if classes:
        first = means.shape[1] - classes
        chosen = (torch.cumsum(means[:, first:], 1) < u[:, first:first + 1]).sum(1).clamp(max=classes - 1)
        bits[:, first:] = torch.nn.functional.one_hot(chosen, classes).double()
    return bits


class PairTwin:
    """One pair as an RBM: its parameters, its optimizer and the documented `cd`/`pcd` update; the last `classes`
    visible units a softmax label when classes > 0."""

    def __init__(self, weights, data, config, options, classes):
        mean = data.mean(0).clamp(1e-3, 1 - 1e-3)
        self.P = {"pair.weight": torch.tensor(weights, requires_grad=True),
                  "visible.bias": torch.log(mean / (1 - mean)).requires_grad_(),
                  "hidden.bias": torch.zeros(weights.shape[1], requires_grad=True)}
        choice = options.get("pretrain_optimizer_choice") or config.optimizer
        self.optimizer, _ = torch_optimizer_for(choice, self.P)
        self.config, self.k, self.chains, self.classes = config, options["k"], options.get("chains", 0), classes
        self.state = None

    def parts(self):
        return tuple(self.P[k].detach() for k in ("pair.weight", "visible.bias", "hidden.bias"))

    def visible_means(self, z):
        return labelled_means(z, self.classes)

    def sample_visible(self, means, handed):
        return labelled_sample(means, handed, self.classes)

    def step(self, data, handed):
        W, b, c = self.parts()
        positive, visible, negative, _ = contrastive_chain(self, data, W, b, c, handed)
        grads = {"pair.weight": visible.T @ negative / len(visible) - data.T @ positive / len(data),
                 "visible.bias": visible.mean(0) - data.mean(0), "hidden.bias": negative.mean(0) - positive.mean(0)}
        statistics_update(self.config, self.P, self.optimizer, grads)

    def recon_error(self, data):
        """Section 9's evaluation measure: the visible means given the hidden probabilities, against the data."""
        W, b, c = self.parts()
        return float(((self.visible_means(torch.sigmoid(data @ W + c) @ W.T + b) - data) ** 2).mean())


def twin_pretraining(config, options, layers, x, labels, batch, initial, handed):
    """The pairs bottom up; each pair's recon errors (before, after) and its trained parameters. `labels`:
    (class indices, the output's classes) for labels=true."""
    data, stack, pairs, out = torch.tensor(x), ["x", *layers], [], []
    for index, _ in enumerate(layers):
        top = index == len(layers) - 1
        classes = 0
        if top and options.get("labels"):
            y, classes = labels
            data = torch.cat([data, torch.nn.functional.one_hot(torch.tensor(y), classes).double()], 1)
        pair = PairTwin(initial[index], data, config, options, classes)
        before = pair.recon_error(data)
        for _ in range(options["pretrain"]):
            order = handed.take("permutation", (len(data),)).long() if batch < len(data) else torch.arange(len(data))
            for start in range(0, len(data), batch):
                pair.step(data[order[start:start + batch]], handed)
        out.append((before, pair.recon_error(data), pair.parts()))
        if not top:
            W, _, c = pair.parts()
            data = torch.sigmoid(data @ W + c)
        pairs.append((stack[index], stack[index + 1]))
    return pairs, out


def compare_dbn_steps(rng):
    net, used, text, x, y, options, layers, batch = dbn_case(rng)
    config, method = method_for(text)
    classes = net.units[-1]["shape"][0]
    regression = net.losses[0][1] == "mse"
    data = Dataset(x, y, "regression" if regression else "classification", n_classes=None if regression else classes)
    method.check_data(data, None)
    draws = Draws(np.random.default_rng(500))
    with initial_weights() as initial:
        method.pretrain(data, draws, True)
    handed = Handed(draws, skip=("integers",))  # the pseudo-likelihood's flipped bits (not compared)
    if options.get("pretrain_optimizer"):
        options["pretrain_optimizer_choice"] = config.method.options["pretrain_optimizer"]
    worst = Worst()
    pairs, twin = twin_pretraining(config, options, layers, x, (y, classes), batch, initial, handed)
    if handed.made:
        worst.note(np.inf, f"pretraining drew {len(handed.made)} arrays more than the twin expects")
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in method.program.params.items()}
    for (below, above), (before, after, (W, b, c)), record in zip(pairs, twin, method.pretraining):
        worst.note(rel_diff(record["recon_error_before"], before), f"{above}'s recon_error before pretraining")
        worst.note(rel_diff(record["recon_error_after"], after), f"{above}'s recon_error after pretraining")
        units = P[f"{below}->{above}.weight"].shape[0]
        worst.note(rel_diff(P[f"{below}->{above}.weight"], W[:units]), f"pretrained {below}->{above}.weight")
        worst.note(rel_diff(P[f"{above}.bias"], c), f"pretrained {above}.bias")
        worst.note(rel_diff(method.generative[below], b[:units]), f"generative bias of {below}")
        if len(b) > units:
            worst.note(rel_diff(method.label_weight, W[units:]), "label weights")
            worst.note(rel_diff(method.label_bias, b[units:]), "label biases")
        P[f"{below}->{above}.weight"], P[f"{above}.bias"] = W[:units].clone(), c.clone()  # the twin's own
    worst.note(*fine_tuning(net, method, config, data, P))
    return used, (worst.value, text)


def fine_tuning(net, method, config, data, P):
    """FINE_TUNING full-batch backprop steps from the pretrained network: each step's loss, then the parameters."""
    P = {k: v.clone().requires_grad_() for k, v in P.items()}
    topt, _ = torch_optimizer(config, P)
    worst = Worst()
    for epoch in range(FINE_TUNING):
        start_epoch(method, config, epoch, FINE_TUNING)
        ours = method.train_step(data, Draws(np.random.default_rng(600 + epoch)))
        topt.zero_grad()
        xs = {"x": data.x}
        loss = twin_loss(net, twin_forward(net, P, {}, xs, True, [], []), P, {}, xs, [], [], data.y)
        worst.note(rel_diff(float(ours["loss"]), float(loss.detach())), f"fine-tuning loss of step {epoch + 1}")
        twin_update(config, P, topt, loss)
    worst.note(max(rel_diff(method.program.get(k), P[k].detach()) for k in P),
               f"parameters after {FINE_TUNING} fine-tuning steps")
    return worst.value
