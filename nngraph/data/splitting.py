"""Train / validation / test splits and minibatch indices, deterministic by seed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nngraph.backend import is_device_array, to_host
from nngraph.data.dataset import Dataset
from nngraph.data.scaling import Scaler, fit_scaler
from nngraph.errors import DataError, Span


@dataclass
class Splits:
    train: Dataset
    validation: Dataset | None
    test: Dataset | None
    scaler: Scaler | None = None


def split_dataset(
    data: Dataset,
    test: float,
    validation: float,
    seed: int,
    stratify: bool = True,
    span: Span | None = None,
    scaler: Scaler | None = None,
) -> Splits:
    """Cut `data` into train, validation and test parts, then scale all three with statistics
    from the train part (the `scale=` of the data call; see `fit_scaler`).

    `test` and `validation` are fractions of the whole set, rounded to whole examples. For
    classification the parts keep each class's share (largest remainders, ties by seed) unless
    `stratify` is false. Each part keeps the original order of its examples. `span` positions
    errors (the train block's split settings) when given. A `scaler` given (a trained model's, from its
    checkpoint) scales the parts instead of one fitted here.
    """
    _check_fractions(test, validation, len(data), span)
    rng = np.random.default_rng(seed)
    if stratify and data.task == "classification":
        labels = to_host(data.y) if is_device_array(data.y) else data.y  # indices are drawn on the host
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    else:
        groups = [np.arange(len(data))]
    sizes = [len(g) for g in groups]
    n_test = _allocate(sizes, round(test * len(data)), rng)
    n_val = _allocate([s - t for s, t in zip(sizes, n_test)], round(validation * len(data)), rng)
    parts = [[], [], []]
    for group, t, v in zip(groups, n_test, n_val):
        shuffled = rng.permutation(group)
        for part, chunk in zip(parts, np.split(shuffled, [t, t + v])):
            part.append(chunk)
    test_idx, val_idx, train_idx = (np.sort(np.concatenate(p)) for p in parts)
    return _scaled(data, train_idx, val_idx, test_idx, scaler)


def _check_fractions(test: float, validation: float, n: int, span: Span | None) -> None:
    for name, value in (("test", test), ("validation", validation)):
        if not 0 <= value < 1:
            raise DataError(f"the {name} fraction must be in [0, 1), got {value}", span)
    if round(test * n) + round(validation * n) >= n:
        raise DataError(
            f"test={test} and validation={validation} leave no training examples out of {n}",
            span,
            "use smaller fractions or more data",
        )


def _allocate(sizes: list[int], total: int, rng: np.random.Generator) -> list[int]:
    """Split `total` over groups in proportion to their sizes, by largest remainder."""
    whole = sum(sizes)
    if whole == 0 or total == 0:
        return [0] * len(sizes)
    quotas = np.array(sizes, float) * total / whole
    counts = np.floor(quotas).astype(int)
    remainder = quotas - counts
    tiebreak = rng.random(len(sizes))
    for group in np.lexsort((tiebreak, -remainder))[: total - counts.sum()]:
        counts[group] += 1
    return [int(c) for c in np.minimum(counts, sizes)]


def _scaled(data: Dataset, train_idx, val_idx, test_idx, scaler: Scaler | None) -> Splits:
    scaler = scaler or fit_scaler(data.take(train_idx))

    def part(index):
        return scaler.apply(data.take(index)) if len(index) else None

    return Splits(part(train_idx), part(val_idx), part(test_idx), scaler)


def iterate_minibatches(
    n: int, batch: int, rng: np.random.Generator | None = None, shuffle: bool = True
) -> Iterator[np.ndarray]:
    """Index arrays covering range(n) once, `batch` at a time; the last may be smaller.

    With `shuffle` the order is a fresh permutation from `rng` on every call (every epoch).
    """
    if batch < 1:
        raise DataError(f"batch size must be at least 1, got {batch}")
    if shuffle and rng is None:
        raise ValueError("iterate_minibatches: shuffle needs an rng")
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch):
        yield order[start : start + batch]
