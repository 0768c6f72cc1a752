"""Whole runs of `nngraph.fit` on an npz file against the twin's own epochs (feedforward, and recurrent with
`bptt` windows), and the schedules' rates against their formulas."""

from __future__ import annotations

import json
import math
import pathlib
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import nngraph
from nngraph.session import last_batch_rows
from nngraph.train.schedules import learning_rate

from .compare import rel_diff
from .generate import feedforward_case, rand_optimizer
from .net import DTYPE, LAST, XOR, call
from .recurrent import recurrent_case, run_cell
from .torch_twin import torch_optimizer, twin_forward, twin_loss, twin_update


def as_loaded(values: np.ndarray) -> np.ndarray:
    """`values` as a data set holds them in a run of nngraph's dtype (docs/language.md, section 11): floats
    in the run's dtype (float64: exactly the file's values), integer labels as they are; as float64 for the
    twin."""
    return values.astype(DTYPE[0]).astype(np.float64) if values.dtype.kind == "f" else values


def fit_case(rng, folder):
    """A whole run, `nngraph.fit` on an npz file (one full batch an epoch, or minibatches in the order section 7
    gives, a last partial batch included), against the twin's epochs from the same initial parameters: data
    loading, label conversion, the schedule's rate per epoch, penalties, clipping and the optimizer, as the
    training loop composes them."""
    while True:
        net, used, xs, target = feedforward_case(rng)
        if not any(w.startswith("dropout") for u in net.units for w in u["words"]):
            break
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    lines, more = rand_optimizer(rng)
    E = int(rng.integers(1, 4))
    schedule = ["constant", "step(every=1, gamma=0.5)", "cosine(warmup=1)", "linear(min_lr=0.01)"][rng.integers(4)]
    n = len(xs["x"])
    batch = n if rng.random() < 0.5 else int(rng.integers(1, n + 1))
    if any(u["norm"] == "batchnorm" for u in net.units) and last_batch_rows(n, batch) == 1:
        batch = n  # a last batch of one row: refused for a batchnorm (tests/cli/test_batchnorm_batches.py)
    lines += [f"dtype {DTYPE[0]}", f"batch {batch}", f"schedule {schedule}"]
    used = more | {f"fit:{schedule.split('(')[0]}", "fit", *(["fit: minibatches in a shuffled order"] if batch < n else []),
                   *(["fit: a last partial batch"] if batch < n and n % batch else [])}
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=xs["x"], y=target)
    base = net.text(lines)
    base = base.replace("  data xor", f'  data npz("{work / "d.npz"}")')
    runs = {}
    for epochs in (0, E):
        text = base.replace("  loss", f"  epochs {epochs}\n  loss")
        nngraph.fit(nngraph.loads(text, path=str(work / "s.nn")), out=str(work / f"r{epochs}"), quiet=True)
        with np.load(work / f"r{epochs}" / "checkpoint.npz", allow_pickle=False) as z:
            runs[epochs] = {k: z[k] for k in z.files if k.startswith(("params.", "buffers."))}
    LAST[0] = text
    checked = nngraph.loads(text, path=str(work / "s.nn"))
    config = checked.train(None)
    P = {k[7:]: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in runs[0].items() if k.startswith("params.")}
    B = {k[8:]: torch.tensor(v, dtype=torch.float64) for k, v in runs[0].items() if k.startswith("buffers.")}
    topt, lr = torch_optimizer(config, P)
    rates = {"constant": lambda e: lr, "step": lambda e: lr * 0.5 ** e,
             "cosine": lambda e: (lr * (e + 1) / 2 if e < 1
                                  else lr * (1 + math.cos(math.pi * (e - 1) / (E - 1))) / 2),
             "linear": lambda e: lr + (0.01 - lr) * e / E}
    order = np.random.default_rng(config.seed)  # the run's generator (section 7): here it draws the orders only
    for e in range(E):
        for group in topt.param_groups:
            group["lr"] = rates[schedule.split("(")[0]](e)
        rows = order.permutation(n) if batch < n else np.arange(n)
        for start in range(0, n, batch):
            part = rows[start:start + batch]
            topt.zero_grad()
            inputs = {"x": xs["x"][part]}
            vals = twin_forward(net, P, B, inputs, True, [], [])
            tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, inputs, [], [], target[part])
            twin_update(config, P, topt, tl)
    final = runs[E]
    d = max([rel_diff(final["params." + k], p.detach()) for k, p in P.items()] +
            [rel_diff(final["buffers." + k], b) for k, b in B.items()])
    # summary.json's train loss: the final parameters in eval mode over the whole training split
    reported = json.loads((work / f"r{E}" / "summary.json").read_text())["train"]["loss"]
    vals = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, xs, False, [], [])
    twin = float(twin_loss(net, vals, P, B, xs, [], [], target, training=False).detach())
    return used, (max((d, f"parameters after {E} epochs of nngraph.fit"),
                      (rel_diff(reported, twin), "summary.json's train loss")), text)


def recurrent_fit_case(rng, folder):
    """`nngraph.fit` of a recurrent model with `bptt N` (one full batch an epoch) against the twin's windows:
    each starts from the state the previous one ended in, as a constant, and updates the parameters on the
    mean over its own loss rows; a window without loss rows only runs forward."""
    while True:
        net, used, xs, target, case = recurrent_case(rng)
        if not (case["bi"] or case["dropout"] or case["feedback"] or case["skip_delay"] or case["ce"]
                or case["lengths"] is not None or case["delay"] > 1 or case["identity_delay"]):
            break
    n, T = xs["x"].shape[:2]
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    N, E = int(rng.integers(1, T + 1)), int(rng.integers(1, 3))
    lines, more = rand_optimizer(rng)
    lines += [f"dtype {DTYPE[0]}", f"batch {n}", f"bptt {N}", f"epochs {E}"]
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=xs["x"], y=target)
    text = net.text(lines).replace("  data xor", f'  data npz("{work / "d.npz"}")')
    LAST[0] = text
    checked = nngraph.loads(text, path=str(work / "s.nn"))
    prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=checked.train(None).seed)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    nngraph.fit(checked, out=str(work / "run"), quiet=True)
    config = checked.train(None)
    topt, _ = torch_optimizer(config, P)
    H = net.units[1]["shape"][0]
    x = torch.tensor(xs["x"]).transpose(0, 1)
    for _ in range(E):
        state = None
        for start in range(0, T, N):
            stop = min(start + N, T)
            topt.zero_grad()
            hs = run_cell(case, P, "", "x->h.weight", x[start:stop], H, state=state)
            state = tuple(a.detach() for a in case["end"])
            ys = torch.stack([hh @ P["h->y.weight"] + P["y.bias"] for hh in hs])  # [window, n, k]
            if case["per_step"]:
                loss = F.mse_loss(ys.transpose(0, 1), torch.tensor(target[:, start:stop]))
            elif stop == T:
                loss = F.mse_loss(ys[-1], torch.tensor(target))
            else:
                continue  # no loss rows in this window: forward only
            twin_update(config, P, topt, loss)
    with np.load(work / "run" / "checkpoint.npz", allow_pickle=False) as z:
        d = max(rel_diff(z["params." + k], p.detach()) for k, p in P.items())
    return used | more | {f"bptt fit:{case['cell']}"}, ((d, f"parameters after {E} epochs, bptt {N}"), text)


def schedule_cases(rng):
    """Each schedule's rate against the documented formula (and, for step and cosine without warm-up, torch's
    StepLR and CosineAnnealingLR)."""
    worst, where = 0.0, ""
    for _ in range(10):
        E, lr = int(rng.integers(3, 12)), 0.5
        every, gamma = int(rng.integers(1, 4)), 0.5
        warmup, min_lr = int(rng.integers(0, 3)), [0.0, 0.01][rng.integers(2)]
        choices = {"constant": ({}, lambda e: lr), "step": (dict(every=every, gamma=gamma),
                                                              lambda e: lr * gamma ** (e // every)),
                   "cosine": (dict(warmup=warmup, min_lr=min_lr),
                              lambda e: lr * (e + 1) / (warmup + 1) if e < warmup else
                              min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (e - warmup) / (E - warmup))) / 2),
                   "linear": (dict(min_lr=min_lr), lambda e: lr + (min_lr - lr) * e / E)}
        for name, (opts, formula) in choices.items():
            text = XOR + f"train {{\n  data xor\n  loss bce(y)\n  schedule {call(name, opts)}\n}}\n"
            choice = nngraph.loads(text).train(None).schedule
            for e in range(E):
                ours = learning_rate(choice, lr, e, E)
                d = abs(ours - formula(e)) / lr
                if d > worst:
                    worst, where = d, f"schedule {name}{opts} epoch {e} of {E}: {ours} vs {formula(e)}"
    return worst, where
