"""Methods `cd` and `pcd` on a restricted machine, a few epochs of one step each, against the twin's reading
of section 9: hidden probabilities given the data (positive statistics); k block-Gibbs steps from the data's
hidden sample (CD) or from the persistent chains, which start as random bits (PCD); the hidden probabilities
at the end with the chain's visible states (negative statistics); a bernoulli unit on where its uniform draw
is below its probability, the draws handed to the twin in the documented order. The optimizer gets
`<s_i s_j>_model - <s_i s_j>_data` and applies the penalties and clipping of any method. Compared: each step's
recon_error, free_energy and pseudo_ll (its flipped bits handed over), the parameters after the last step,
and evaluation's measures (the bits there a fixed function of each row)."""

from __future__ import annotations

import numpy as np
import torch

from nngraph.data.dataset import Dataset

from .compare import Worst
from .generate import rand_optimizer
from .net import Net, call
from .stepping import (
    Handed,
    contrastive_chain,
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


def rbm_step_case(rng):
    """A restricted machine of one or two visible groups, cd or pcd, an optimizer; 0/1 data; what it uses."""
    net = Net()
    groups = [("v", int(rng.integers(2, 6)))] if rng.random() < 0.6 else [("a", 2), ("b", int(rng.integers(1, 4)))]
    kind = "gaussian" if rng.random() < 0.3 else "bernoulli"  # every visible unit's
    for name, size in groups:
        net.unit(name, "visible", (size,), kind)
    net.unit("h", "hidden", (int(rng.integers(1, 5)),), "bernoulli")
    for name, _ in groups:
        net.link(name, "h", "symmetric")
    k = int(rng.integers(1, 4))
    options = dict(k=k) if rng.random() < 0.5 else dict(k=k, chains=int(rng.integers(1, 6)))
    method = "pcd" if "chains" in options else "cd"
    lines, used = rand_optimizer(rng)
    n = int(rng.integers(1, 7))
    lines += [f"method {call(method, options)}", f"batch {n}"]
    used |= {f"{method} k={k}", f"{kind} visible", *(["two visible groups"] if len(groups) > 1 else [])}
    text = "\n".join(net.model_lines("m") + ["train {", "  model m", "  data xor", *(
        "  " + line for line in lines), "}"]) + "\n"
    width = sum(size for _, size in groups)
    x = rng.normal(size=(n, width)) if kind == "gaussian" else (rng.random((n, width)) < 0.5).astype(float)
    return net, used, text, x, options, [name for name, _ in groups], kind == "gaussian"


class RbmTwin:
    """The machine's parameters, its optimizer, the persistent chains, and one documented update."""

    def __init__(self, method, config, options, visible, gaussian):
        self.config, self.k, self.chains, self.gaussian = config, options["k"], options.get("chains"), gaussian
        self.visible, self.state = visible, None
        self.P = torch_copies(method.params)
        self.optimizer, _ = torch_optimizer(config, self.P)

    def couplings(self):
        """The weight matrix [visible units, hidden units] (groups in declaration order) and both biases."""
        P = {k: p.detach() for k, p in self.P.items()}
        return (torch.cat([P[f"{g}<->h.weight"] for g in self.visible]),
                torch.cat([P[f"{g}.bias"] for g in self.visible]), P["h.bias"])

    def step(self, handed, x, bits):
        """One update; its metrics, the pseudo-likelihood's flipped bits `bits` handed over."""
        W, b, c = self.couplings()
        data = torch.tensor(x)
        positive, visible, negative, first = contrastive_chain(self, data, W, b, c, handed)
        recon = self.visible_means(positive @ W.T + b) if self.chains else first
        metrics = self.measures(data, recon, bits)
        statistics_update(self.config, self.P, self.optimizer, self.gradients(data, positive, visible, negative))
        return metrics

    def free_energy(self, v):
        W, b, c = self.couplings()
        free = -(v @ b) - torch.nn.functional.softplus(v @ W + c).sum(1)
        return free + (v**2).sum(1) / 2 if self.gaussian else free  # the energy's s_i^2 / 2 of gaussian units

    def measures(self, data, recon, bits):
        """recon_error, free_energy and (bernoulli machines) pseudo_ll: V log sigmoid(F(v~) - F(v)), v~ the row
        with its bit `bits[row]` flipped."""
        free = self.free_energy(data)
        metrics = {"recon_error": float(((recon - data) ** 2).mean()), "free_energy": float(free.mean())}
        if not self.gaussian:
            flipped = data.clone()
            rows = torch.arange(len(data))
            flipped[rows, bits] = 1 - data[rows, bits]
            gap = self.free_energy(flipped) - free
            metrics["pseudo_ll"] = float((data.shape[1] * torch.nn.functional.logsigmoid(gap)).mean())
        return metrics

    def evaluation(self, x):
        """`eval`'s measures: the reconstruction from the hidden means, each row's flipped bit the documented
        fixed function of its values: sum_i v_i ((7919 i + 1) mod 65521), mod V."""
        W, b, c = self.couplings()
        data = torch.tensor(x)
        recon = self.visible_means(torch.sigmoid(data @ W + c) @ W.T + b)
        weights = (torch.arange(data.shape[1], dtype=torch.float64) * 7919 + 1) % 65521
        return self.measures(data, recon, (data @ weights).long() % data.shape[1])

    def visible_means(self, z):
        """A visible unit's mean given its net input: sigmoid(z) (bernoulli), z (gaussian)."""
        return z if self.gaussian else torch.sigmoid(z)

    def sample_visible(self, means, handed):
        """Gaussian units: the mean plus a normal draw; bernoulli ones: on where a uniform draw is below it."""
        if self.gaussian:
            return means + handed.take("normal", means.shape)
        return (handed.take("random", means.shape) < means).double()

    def gradients(self, data, positive, visible, negative):
        """<s_i s_j>_model - <s_i s_j>_data by parameter name: means over the chains and over the data rows."""
        weights = visible.T @ negative / len(visible) - data.T @ positive / len(data)
        bias_v = visible.mean(0) - data.mean(0)
        out, start = {"h.bias": negative.mean(0) - positive.mean(0)}, 0
        for g in self.visible:
            size = self.P[f"{g}.bias"].shape[0]
            out[f"{g}<->h.weight"], out[f"{g}.bias"] = weights[start:start + size], bias_v[start:start + size]
            start += size
        return out


def compare_rbm_steps(rng):
    net, used, text, x, options, visible, gaussian = rbm_step_case(rng)
    config, method = method_for(text)
    method.check_data(Dataset(x, None, "unsupervised"), None)  # as a run does: the visible biases from the data
    twin, worst = RbmTwin(method, config, options, visible, gaussian), Worst()
    for epoch in range(EPOCHS):
        start_epoch(method, config, epoch, EPOCHS)
        draws, ours = step(method, x, seed=300 + epoch)
        handed = Handed(draws, skip=("integers",))  # a measure's draws (the pseudo-likelihood's bits): apart
        bits = [torch.tensor(a) for kind, a in draws.made if kind == "integers"]
        if len(bits) != (0 if gaussian else 1):
            worst.note(np.inf, f"step {epoch + 1} drew {len(bits)} arrays of flipped bits")
            break
        d, name = metric_difference(ours, twin.step(handed, x, bits[0] if bits else None))
        worst.note(d, f"{name} of step {epoch + 1}")
        if handed.made:
            worst.note(np.inf, f"step {epoch + 1} drew {len(handed.made)} arrays more than the twin expects")
    worst.note(parameter_difference(method.params, twin.P), f"parameters after {EPOCHS} steps")
    d, name = metric_difference(method.evaluate(Dataset(x, None, "unsupervised")), twin.evaluation(x))
    worst.note(d, f"{name} in evaluation")
    if not gaussian:
        used.add("pseudo_ll")
    return used, (worst.value, text)
