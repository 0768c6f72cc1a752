"""Feature scaling whose statistics come from the training part only.

A `Scaler` is plain data (method, offset, factor) so a trainer can store it in a checkpoint
and scale evaluation data exactly as the training data was: x' = (x - offset) / factor.
The statistics are computed in float64 and kept in the dtype of the data they were fitted on (the run's).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nngraph.backend import array_module, to_device, to_host
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError

METHODS = ("none", "standard", "minmax")


@dataclass(frozen=True)
class Scaler:
    method: str
    offset: np.ndarray | float = 0.0
    factor: np.ndarray | float = 1.0

    def apply(self, data: Dataset) -> Dataset:
        """A copy of `data` with its inputs scaled; other fields untouched. The result's dtype is numpy's
        promotion of the inputs' and the statistics' (no cast): a run's own data and statistics share its dtype
        (float32 by default), and inputs from elsewhere (`predict`'s, of any dtype) are not rounded before they
        are scaled."""
        if self.method == "none":
            return data
        xp = array_module(data.x)  # the statistics are host arrays; the data may be on the device
        offset, factor = (f if np.isscalar(f) or xp is np else to_device(f, xp)
                          for f in (self.offset, self.factor))
        return replace(data, x=(data.x - offset) / factor, info={**data.info, "scaler": self})


def fit_scaler(train: Dataset, method: str | None = None) -> Scaler:
    """Statistics per feature over the examples of `train` (and their time steps, for sequences).

    standard: offset = mean, factor = standard deviation; minmax: offset = min, factor = max - min.
    A constant feature (every value equal) gets factor 1, so it is shifted but never divided by zero or by the
    rounding noise of its mean. The statistics are computed
    in float64 and kept in the dtype of `train`'s inputs (the run's: float32, or float64 on request).
    `method` defaults to the `scale=` option the data call gave (none when it gave none).
    """
    method = method or train.info.get("scale", "none")
    if method not in METHODS:
        raise DataError(
            f"unknown scaling '{method}'", hint="expected one of: " + ", ".join(METHODS)
        )
    if method == "none":
        return Scaler("none")
    if train.x.dtype.kind not in "f":
        raise DataError(f"{train.name}: inputs of dtype {train.x.dtype} cannot be scaled")
    axes = (0, 1) if train.task == "sequence" else (0,)
    x = train.x.astype(np.float64, copy=False)
    if method == "standard":
        offset, spread = x.mean(axis=axes), x.std(axis=axes)
    else:
        offset, spread = x.min(axis=axes), x.max(axis=axes) - x.min(axis=axes)
    xp = array_module(spread)
    # constant: every value equal (a mean that rounds leaves a std of rounding noise, which would turn a
    # constant feature into +-1 of that noise's sign instead of shifting it)
    varies = x.max(axis=axes) > x.min(axis=axes)
    factor = xp.where(varies & (spread > 0), spread, 1.0)
    offset, factor = (to_host(a) if xp is not np else a for a in (offset, factor))  # a scaler is plain host data
    return Scaler(method, offset.astype(train.x.dtype), factor.astype(train.x.dtype))
