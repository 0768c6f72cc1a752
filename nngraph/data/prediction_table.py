"""`predict -o out.csv`: a unit's values as a table, one row an example; a classifier's with its class names.

A classifier (`Method.predicts_classes`) gets a first column `predicted`, the class of highest probability (of one
sigmoid unit: class 1 where its probability passes 0.5, as accuracy counts it), then one column of probabilities
per class, headed by the class's name (a csv's text targets) or number; one sigmoid unit's column is class 1's.
Any other unit gets a column per value, `y[0]`, `y[1]`, ... (one value: `y`). Numbers are written with the digits
that read back the same value in the array's dtype.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from nngraph.errors import DataError


def prediction_table(values: np.ndarray, unit: str, classes: list[str] | None = None) -> str:
    """The csv text of `values` (n, ...) of `unit`; `classes`: a classifier's class names in the order of their
    numbers (two for one sigmoid unit), None for plain values."""
    if values.ndim == 1:  # one value an example (a discrete policy's actions)
        values = values[:, None]
    if values.ndim != 2:
        shape = list(values.shape[1:])
        raise DataError(f"a .csv holds one row of numbers an example, and unit '{unit}' gives {shape} each", None,
                        "write the values as .npy: -o predictions.npy")
    digits = 17 if values.dtype == np.float64 else 9
    cells = np.char.mod(f"%.{digits}g", values) if values.dtype.kind == "f" else values.astype(str)
    if classes is None:
        header = [unit] if values.shape[1] == 1 else [f"{unit}[{i}]" for i in range(values.shape[1])]
    else:
        header, cells = _with_classes(values, cells, classes)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells.tolist())
    return text.getvalue()


def _with_classes(values: np.ndarray, cells: np.ndarray, classes: list[str]):
    names = np.asarray(classes, dtype=object)
    if values.shape[1] == 1:
        picked = names[(values[:, 0] > 0.5).astype(np.int64)]
        header = ["predicted", classes[1]]
    else:
        picked = names[np.nan_to_num(values, nan=-math.inf).argmax(axis=1)]
        header = ["predicted", *classes]
    return header, np.column_stack([picked.astype(str), cells])
