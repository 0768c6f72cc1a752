"""`method vae` trained a few epochs, one step each, against the twin's reading of section 10: each row
repeated `samples` times (its copies consecutive), eps handed to both, the reconstruction terms summed over
units and the KL weight `min(1, epoch / warmup)` in epoch 1, 2, ...; then the optimizer's step (the
penalties and clipping of any backprop step). Compared: each step's `loss` (the negative ELBO at full KL
weight) and `kl_weight`, and the parameters after the last step."""

from __future__ import annotations

import numpy as np

from .compare import Worst
from .generate import rand_act, rand_optimizer
from .net import Net
from .stepping import (
    Handed,
    method_for,
    metric_difference,
    parameter_difference,
    start_epoch,
    step,
    torch_copies,
)
from .torch_twin import torch_optimizer, twin_forward, twin_loss, twin_update

EPOCHS = 3


def vae_step_case(rng):
    """A small VAE (an optional decoder layer), its loss and options; the constructs it uses."""
    net, used = Net(), set()
    d, z = int(rng.integers(2, 6)), int(rng.integers(1, 3))
    net.unit("x", "input", (d,))
    net.unit("e", "layer", (int(rng.integers(2, 5)),), *rand_act(rng, False))
    if rng.random() < 0.3:
        net.units[-1]["words"].append("dropout=0.3")
        used.add("dropout in the encoder")
    net.unit("mu", "layer", (z,), "identity")
    net.unit("lv", "layer", (z,), "identity")
    net.unit("z", "sample", mean="mu", logvar="lv")
    if rng.random() < 0.4:
        net.units[-1]["words"].append(f"prior=mixture({int(rng.integers(1, 4))})")
        used.add("prior=mixture")
    decoder = "z"
    if rng.random() < 0.5:
        net.unit("g", "layer", (int(rng.integers(2, 5)),), *rand_act(rng, False))
        if rng.random() < 0.3:
            net.units[-1]["words"].append("dropout=0.3")
            used.add("dropout in the decoder")
        net.link("z", "g")
        decoder = "g"
    recon = ["bce", "mse"][rng.integers(2)]
    out_act = "sigmoid" if recon == "bce" else ["sigmoid", "identity", "tanh"][rng.integers(3)]
    net.unit("y", "output", (d,), out_act)
    for a, b in (("x", "e"), ("e", "mu"), ("e", "lv"), (decoder, "y")):
        net.link(a, b)
    net.losses += [([1, 0.5][rng.integers(2)], recon, "y", "x"), ([1, 0.5, 2][rng.integers(3)], "kl", "z", None)]
    samples, warmup = int(rng.integers(1, 4)), int(rng.integers(0, 4))
    lines, more = rand_optimizer(rng)
    lines.append(f"method vae(samples={samples}, warmup={warmup})")
    used |= more | {f"loss {recon}", f"samples={samples}", f"warmup={min(warmup, 2)}{'+' if warmup > 2 else ''}"}
    x = rng.random((int(rng.integers(2, 6)), d))
    return net, used, x, lines, samples, warmup


def kl_weight(epoch: int, warmup: int) -> float:
    """Section 10: `min(1, epoch / N)`, epoch counted from 1; warmup 0 keeps it at 1."""
    return 1.0 if warmup == 0 else min(1.0, epoch / warmup)


def handed_draws(net, handed, rows):
    """(the step's draws, the units they are for): a dropout mask's uniform numbers or a sample unit's eps for
    every repeated row, unit by unit, each after the units it reads (the declaration order of these nets)."""
    draws, units = [], []
    for u in net.units:
        if u["role"] == "sample" or any(w.startswith("dropout=") for w in u["words"]):
            kind = "normal" if u["role"] == "sample" else "random"
            draws.append(handed.take(kind, (rows, width(net, u))).numpy())
            units.append(u["name"])
    return draws, units


def width(net, u):
    """A unit's values per row: a sample unit has its mean unit's shape."""
    if u["role"] == "sample":
        u = next(v for v in net.units if v["name"] == u["extra"]["mean"])
    return u["shape"][0]


def twin_elbo(net, P, x, drawn, samples, weight):
    """(the loss the step descends, the negative ELBO at full KL weight) on the rows repeated `samples` times,
    `drawn` the masks' and eps' draws by unit."""
    rows = {"x": np.repeat(x, samples, axis=0)}
    vals = twin_forward(net, P, {}, rows, True, *drawn)
    recon = [t for t in net.losses if t[1] != "kl"]
    kl = [t for t in net.losses if t[1] == "kl"]
    r = twin_loss(net, vals, P, {}, rows, *drawn, None, terms=recon)
    k = twin_loss(net, vals, P, {}, rows, *drawn, None, terms=kl)
    return r + weight * k, r + k


def compare_vae_steps(rng):
    """(the constructs used, ((the worst relative difference, where), the spec))."""
    net, used, x, lines, samples, warmup = vae_step_case(rng)
    net.sum_units = True
    text = net.text([f"batch {len(x)}", *lines])
    config, method = method_for(text)
    return used, (run_and_compare(net, config, method, x, samples, warmup), text)


def run_and_compare(net, config, method, x, samples, warmup):
    worst = Worst()
    P = torch_copies(method.params)
    topt, _ = torch_optimizer(config, P)
    for epoch in range(EPOCHS):
        start_epoch(method, config, epoch, EPOCHS)
        draws, ours = step(method, x, seed=100 + epoch)
        handed = Handed(draws)
        drawn = handed_draws(net, handed, len(x) * samples)
        if handed.made:
            raise AssertionError(f"the step drew {len(handed.made)} arrays more than the twin expects")
        weight = kl_weight(epoch + 1, warmup)
        topt.zero_grad()
        loss, elbo = twin_elbo(net, P, x, drawn, samples, weight)
        d, name = metric_difference(ours, {"loss": float(elbo.detach()), "kl_weight": weight})
        worst.note(d, f"{name} of step {epoch + 1}")
        twin_update(config, P, topt, loss)
    worst.note(parameter_difference(method.params, P), f"parameters after {EPOCHS} steps")
    return worst.value
