"""A deep belief net's `sample` (section 9, "Deep belief nets", and section 12), its draws handed to the twin:
the top RBM's visible units from random bits (a uniform each, on below 1/2), with `labels=true` the label then
one class a chain (uniform integers drawn after the bits) or `--label`'s, clamped; `--steps` block-Gibbs steps
(hidden states given the visible ones, then visible given hidden: the label a softmax group sampled from its
first unit's uniform, or clamped to `--label` in states and means); then down through the layers below, each
layer's probabilities sigmoid(states above W^T + its generative bias) and its states drawn from them; a sample
is the data units' states, or with `--means` their probabilities. The case is dbn_steps' (sizes from 1, one to
three layers, labels or not) with its pretrained parameters replaced by random ones. Compared: the samples
written by `sample -o x.npy`."""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from .compare import Worst, rel_diff
from .dbn_steps import dbn_case, labelled_means, labelled_sample
from .stepping import Handed, method_for
from .vae_inference import caught_generators


def compare_dbn_sample(rng):
    net, used, text, *_ , options, layers, _ = dbn_case(rng)
    _, method = method_for(text)
    arrays = [*method.program.params.values(), *method.generative.values()]
    if options.get("labels"):
        arrays += [method.label_weight, method.label_bias]
    for value in arrays:  # a generative model other than the initial one (zero biases, 0.01 weights)
        value += rng.standard_normal(value.shape)
    classes = net.units[-1]["shape"][0] if options.get("labels") else 0
    request = {"count": int(rng.integers(1, 6)), "steps": int(rng.integers(1, 5)), "seed": int(rng.integers(100)),
               "means": bool(rng.random() < 0.5)}
    if classes and rng.random() < 0.5:
        request["label"] = int(rng.integers(classes))
    with tempfile.TemporaryDirectory() as folder, caught_generators() as made:
        method.sample({**request, "output": f"{folder}/samples.npy"}, None)
        ours = np.load(f"{folder}/samples.npy")
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in method.program.params.items()}
    generative = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in method.generative.items()}
    label = None
    if classes:
        label = tuple(torch.tensor(np.array(a), dtype=torch.float64) for a in (method.label_weight, method.label_bias))
    theirs = twin_top_down(["x", *layers], P, generative, label, request, Handed(made[0]))
    worst = Worst()
    worst.note(rel_diff(ours, theirs), f"samples after {request['steps']} Gibbs steps")
    used = {f"{len(layers)} layers", "means" if request["means"] else "states",
            ("--label" if "label" in request else "labels=true, label sampled") if classes else "no labels"}
    return used, (worst.value, text + f"# sample {request}\n")


def twin_top_down(stack, P, generative, label, request, handed):
    """Section 12's top-down draw: the top RBM's Gibbs chain from random states, then down the stack."""
    below, above = stack[-2], stack[-1]
    W, b, c = P[f"{below}->{above}.weight"], generative[below], P[f"{above}.bias"]
    units, classes = len(b), 0
    if label is not None:
        W, b, classes = torch.cat([W, label[0]]), torch.cat([b, label[1]]), len(label[1])
    count = request["count"]
    v = (handed.take("random", (count, len(b))) < 0.5).double()
    asked = request.get("label")
    if classes:
        chosen = handed.take("integers", (count,)) if asked is None else torch.full((count,), asked)
        v[:, units:] = torch.nn.functional.one_hot(chosen.long(), classes).double()
    means = v
    for _ in range(request["steps"]):
        h = (handed.take("random", (count, len(c))) < torch.sigmoid(v @ W + c)).double()
        means = labelled_means(h @ W.T + b, classes)
        v = labelled_sample(means, handed, classes)
        if asked is not None:
            v[:, units:] = means[:, units:] = torch.nn.functional.one_hot(torch.tensor(asked), classes).double()
    probs, states = means[:, :units], v[:, :units]
    for lower, upper in reversed(list(zip(stack[:-2], stack[1:-1]))):
        probs = torch.sigmoid(states @ P[f"{lower}->{upper}.weight"].T + generative[lower])
        states = (handed.take("random", probs.shape) < probs).double()
    if handed.made:
        return torch.full(probs.shape, float("inf"))  # nngraph drew more than the documented draws
    return probs if request["means"] else states
