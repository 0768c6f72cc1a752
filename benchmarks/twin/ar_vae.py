"""An autoregressive VAE's generation (section 10, "An autoregressive decoder", and section 12), its draws handed
to the twin: the decoder reads the data through `x -> y autoregressive` (and maybe a MADE unit a: the decoder
-> a, x -> a autoregressive -> y autoregressive), so `sample` draws the values one at a time in order from
p(x_i | z, x_<i) (prior draws z as vae_inference's, then a uniform an example for each value: on below its
mean, for a bce decoder; an mse decoder's value is its mean) and `sample --fill` draws the missing values so at
every round (each position missing in any example, in order; the last round at z's mean sets each to its
mean). The case is vae_inference's with the autoregressive links, and its twin (TwinVae) reads them. Compared:
the samples written by `sample -o x.npy` and the filled values."""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

import numpy as np
import torch

from nngraph.data.dataset import Dataset

from .compare import Worst, rel_diff
from .stepping import Handed, method_for
from .vae_inference import TwinVae, caught_generators, spread, twin_fill, twin_in_order, vae_case


def compare_ar_vae(rng):
    text, net, case = vae_case(rng, autoregressive=True)
    _, method = method_for(text)
    for value in method.program.params.values():  # a posterior and decoder less bland than the initial ones
        value += 0.5 * rng.standard_normal(value.shape)
    twin = TwinVae(net, method.program.params, case)
    worst = Worst()
    worst.note(*sample_difference(method, twin, rng))
    rows = int(rng.integers(1, 6))
    x = (rng.random((rows, case["d"])) < 0.5).astype(float) if case["bce"] else rng.random((rows, case["d"]))
    missing = rng.random(x.shape) < 0.5
    start = np.where(missing, rng.random(x.shape), x)
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5))}
    with caught_generators() as made:
        ours, _ = method.fill(start.copy(), missing, request)
    theirs = twin_fill(twin, start, missing, request["steps"], Handed(made[0]))
    worst.note(rel_diff(ours, theirs), f"filled values after {request['steps']} rounds")
    used = {"bce decoder (values drawn)" if case["bce"] else "mse decoder (means)",
            "MADE unit" if case["made"] else "direct link only", "prior=mixture" if case["mixture"] else "prior=normal"}
    return used, (worst.value, text + f"# fill {request}, missing {missing.astype(int).tolist()}\n")


def sample_difference(method, twin, rng):
    """`sample -o x.npy`: prior draws (eps, then a mixture's components), each value drawn in order."""
    count = int(rng.integers(1, 6))
    request = {"count": count, "seed": int(rng.integers(100))}
    splits = SimpleNamespace(train=Dataset(np.zeros((1, twin.case["d"])), None, "unsupervised"))
    with tempfile.TemporaryDirectory() as folder, caught_generators() as made:
        method.sample({**request, "output": f"{folder}/samples.npy"}, splits)
        ours = np.load(f"{folder}/samples.npy")
    handed = Handed(made[0])
    z = handed.take("normal", (count, twin.case["latent"]))
    if twin.case["mixture"]:
        pick = handed.take("integers", (count,))
        z = twin.P["z.prior.mean"][pick] + spread(twin.P["z.prior.logvar"][pick]) * z
    with torch.no_grad():
        theirs = twin_in_order(twin, z, torch.zeros(count, twin.case["d"], dtype=torch.float64),
                               torch.ones(count, twin.case["d"], dtype=torch.bool), handed)
    return rel_diff(ours, theirs), f"{count} samples drawn in order"
