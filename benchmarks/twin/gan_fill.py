"""`sample --fill` of a GAN (section 12), its noise draws handed to the twin: 4 starts per example (example i's
are rows 4 i to 4 i + 3 of one noise draw, normal, or uniform as 2u - 1), `--steps` Adam steps (rate 0.05,
betas 0.9 and 0.999, eps 1e-8) on the noise down the squared error on the known values plus, for normal
noise, `prior ||z||^2 / 2`, uniform noise clipped into [-1, 1] after each step; the start with the lowest sum
fills in the missing values (the first of equal ones). Compared: the filled values."""

from __future__ import annotations

import numpy as np
import torch

from .compare import Worst, rel_diff
from .gan_steps import gan_step_case
from .stepping import Handed, method_for, torch_copies
from .torch_twin import twin_forward
from .vae_inference import caught_generators

STARTS = 4


def compare_gan_fill(rng):
    gen, _, _, text, _, _, _ = gan_step_case(rng)
    _, method = method_for(text)
    size = gen.units[-1]["shape"][0]
    rows = int(rng.integers(1, 5))
    values = rng.standard_normal((rows, size))
    missing = rng.random((rows, size)) < 0.5
    word = gen.units[0]["words"][0]
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 12))}
    if word == "normal" and rng.random() < 0.5:
        request["prior"] = round(float(rng.uniform(0, 2)), 3)
    with caught_generators() as made:
        ours, _ = method.fill(np.where(missing, 0.0, values), missing.copy(), dict(request))
    theirs = twin_fill(gen, torch_copies(method.parts[0].params), values, missing, request, Handed(made[0]))
    worst = Worst()
    worst.note(rel_diff(np.where(missing, ours, values), np.where(missing, theirs, values)),
               f"filled values after {request['steps']} steps")
    used = {f"gan fill-in, {word} noise" + (", prior" if request.get("prior") else "")}
    return used, (worst.value, text + f"# fill {request}, missing {missing.astype(int).tolist()}\n")


def twin_fill(gen, G, values, missing, request, handed):
    word, width = gen.units[0]["words"][0], gen.units[0]["shape"][0]
    n = len(values)
    z = handed.noise(word, (n * STARTS, width)).clone().requires_grad_(True)
    known = torch.tensor(np.repeat(~missing, STARTS, axis=0)).double()
    target = torch.tensor(np.repeat(values, STARTS, axis=0))
    prior = request.get("prior", 0.0) if word == "normal" else 0.0
    adam = torch.optim.Adam([z], lr=0.05, betas=(0.9, 0.999), eps=1e-8)

    def objective():
        fake = twin_forward(gen, G, {}, {"z": z}, True, [], [])["p"]
        return ((known * (fake - target)) ** 2).sum(dim=1) + prior / 2 * (z * z).sum(dim=1), fake

    for _ in range(request["steps"]):
        adam.zero_grad()
        objective()[0].sum().backward()
        adam.step()
        if word == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)
    with torch.no_grad():
        sums, fake = objective()
    best = sums.reshape(n, STARTS).argmin(dim=1)
    return fake.reshape(n, STARTS, -1)[torch.arange(n), best].numpy()
