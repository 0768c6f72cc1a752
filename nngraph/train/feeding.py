"""From a Dataset to a model's feeds (which array goes to which input unit, targets in the loss's form), and
back to metrics over a split."""

from __future__ import annotations

import math

import numpy as np

from nngraph.backend import array_module, host_floats
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError, Span
from nngraph.graph.ir import ModelGraph


def check_data_fits(model: ModelGraph, data: Dataset, span: Span | None) -> None:
    """The data's example shape must be the input units' shape (several inputs: split along features)."""
    inputs = [u for u in model.units if u.role in ("input", "visible")]
    want = [model.shapes[u.name] for u in inputs]
    got = data.feature_shape
    if len(inputs) == 1 and got == want[0]:
        return
    if len(inputs) > 1 and len(got) == 1 and got[0] == sum(math.prod(s) for s in want):
        return
    names = ", ".join(f"{u.name}{list(s)}" for u, s in zip(inputs, want))
    hint = reshape_hint(got, want[0]) if len(inputs) == 1 else None
    raise DataError(f"data '{data.name}' has examples of shape {list(got)}, but model '{model.name}' "
                    f"takes {names}", span, hint)


def reshape_hint(got: tuple, want: tuple) -> str | None:
    """How to give examples of `got`'s size the shape `want`, where the sizes agree."""
    if math.prod(got) == math.prod(want):
        return f"reshape the examples in the data call: shape={list(want)}"
    return None


DATA_LOSSES = ("mse", "bce", "bce_logits", "softmax_cross_entropy")  # the loss ops that may read the data's targets


def check_targets_fit(plan, data: Dataset, span: Span | None, steps: int | None = None) -> None:
    """The data's targets must be what the loss terms that read them can compare their unit U (`plan.scored`)
    with: there at all; for a cross-entropy, class labels of U's shape less its class axis (one label per
    example, or a column of them, for a `[1, K]` output; integers, or floats that are whole numbers) or
    probability rows of U's shape; for `mse`/`bce`, values of U's shape, or integer class labels where U is one
    axis (a 0/1 column for one unit, one-hot rows for several); and class labels naming one of U's classes,
    from 0. `steps`: a recurrent model's targets come one a step, for each of that many steps. Said at the data
    setting, before a step fails inside an op (an IndexError for label 5 of 2 classes, a reshape), broadcasts
    into a wrong number where the batch size happens to fit, or trains on fractional labels cast to integers."""
    reading = [ls for ls in plan.losses if ls.target is None and ls.op in DATA_LOSSES]
    if not reading or plan.scored is None:
        return
    unit, shape = plan.scored, tuple(plan.shapes[plan.scored])
    terms = ", ".join(ls.label for ls in reading)
    y, lead = data.y, () if steps is None else (steps,)
    if y is None:
        raise DataError(f"data '{data.name}' has no targets, but {terms} compares {unit} with them", span,
                        f"use data with targets, or compare {unit} with another unit: mse({unit}, x)")
    got, labels, whole = tuple(y.shape[1:]), y.dtype.kind in "iu", lead + shape
    classes_wanted = labels_wanted(plan.losses)
    one_label = labels and got in (lead, lead + (1,))
    if classes_wanted:
        per_position = lead + shape[:-1]
        one_position = one_label and math.prod(shape[:-1]) == 1
        if not labels and got == per_position != whole:  # floats where class labels go: whole numbers only
            _check_whole_numbers(data, span)
            labels = True
        fits = got == whole or labels and got == per_position or one_position
        want = (f"class labels of shape {list(per_position)}" if per_position else "one class label") + \
            f" or probability rows of shape {list(whole)}"
    else:
        fits = got == whole or one_label and len(shape) == 1
        want = f"targets of shape {list(whole)}" + (" (or class labels)" if len(shape) == 1 else "")
    if not fits:
        given = (("one class label" if labels else "one number") if got in ((), (1,))
                 else f"targets of shape {list(got)}")
        each = f" at each of {steps} steps" if steps is not None else ""
        raise DataError(f"data '{data.name}' gives {given} per example, but {terms} compares '{unit}' "
                        f"{list(shape)}{each} with {want}", span,
                        "class labels must be whole numbers (an integer array)" if classes_wanted and not labels
                        else "give targets of that shape (npz: the `y` array), or change the output unit's shape")
    if labels and y.size:
        counted = classes_wanted or math.prod(shape) > 1 or any("bce" in ls.op for ls in reading)
        if counted and y.min() < 0:  # (one unit under mse compares with the label's value, which may be any)
            raise DataError(f"data '{data.name}' has class label {int(y.min())}, but labels count the classes "
                            f"from 0", span)
        _check_labels(reading, data, int(y.max()), f"{unit}{list(shape)}",
                      shape[-1] if classes_wanted else math.prod(shape), span)


def _check_whole_numbers(data: Dataset, span) -> None:
    """Class labels given as floats (a csv's, an npz written from floats) are taken where every one is a whole
    number, as an integer array would give them; else the first that is not is named."""
    y = data.y
    xp = array_module(y)
    fractional = xp.flatnonzero(~(xp.isfinite(y) & (y == xp.round(y))).reshape(-1))
    if fractional.size:
        first = int(fractional[0])
        example, value = first // max(1, y[0].size), y.reshape(-1)[first]
        raise DataError(f"data '{data.name}' gives class labels that are not whole numbers: {float(value)!r} at "
                        f"example {example}", span, "class labels count the classes from 0: 0, 1, 2, ...")


def _check_labels(reading, data: Dataset, top: int, named: str, width: int, span) -> None:
    """Labels become one-hot rows of `width` (a label past it, a row of zeros), or for one unit a 0/1 column a
    cross-entropy reads as a probability; one unit under another loss compares with the label's value."""
    binary = any("bce" in ls.op or "cross_entropy" in ls.op for ls in reading)
    classes = width if width > 1 else (2 if binary else None)
    if classes is not None and top >= classes:
        raise DataError(f"data '{data.name}' has class label {top}, but {named} tells {classes} classes apart",
                        span, f"labels count from 0; {top + 1} classes need {top + 1} output units")


def split_inputs(model: ModelGraph, names: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """One array per input unit, in declaration order; the features (the last axis: sequences keep their
    step axis) are split when there are several."""
    if len(names) == 1:
        return {names[0]: x}
    out, start = {}, 0
    for name in names:
        width = math.prod(model.shapes[name])
        out[name] = x[..., start:start + width].reshape(x.shape[:-1] + model.shapes[name])
        start += width
    return out


def target_for(plan, y: np.ndarray | None) -> np.ndarray | None:
    """Integer labels become what the loss that reads them expects: a column for one unit (a sigmoid's
    0/1), one-hot rows for several, as they are for a cross-entropy (one label per example given to an output
    of one position, `[1, K]`, as that position's). Any step axis is kept. `plan` is a Plan (it names its losses
    and the unit compared with the data)."""
    if y is None or y.dtype.kind not in "iu" or plan.scored is None:
        return y
    if labels_wanted(plan.losses):
        positions = plan.shapes[plan.scored][:-1]
        one_position = y.ndim == 1 and len(positions) > 0 and math.prod(positions) == 1
        return y.reshape(len(y), *positions) if one_position else y
    width = math.prod(plan.shapes[plan.scored])
    # 0s and 1s, exact in float32: the program's feed gives them the run's dtype (Backend.asarray)
    return y[..., None].astype(np.float32) if width == 1 else one_hot_rows(y, width, np.float32)


def one_hot_rows(labels, width: int, dtype):
    """Integer labels (...) -> one-hot rows (..., width), computed where the labels are (a minibatch of data on
    the device stays there); the same 0s and 1s as rows of an identity matrix."""
    xp = array_module(labels)
    return (labels[..., None] == xp.arange(width)).astype(dtype)




def labels_wanted(losses) -> bool:
    """Whether the loss that reads the data's targets takes class labels (a cross-entropy) as they are."""
    return any(ls.op == "softmax_cross_entropy" and ls.target is None for ls in losses)


def classifies(plan) -> bool:
    """Whether the unit compared with the data's targets gives class probabilities: a cross-entropy reads it
    with class labels, or a binary one reads it alone (one sigmoid unit: the probability of class 1)."""
    if plan.scored is None:
        return False
    if labels_wanted(plan.losses):
        return True
    compared = [ls for ls in plan.losses if ls.target is None and ls.unit == plan.scored]
    return math.prod(plan.shapes[plan.scored]) == 1 and any(ls.op in ("bce_logits", "bce") for ls in compared)


def predictions_metric(plan, output, data: Dataset, labels: bool | None = None) -> dict:
    """Accuracy for classifiers (argmax, or 0.5 threshold for one unit), label and exact-match accuracy for
    multi-label ones (`labels`, decided from the whole data set; None: `multi_label` of `data`), MSE otherwise.
    `output` on the host or on the device (a training step's): the metrics are 0-d arrays beside it, read later
    (`host_metrics`)."""
    y = data.y
    if y is None:
        return {}
    xp = array_module(output)
    if data.task == "classification":
        if output.shape[-1] == 1 and output.ndim == 2:
            predicted = output[:, 0] > 0.5  # compares equal to the labels 0 and 1
        else:
            predicted = output.reshape(len(output), -1).argmax(axis=1)
        # count_nonzero, not mean: this runs every step, and on a tiny batch mean's overhead is the cost
        right = xp.count_nonzero(predicted == xp.asarray(y.reshape(-1)))
        return {"accuracy": right / max(len(predicted), 1)}
    if y.shape == output.shape and (multi_label(plan, y) if labels is None else labels):
        right = (output > 0.5) == xp.asarray(y > 0.5)
        return {"label_accuracy": right.mean(), "exact_match": right.all(axis=1).mean()}
    if y.shape == output.shape:
        return {"mse": ((output - xp.asarray(y)) ** 2).mean()}
    return {}


def multi_label(plan, y: np.ndarray) -> bool:
    """A multi-label task: several units compared with the data's targets by a binary cross-entropy (each unit
    a yes/no question: sigmoid probabilities), and the targets rows of 0s and 1s."""
    compared = [ls for ls in plan.losses if ls.target is None and ls.unit == plan.scored]
    return (y.ndim == 2 and y.shape[1] > 1 and any(ls.op in ("bce_logits", "bce") for ls in compared)
            and bool(np.isin(y, (0, 1)).all()))


def chunks(data: Dataset, size: int):
    """The split in consecutive parts of `size` examples (the last one shorter), for evaluation passes."""
    for start in range(0, len(data), size):
        yield data.take(np.arange(start, min(start + size, len(data))))


def host_metrics(metrics: dict) -> dict[str, float]:
    """Metrics as Python floats, read from the device together (one `host_floats` read)."""
    return dict(zip(metrics, host_floats(list(metrics.values()))))


class Tally:
    """Metrics of several batches, chunks or windows, each weighted by its rows. The sums stay where the
    metrics are (0-d device arrays stay on the device): a step's tally is read with the step's metrics."""

    def __init__(self):
        self.sums: dict = {}
        self.rows = 0

    def add(self, metrics: dict, rows: int) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * rows
        self.rows += rows

    def means(self, with_terms: bool = True) -> dict:
        """The weighted means; without the single loss terms (`bce(y)`) unless `with_terms`."""
        keep = {k: v / max(self.rows, 1) for k, v in self.sums.items()}
        return {k: v for k, v in keep.items() if with_terms or "(" not in k}
