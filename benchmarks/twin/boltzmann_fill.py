"""`sample --fill` of a restricted Boltzmann machine (section 12), its draws handed to the twin: the examples
filled in groups that share a mask (the groups in increasing order of the mask read as a binary number, its
first value the most significant), each group's chains starting from random bits (every unit of the machine
on where u < 1/2, the visible part kept; gaussian units at their bias instead) with the known visible units set
to the data, then `--steps` block-Gibbs sweeps (hidden given visible, then visible given hidden; a bernoulli unit on where its uniform draw
is below its probability, a gaussian one its mean plus a normal draw), the known units clamped after each;
the missing units' states of the last sweep, or with `--means` their means. Compared: the filled values."""

from __future__ import annotations

import numpy as np
import torch

from .compare import Worst, rel_diff
from .net import Net
from .stepping import Handed, method_for
from .vae_inference import caught_generators


def rbm_fill_case(rng):
    net = Net()
    visible, hidden = int(rng.integers(2, 7)), int(rng.integers(1, 5))
    gaussian = rng.random() < 0.3
    net.unit("v", "visible", (visible,), "gaussian" if gaussian else "bernoulli")
    net.unit("h", "hidden", (hidden,), "bernoulli")
    net.link("v", "h", "symmetric")
    method = ["cd", "pcd"][rng.integers(2)]
    text = "\n".join(net.model_lines("m") + ["train {", "  model m", "  data xor", f"  method {method}",
                                            "  dtype float64", "}"]) + "\n"
    return text, visible, hidden, gaussian


def compare_boltzmann_fill(rng):
    text, visible, hidden, gaussian = rbm_fill_case(rng)
    _, machine = method_for(text)
    for value in machine.params.values():  # couplings strong enough that the known values matter
        value += rng.standard_normal(value.shape)
    P = {k: torch.tensor(np.array(v)) for k, v in machine.params.items()}
    rows = int(rng.integers(1, 7))
    values = rng.standard_normal((rows, visible)) if gaussian else (rng.random((rows, visible)) < 0.5).astype(float)
    kinds = [rng.random((1, visible)) < 0.5 for _ in range(int(rng.integers(1, 3)))]  # rows share masks at times
    missing = np.concatenate([kinds[rng.integers(len(kinds))] for _ in range(rows)])
    start = np.where(missing, 0.5, values)
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5)), "means": bool(rng.random() < 0.5)}
    with caught_generators() as made:
        ours, _ = machine.fill(start.copy(), missing, request)
    theirs = twin_fill(P, start, missing, request, gaussian, hidden, Handed(made[0]))
    worst = Worst()
    worst.note(rel_diff(ours, theirs), f"filled values after {request['steps']} sweeps")
    used = {"rbm fill-in, " + ("gaussian" if gaussian else "bernoulli") + (", means" if request["means"] else ""),
            *(("several masks",) if len(np.unique(missing, axis=0)) > 1 else ())}
    return used, (worst.value, text + f"# fill {request}, missing {missing.astype(int).tolist()}\n")


def twin_fill(P, values, missing, request, gaussian, hidden, handed):
    W, b, c = P["v<->h.weight"], P["v.bias"], P["h.bias"]
    values, filled = torch.tensor(values), torch.empty(values.shape)
    order = sorted({tuple(int(m) for m in row) for row in missing})  # binary numbers, first value most significant
    for mask in order:
        rows = torch.tensor([i for i, row in enumerate(missing) if tuple(int(m) for m in row) == mask])
        known = ~torch.tensor(mask, dtype=torch.bool)
        data = values[rows]
        n, V = data.shape
        v = (handed.take("random", (n, V + hidden)) < 0.5).double()[:, :V]
        if gaussian:  # gaussian units start at their bias (section 12)
            v = b.expand(n, V).clone()
        v[:, known] = data[:, known]
        mean = v
        for _ in range(request["steps"]):
            h = (handed.take("random", (n, hidden)) < torch.sigmoid(v @ W + c)).double()
            z = h @ W.T + b
            mean = z if gaussian else torch.sigmoid(z)
            v = mean + handed.take("normal", (n, V)) if gaussian else (handed.take("random", (n, V)) < mean).double()
            v[:, known], mean[:, known] = data[:, known], data[:, known]
        filled[rows] = mean if request["means"] else v
    return filled
