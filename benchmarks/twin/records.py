"""What a run reports, as docs/language.md section 7 describes it, written from there: which rows go to the
validation and test splits, the metrics of a split (accuracy, label and exact-match accuracy, MSE, each loss
term), the per-epoch running figures (each step's weighted by its rows) and early stopping's verdict."""

from __future__ import annotations

import math

import numpy as np
import torch


def documented_split(target, n: int, validation: float, test: float, seed: int, classification: bool):
    """(train, validation, test) row indices: a generator default_rng(seed) of the split's own; groups (each
    class's rows in increasing label order, else all rows); the test count, then the validation count, shared
    by largest remainder with a uniform tie-break per group; each group's rows permuted, first test, then
    validation, then training; each part in the data's order."""
    rng = np.random.default_rng(seed)
    labels = target.reshape(n) if classification else None
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if classification else [np.arange(n)]
    sizes = [len(g) for g in groups]
    n_test = share(sizes, round(test * n), rng)
    n_val = share([s - t for s, t in zip(sizes, n_test)], round(validation * n), rng)
    parts = ([], [], [])
    for group, t, v in zip(groups, n_test, n_val):
        rows = rng.permutation(group)
        parts[0].append(rows[:t])
        parts[1].append(rows[t:t + v])
        parts[2].append(rows[t + v:])
    test_rows, val_rows, train_rows = (np.sort(np.concatenate(p)).astype(int) for p in parts)
    return train_rows, val_rows, test_rows


def share(sizes, total: int, rng) -> list[int]:
    """`total` over groups in proportion to their sizes: the whole parts of the quotas, then one more each to
    the largest remainders, ties to the smaller of a uniform draw per group (drawn whenever there is a share)."""
    whole = sum(sizes)
    if whole == 0 or total == 0:
        return [0] * len(sizes)
    quotas = [s * total / whole for s in sizes]
    counts = [math.floor(q) for q in quotas]
    ties = rng.random(len(sizes))
    ranked = sorted(range(len(sizes)), key=lambda g: (-(quotas[g] - counts[g]), ties[g]))
    for g in ranked[:total - sum(counts)]:
        counts[g] += 1
    return counts


def kind_of(target, unit_shape, net, scored) -> str:
    """Which figures the data's targets get (section 7): 'classification' for integer class labels, one per
    example; 'multi-label' for rows of 0s and 1s compared by a bce with several units; 'regression' for
    targets of the unit's shape; else none."""
    if target is None:
        return "none"
    if is_labels(target):
        return "classification"
    if tuple(target.shape[1:]) != tuple(unit_shape):
        return "none"
    bce = any(t == "bce" and u == scored and o is None for _, t, u, o in net.losses)
    if target.ndim == 2 and target.shape[1] > 1 and bce and np.isin(target, (0, 1)).all():
        return "multi-label"
    return "regression"


def is_labels(target) -> bool:
    """Class labels: integers, one per example ((n,) or (n, 1))."""
    return target.dtype.kind in "iu" and (target.ndim == 1 or target.shape[1:] == (1,))


def scored_unit(net) -> str:
    """The unit a term without a target unit names, else the first output."""
    named = [u for _, _, u, o in net.losses if o is None]
    return named[0] if named else next(u["name"] for u in net.units if u["role"] == "output")


def prediction_metrics(kind: str, y, target, running: bool) -> dict:
    """The metrics of the scored unit's values `y` against the data's targets, in training steps (`running`)
    as on whole splits (section 7)."""
    y = y.detach().reshape(len(y), -1) if kind != "regression" else y.detach()
    if kind == "classification":
        predicted = (y[:, 0] > 0.5).long() if y.shape[1] == 1 else y.argmax(dim=1)
        return {"accuracy": float((predicted == torch.tensor(target.reshape(-1))).double().mean())}
    if kind == "multi-label":
        right = (y > 0.5) == torch.tensor(target > 0.5)
        return {"label_accuracy": float(right.double().mean()), "exact_match": float(right.all(dim=1).double().mean())}
    if kind == "regression":
        return {"mse": float(((y - torch.tensor(target)) ** 2).mean())}
    return {}


def term_name(term, unit, other) -> str:
    return f"{term}({unit}{', ' + other if other else ''})"


class Stopper:
    """Early stopping as section 7 gives it: accuracies maximised, losses minimised; an improvement is more
    than `min_delta` beyond the best so far (a non-finite figure never is); stop after `patience` epochs
    without one."""

    def __init__(self, monitor: str, patience: int, min_delta: float):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.sign = 1 if monitor.endswith("accuracy") else -1
        self.best, self.best_epoch, self.wait, self.kept = None, 0, 0, None

    def update(self, epoch: int, record: dict, state) -> bool:
        value = record[self.monitor]
        if math.isfinite(value) and (self.best is None or self.sign * (value - self.best) > self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.kept = {k: v.detach().clone() for k, v in state.items()}
        else:
            self.wait += 1
        return self.wait >= self.patience
