"""`sample --fill` of Boltzmann machines (section 12), its draws handed to the twin. A general machine's (the
cases of boltzmann_steps, its twin's sweeps): see `general_fill_case`. A restricted machine's: the examples
filled in groups that share a mask (the groups in increasing order of the mask read as a binary number, its
first value the most significant), each group's chains starting from random bits (every unit of the machine
on where u < 1/2, the visible part kept; gaussian units at their bias instead) with the known visible units set
to the data, then `--steps` block-Gibbs sweeps (hidden given visible, then visible given hidden; a bernoulli unit on where its uniform draw
is below its probability, a gaussian one its mean plus a normal draw), the known units clamped after each;
the missing units' states of the last sweep, or with `--means` their means. Compared: the filled values.
Free-running `sample` (family boltzmann_sample) is the same chains with nothing known: `--count` rows, every
visible unit missing, written by `sample -o x.npy`; compared: the samples."""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from .boltzmann_steps import BoltzmannTwin, boltzmann_step_case
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
    text = "\n".join(net.model_lines("m") + ["train {", "  model m", "  data xor", f"  method {method}", "}"]) + "\n"
    return text, visible, hidden, gaussian


def fill_task(rng, visible: int, gaussian):
    """(values, missing, the start's values, the request): rows sharing masks at times; `gaussian` a [visible]
    mask of gaussian units (normal values) or a bool for all of them."""
    rows = int(rng.integers(1, 7))
    values = np.where(gaussian, rng.standard_normal((rows, visible)), (rng.random((rows, visible)) < 0.5))
    kinds = [rng.random((1, visible)) < 0.5 for _ in range(int(rng.integers(1, 3)))]
    missing = np.concatenate([kinds[rng.integers(len(kinds))] for _ in range(rows)])
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5)), "means": bool(rng.random() < 0.5)}
    return values.astype(float), missing, np.where(missing, 0.5, values).astype(float), request


def masks_in_order(missing):
    """Each distinct mask (a tuple of 0/1) with its rows, in increasing order of the mask read as a binary
    number, its first value the most significant."""
    rows_of = {}
    for i, row in enumerate(missing):
        rows_of.setdefault(tuple(int(m) for m in row), []).append(i)
    return [(mask, torch.tensor(rows_of[mask])) for mask in sorted(rows_of)]


def compare_boltzmann_fill(rng):
    return general_fill_case(rng) if rng.random() < 0.4 else rbm_case(rng)


def compare_boltzmann_sample(rng):
    """Free-running `sample`: the fill-in's chains with every visible unit missing."""
    return general_fill_case(rng, True) if rng.random() < 0.4 else rbm_case(rng, True)


def filled_or_sampled(machine, rng, visible, gaussian, free_running):
    """(nngraph's fill-in, or its free-running samples (`sample -o x.npy`), missing, start, request, its
    generators): a fill task, or for samples `count` rows with every visible unit missing."""
    values, missing, start, request = fill_task(rng, visible, gaussian)
    if free_running:
        request["count"] = len(values)
        missing, start = np.ones_like(missing), np.zeros_like(start)
        with tempfile.TemporaryDirectory() as folder, caught_generators() as made:
            machine.sample({**request, "output": f"{folder}/samples.npy"}, None)
            ours = np.load(f"{folder}/samples.npy")
    else:
        with caught_generators() as made:
            ours, _ = machine.fill(start.copy(), missing, request)
    return ours, missing, start, request, made


def what_was_drawn(free_running, request, missing):
    """The case's words: what `sample` was asked."""
    if free_running:
        return f"# sample {request}\n"
    return f"# fill {request}, missing {missing.astype(int).tolist()}\n"


def general_fill_case(rng, free_running=False):
    """A general machine (boltzmann_steps' cases: lateral links, annealing, sweep orders): chains from
    `sample`'s starting states, the known visible units set to the data and left out of the sweeps (the free
    units in index order), the annealing schedule then `--steps` sweeps at the final temperature; the states,
    or the visible means given the rest of the last state."""
    text, machine, twin, options = general_machine(rng)
    ours, missing, start, request, made = filled_or_sampled(machine, rng, twin.V, twin.gaussian[: twin.V].numpy(),
                                                            free_running)
    theirs = twin_general_fill(twin, start, missing, request, Handed(made[0]))
    worst = Worst()
    drawn = "samples" if free_running else "filled values"
    worst.note(rel_diff(ours, theirs), f"{drawn} after {request['steps']} sweeps")
    what = "free-running sample" if free_running else "fill-in"
    general = {f"general machine {what}, order {options['order']}" + (", means" if request["means"] else ""),
               *(("annealed",) if options.get("anneal") else ())}
    return general, (worst.value, text + what_was_drawn(free_running, request, missing))


def general_machine(rng):
    """(text, nngraph's machine, its twin, the method's options): one of boltzmann_steps' cases with random
    couplings (lateral blocks symmetric, diagonal 0) and biases."""
    _, text, _, options, (groups, visible), links = boltzmann_step_case(rng)
    config, machine = method_for(text)
    for name, value in machine.params.items():
        change = rng.standard_normal(value.shape)
        if name.split("<->")[0] == name.split("<->")[-1][: -len(".weight")]:  # lateral: symmetric, diagonal 0
            change = np.triu(change, 1) + np.triu(change, 1).T
        value += change
    machine.machine.sync()  # the links' mirror blocks of the coupling matrix, as an update leaves them
    return text, machine, BoltzmannTwin(machine, config, options, groups, visible, links), options


def twin_general_fill(twin, start, missing, request, handed):
    """The groups of rows sharing a mask, each from `sample`'s starting states with the known visible units set
    and left out of the sweeps; the annealing schedule, then `--steps` sweeps at the final temperature; states or
    the visible means at the final temperature, the known units kept."""
    W, b = twin.couplings()
    theirs = torch.empty(start.shape)
    for mask, rows in masks_in_order(missing):
        known = torch.tensor([not m for m in mask])
        s = twin.starting_states(len(rows), handed, b)
        s[:, : twin.V][:, known] = torch.tensor(start)[rows][:, known]
        free = [i for i in range(twin.N) if i >= twin.V or mask[i]]
        twin.run(s, free, twin.schedule + [(twin.T, request["steps"])], handed, W, b)
        if request["means"]:
            z = s @ W[:, : twin.V] + b[: twin.V]
            means = torch.where(twin.gaussian[: twin.V], z, torch.sigmoid(z / twin.T))
            means[:, known] = torch.tensor(start)[rows][:, known]
            theirs[rows] = means
        else:
            theirs[rows] = s[:, : twin.V]
    return theirs


def rbm_case(rng, free_running=False):
    text, visible, hidden, gaussian = rbm_fill_case(rng)
    _, machine = method_for(text)
    for value in machine.params.values():  # couplings strong enough that the known values matter
        value += rng.standard_normal(value.shape)
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in machine.params.items()}
    ours, missing, start, request, made = filled_or_sampled(machine, rng, visible, gaussian, free_running)
    theirs = twin_fill(P, start, missing, request, gaussian, hidden, Handed(made[0]))
    worst = Worst()
    drawn = "samples" if free_running else "filled values"
    worst.note(rel_diff(ours, theirs), f"{drawn} after {request['steps']} sweeps")
    what = "free-running sample" if free_running else "fill-in"
    used = {f"rbm {what}, " + ("gaussian" if gaussian else "bernoulli") + (", means" if request["means"] else ""),
            *(("several masks",) if len(np.unique(missing, axis=0)) > 1 else ())}
    return used, (worst.value, text + what_was_drawn(free_running, request, missing))


def twin_fill(P, values, missing, request, gaussian, hidden, handed):
    W, b, c = P["v<->h.weight"], P["v.bias"], P["h.bias"]
    values, filled = torch.tensor(values), torch.empty(values.shape)
    for mask, rows in masks_in_order(missing):
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
