"""Whole runs of `nngraph.fit` on an npz file against the twin's own epochs (feedforward, and recurrent with
`bptt` windows), and the schedules' rates against their formulas."""

from __future__ import annotations

import json
import math
import pathlib
import re
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import nngraph
from nngraph.errors import TrainingError
from nngraph.session import last_batch_rows
from nngraph.train.schedules import learning_rate

from .compare import Worst, rel_diff
from .generate import feedforward_case, rand_optimizer, unit_shape
from .net import DTYPE, LAST, XOR, call
from .records import Stopper, documented_split, is_labels, kind_of, prediction_metrics, scored_unit, term_name
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
    loading, label conversion, the validation and test splits, the schedule's rate per epoch, penalties,
    clipping and the optimizer, as the training loop composes them; every record of metrics.jsonl (the
    running figures, each step's weighted by its rows, and the validation figures), early stopping's stop and
    restored parameters, and summary.json's figures of every split."""
    splits = rng.random() < 0.5
    while True:
        net, used, xs, target = feedforward_case(rng, rows=int(rng.integers(5, 13)) if splits else None)
        if not any(w.startswith("dropout") for u in net.units for w in u["words"]):
            break
    scale = ["none", "none", "standard", "minmax", "binarize"][rng.integers(5)]
    if scale in ("standard", "minmax") and rng.random() < 0.5:
        xs["x"].reshape(len(xs["x"]), -1)[:, 0] = 0.7  # a constant feature: only shifted
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    lines, more = rand_optimizer(rng)
    E = int(rng.integers(1, 5))
    schedule = SCHEDULES[rng.integers(len(SCHEDULES))]
    n = len(xs["x"])
    classification = is_labels(target)
    validation, test = (float(rng.choice([0.0, 0.25, 0.4])), float(rng.choice([0.0, 0.2]))) if splits else (0.0, 0.0)
    seed = int(rng.integers(0, 3))
    train_rows, val_rows, test_rows = documented_split(target, n, validation, test, seed, classification)
    m = len(train_rows)
    batch = m if rng.random() < 0.5 else int(rng.integers(1, m + 1))
    if any(u["norm"] == "batchnorm" for u in net.units) and (m == 1 or last_batch_rows(m, batch) == 1):
        validation, test, batch = 0.0, 0.0, n  # a batch of one row: refused for a batchnorm
        train_rows, val_rows, test_rows, m = np.arange(n), np.arange(0), np.arange(0), n
    raw = xs["x"]
    xs = {"x": scaled(raw, train_rows, scale)}  # fitted on the training rows, once they are settled
    scored = scored_unit(net)
    kind = kind_of(target, unit_shape(net, scored), net, scored)
    stopper = early_stopping(rng, len(val_rows) > 0, kind)
    lines += [f"dtype {DTYPE[0]}", f"batch {batch}", f"schedule {schedule}", f"seed {seed}",
              *([f"validation {validation}"] if validation else []), *([f"test {test}"] if test else []),
              *([f"early_stopping monitor={stopper.monitor} patience={stopper.patience} min_delta={stopper.min_delta}"]
                if stopper else [])]
    used = more | {f"fit:{schedule.split('(')[0]}", "fit", *(["fit: minibatches in a shuffled order"] if batch < m else []),
                   *(["fit: a last partial batch"] if batch < m and m % batch else []),
                   *(["fit: validation split"] if len(val_rows) else []), *(["fit: test split"] if len(test_rows) else []),
                   *([f"fit: early_stopping {stopper.monitor}"] if stopper else []), f"fit: metrics of {kind}",
                   *([f"fit: scale={scale}"] if scale != "none" else [])}
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=raw, y=target)
    base = net.text(lines)
    option = {"none": "", "binarize": ", binarize=0.2"}.get(scale, f", scale={scale}")
    base = base.replace("  data xor", f'  data npz("{work / "d.npz"}"{option})')
    runs, diverged = {}, None
    for epochs in (0, E):
        text = base.replace("  loss", f"  epochs {epochs}\n  loss")
        try:
            nngraph.fit(nngraph.loads(text, path=str(work / "s.nn")), out=str(work / f"r{epochs}"), quiet=True)
        except TrainingError as e:  # section 7: a non-finite training figure stops the run, naming its step
            found = re.search(r"training diverged: \S+ is \S+ at epoch (\d+), step (\d+)", str(e))
            if found is None or epochs == 0:
                raise
            diverged = (int(found[1]), int(found[2]))
            continue
        with np.load(work / f"r{epochs}" / "checkpoint.npz", allow_pickle=False) as z:
            runs[epochs] = {k: z[k] for k in z.files if k.startswith(("params.", "buffers."))}
    LAST[0] = text
    config = nngraph.loads(text, path=str(work / "s.nn")).train(None)
    P = {k[7:]: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in runs[0].items() if k.startswith("params.")}
    B = {k[8:]: torch.tensor(v, dtype=torch.float64) for k, v in runs[0].items() if k.startswith("buffers.")}
    topt, lr = torch_optimizer(config, P)
    name, opts = schedule.split("(")[0], dict(SCHEDULE_OPTIONS[schedule])
    order = np.random.default_rng(seed)  # the run's generator (section 7): here it draws the orders only
    part_of = {"train": train_rows, "validation": val_rows, "test": test_rows}
    records = []
    for e in range(E):
        rate = documented_rate(name, opts, lr, e, E)
        for group in topt.param_groups:
            group["lr"] = rate
        rows = train_rows[order.permutation(m)] if batch < m else train_rows
        sums, seen = {}, 0
        for start in range(0, m, batch):
            part = rows[start:start + batch]
            topt.zero_grad()
            inputs = {"x": xs["x"][part]}
            vals = twin_forward(net, P, B, inputs, True, [], [])
            tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, inputs, [], [], target[part])
            if not math.isfinite(float(tl.detach())):  # the twin's run diverges here: nngraph's must stop here
                where = (e + 1, start // batch + 1)
                return used | {"fit: diverged"}, ((0.0 if diverged == where else float("inf"),
                                                   f"the twin diverged at epoch {where[0]}, step {where[1]}; "
                                                   f"nngraph: {diverged}"), text)
            step = {"loss": float(tl.detach()), **prediction_metrics(kind, vals[scored], target[part], True)}
            for k, v in step.items():  # weighted by the step's rows: a mean over the epoch's examples
                sums[k] = sums.get(k, 0.0) + len(part) * v
            seen += len(part)
            twin_update(config, P, topt, tl)
        record = {"lr": rate, **{f"{k}_running": v / seen for k, v in sums.items()}}
        if len(val_rows):
            record.update({f"val_{k}": v for k, v in split_figures(net, P, B, xs, target, val_rows, kind, scored).items()})
        records.append(record)
        if stopper and stopper.update(e + 1, record, {**P, **B}):
            break
    if stopper and stopper.kept is not None and stopper.best_epoch != len(records):  # the best epoch's model
        with torch.no_grad():
            for k, p in {**P, **B}.items():
                p.copy_(stopper.kept[k])
    if diverged:
        return used, ((float("inf"), f"nngraph diverged at {diverged}, the twin did not"), text)
    worst = Worst()
    worst.note(compare_records(work / f"r{E}" / "metrics.jsonl", records), "metrics.jsonl")
    final = runs[E]
    for k, p in P.items():
        worst.note(rel_diff(final["params." + k], p.detach()), f"parameter {k} after {len(records)} epochs of nngraph.fit")
    for k, b in B.items():
        worst.note(rel_diff(final["buffers." + k], b), f"buffer {k} after {len(records)} epochs")
    summary = json.loads((work / f"r{E}" / "summary.json").read_text())
    for split, rows in part_of.items():
        if len(rows):
            theirs = split_figures(net, P, B, xs, target, rows, kind, scored, details=True)
            worst.note(compare_figures(summary.get(split, {}), theirs), f"summary.json's {split} figures")
    return used, (worst.value, text)


def scaled(x, train_rows, scale):
    """Section 11's `scale` (or `binarize`), fitted on the training rows per feature (each value of an example): `standard`
    (x - mean) / std with the population std, `minmax` (x - min) / (max - min); a constant feature only shifted."""
    if scale == "none":
        return x
    if scale == "binarize":  # binarize=0.2: x > 0.2 as 0s and 1s
        return (x > 0.2).astype(x.dtype)
    flat = x.reshape(len(x), -1)
    part = flat[train_rows]
    if scale == "standard":
        offset, spread = part.mean(axis=0), part.std(axis=0)
    else:
        offset, spread = part.min(axis=0), part.max(axis=0) - part.min(axis=0)
    spread = np.where(part.max(axis=0) > part.min(axis=0), spread, 1.0)  # a constant feature: every value equal
    return ((flat - offset) / spread).reshape(x.shape)


SCHEDULES = ("constant", "step(every=1, gamma=0.5)", "step(every=2, gamma=0.3)", "cosine(warmup=1)",
             "cosine(min_lr=0.002)", "linear(min_lr=0.01)", "linear")
SCHEDULE_OPTIONS = {"constant": {}, "step(every=1, gamma=0.5)": dict(every=1, gamma=0.5),
                    "step(every=2, gamma=0.3)": dict(every=2, gamma=0.3), "cosine(warmup=1)": dict(warmup=1),
                    "cosine(min_lr=0.002)": dict(min_lr=0.002), "linear(min_lr=0.01)": dict(min_lr=0.01),
                    "linear": {}}


def documented_rate(name, opts, lr, e, E):
    """Section 7's rate of epoch `e` (from 0) of `E`, each option at its documented default unless given."""
    if name == "step":
        return lr * opts.get("gamma", 0.1) ** (e // opts.get("every", 10))
    if name == "cosine":
        warmup, min_lr = opts.get("warmup", 0), opts.get("min_lr", 0.0)
        if e < warmup:
            return lr * (e + 1) / (warmup + 1)
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (e - warmup) / (E - warmup))) / 2
    if name == "linear":
        return lr + (opts.get("min_lr", 0.0) - lr) * e / E
    return lr


def early_stopping(rng, validation: bool, kind: str):
    """Early stopping on one of the figures this run reports (or none): a Stopper with random options."""
    if rng.random() < 0.5:
        return None
    monitors = ["loss_running", *(["val_loss"] if validation else [])]
    if kind == "classification":
        monitors += ["accuracy_running", *(["val_accuracy"] if validation else [])]
    return Stopper(monitors[rng.integers(len(monitors))], int(rng.integers(1, 3)), float(rng.choice([0.0, 0.001])))


def split_figures(net, P, B, xs, target, rows, kind, scored, details=False):
    """A split's figures in eval mode (the running statistics, no dropout): the loss, each term where there
    are several, the metrics of its targets and, in summary.json (`details`), each label's accuracy."""
    inputs = {"x": xs["x"][rows]}
    with torch.no_grad():
        vals = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, inputs, False, [], [])
        figures = {"loss": float(twin_loss(net, vals, P, B, inputs, [], [], target[rows], training=False))}
        if len(net.losses) > 1:
            for w, term, unit, other in net.losses:
                figures[term_name(term, unit, other)] = float(
                    twin_loss(net, vals, P, B, inputs, [], [], target[rows], training=False, terms=[(1, term, unit, other)]))
        figures.update(prediction_metrics(kind, vals[scored], target[rows], False))
        if details and kind == "multi-label":
            figures["label_accuracies"] = ((vals[scored] > 0.5) == torch.tensor(target[rows] > 0.5)).double().mean(0).tolist()
    return figures


def compare_figures(ours: dict, theirs: dict) -> float:
    """The worst relative difference of two sets of figures; infinite where their names differ."""
    if set(ours) != set(theirs):
        return float("inf")
    return max([rel_diff(ours[k], theirs[k]) for k in theirs], default=0.0)


def compare_records(path, records) -> float:
    """metrics.jsonl's records (without their epoch and time) against the twin's, epoch by epoch."""
    ours = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]
    if len(ours) != len(records):
        return float("inf")
    return max([compare_figures({k: v for k, v in a.items() if k not in ("epoch", "time")}, b)
                for a, b in zip(ours, records)], default=0.0)


def recurrent_fit_case(rng, folder):
    """`nngraph.fit` of a recurrent model with `bptt N` (one full batch an epoch) against the twin's windows:
    each starts from the state the previous one ended in, as a constant, and updates the parameters on the
    mean over its own loss rows; a window without loss rows only runs forward."""
    while True:
        net, used, xs, target, case = recurrent_case(rng)
        if not (case["bi"] or case["dropout"] or case["feedback"] or case["skip_delay"]
                or case["lengths"] is not None or case["delay"] > 1 or case["identity_delay"]):
            break
    n, T = xs["x"].shape[:2]
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    N, E = int(rng.integers(1, T + 1)), int(rng.integers(1, 3))
    scale = ["none", "standard", "minmax"][rng.integers(3)]
    lines, more = rand_optimizer(rng)
    lines += [f"dtype {DTYPE[0]}", f"batch {n}", f"bptt {N}", f"epochs {E}"]
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=xs["x"], y=target)
    option = "" if scale == "none" else f", scale={scale}"
    text = net.text(lines).replace("  data xor", f'  data npz("{work / "d.npz"}"{option})')
    raw = xs["x"]  # section 11: per feature over the examples and their steps (every row is a training row)
    xs = {"x": scaled(raw.reshape(n * T, -1), np.arange(n * T), scale).reshape(raw.shape)}
    LAST[0] = text
    checked = nngraph.loads(text, path=str(work / "s.nn"))
    prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=checked.train(None).seed)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    nngraph.fit(checked, out=str(work / "run"), quiet=True)
    config = checked.train(None)
    topt, _ = torch_optimizer(config, P)
    H = net.units[1]["shape"][0]
    x = torch.tensor(xs["x"]).transpose(0, 1)
    records = []
    for _ in range(E):
        state, total, right, rows = None, 0.0, 0.0, 0
        for start in range(0, T, N):
            stop = min(start + N, T)
            topt.zero_grad()
            hs = run_cell(case, P, "", "x->h.weight", x[start:stop], H, state=state)
            state = tuple(a.detach() for a in case["end"])
            ys = torch.stack([hh @ P["h->y.weight"] + P["y.bias"] for hh in hs])  # [window, n, k]: logits
            if case["per_step"]:
                outs, wanted = ys.transpose(0, 1).reshape(-1, ys.shape[-1]), target[:, start:stop].reshape(
                    n * (stop - start), *target.shape[2:])
            elif stop == T:
                outs, wanted = ys[-1], target
            else:
                continue  # no loss rows in this window: forward only
            wanted = torch.tensor(wanted)
            loss = F.cross_entropy(outs, wanted) if case["ce"] else F.mse_loss(outs, wanted)
            total, rows = total + len(outs) * float(loss.detach()), rows + len(outs)
            if case["ce"]:  # the accuracy on the same rows (argmax of the softmax: of the logits)
                right += float((outs.argmax(dim=1) == wanted).double().sum())
            twin_update(config, P, topt, loss)
        # a recurrent regression's running figures include its mse (section 8), here the loss's one term
        figure = {"accuracy_running": right / rows} if case["ce"] else {"mse_running": total / rows}
        records.append({"lr": topt.param_groups[0]["lr"], "loss_running": total / rows, **figure})
    worst = Worst()
    with np.load(work / "run" / "checkpoint.npz", allow_pickle=False) as z:
        for k, p in P.items():
            worst.note(rel_diff(z["params." + k], p.detach()), f"parameter {k} after {E} epochs, bptt {N}")
    worst.note(compare_records(work / "run" / "metrics.jsonl", records), "metrics.jsonl (running loss over windows)")
    return used | more | {f"bptt fit:{case['cell']}", *([f"bptt fit: scale={scale}"] if scale != "none" else [])}, \
        (worst.value, text)


def schedule_cases(rng):
    """Each schedule's rate against the documented formula."""
    worst, where = 0.0, ""
    for _ in range(10):
        E, lr = int(rng.integers(3, 12)), 0.5
        every, gamma = int(rng.integers(1, 4)), 0.5
        warmup, min_lr = int(rng.integers(0, 3)), [0.0, 0.01][rng.integers(2)]
        choices = {"constant": {}, "step": dict(every=every, gamma=gamma), "cosine": dict(warmup=warmup, min_lr=min_lr),
                   "linear": dict(min_lr=min_lr)}
        for name, opts in choices.items():
            text = XOR + f"train {{\n  data xor\n  loss bce(y)\n  schedule {call(name, opts)}\n}}\n"
            choice = nngraph.loads(text).train(None).schedule
            for e in range(E):
                ours, theirs = learning_rate(choice, lr, e, E), documented_rate(name, opts, lr, e, E)
                d = abs(ours - theirs) / lr
                if d > worst:
                    worst, where = d, f"schedule {name}{opts} epoch {e} of {E}: {ours} vs {theirs}"
    return worst, where
