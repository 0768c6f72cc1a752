"""`sample --fill` of a sequence model whose output at a step predicts the next step's input (section 12): the
model runs through each sequence step by step, and a missing value of step t + 1 is the output at step t,
computed from the inputs filled so far (a missing value of the first step keeps its start value). The twin
runs the documented recurrent equations (recurrent.run_cell) one step at a time. Compared: the filled
sequences."""

from __future__ import annotations

import numpy as np
import torch

from .compare import Worst, rel_diff
from .recurrent import run_cell
from .sampling import CELLS, one_cell_net
from .stepping import method_for


CASE = dict(learned=False, act="tanh", aopts={}, delay=1, identity_delay=False)  # run_cell's, but the cell


def next_step_model(rng):
    """(values a step, hidden units, cell, spec text, method): a one-cell net whose output y[t] predicts x[t + 1],
    its parameters moved off their start so that fills differ from the start values."""
    d, hidden = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    cell = CELLS[rng.integers(len(CELLS))]
    net = one_cell_net(cell, d, hidden, d, "identity")
    net.losses.append((1, "mse", "y", None))
    text = net.text()
    _, method = method_for(text)
    for value in method.program.params.values():
        value += 0.5 * rng.standard_normal(value.shape)
    return d, hidden, cell, text, method


def compare_sequence_fill(rng):
    d, hidden, cell, text, method = next_step_model(rng)
    n, T = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    values = rng.standard_normal((n, T, d))
    per_step = rng.random() < 0.5  # a whole step missing, or single values
    missing = rng.random((n, T, 1 if per_step else d)) < 0.4
    missing = np.broadcast_to(missing, (n, T, d)).copy()
    start = np.where(missing, 0.1, values)
    ours, _ = method.fill(start.copy(), missing.copy(), {})
    theirs = twin_fill(method.program.params, dict(CASE, cell=cell), start, missing, hidden)
    worst = Worst()
    worst.note(rel_diff(ours, theirs), "filled sequences")
    used = {f"sequence fill-in, {cell}", "whole steps missing" if per_step else "single values missing",
            *(("first step missing",) if missing[:, 0].any() else ())}
    return used, (worst.value, text + f"# missing {missing.astype(int).tolist()}\n")


def twin_fill(params, case, start, missing, hidden):
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in params.items()}
    filled, state = torch.tensor(start), None
    keep = torch.tensor(missing)
    for t in range(filled.shape[1]):
        h = run_cell(case, P, "", "x->h.weight", filled[:, t][None], hidden, state=state)[-1]
        state = case["end"]
        if t + 1 < filled.shape[1]:
            predicted = h @ P["h->y.weight"] + P["y.bias"]
            filled[:, t + 1] = torch.where(keep[:, t + 1], predicted, filled[:, t + 1])
    return filled.numpy()
