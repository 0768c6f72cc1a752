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
    """Statistics per feature over the examples of `train` (and their time steps, for sequences: a sequence
    set's, or a file's that feeds a recurrent model, `info["scale_steps"]`; with `lengths`, the valid steps
    only, so that what pads a sequence changes nothing, as it changes no loss or gradient).

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
    x = train.x.astype(np.float64, copy=False)
    if train.task == "sequence" or train.info.get("scale_steps"):
        x = valid_steps(x, train.lengths)
    if method == "standard":
        offset, spread = x.mean(axis=0), x.std(axis=0)
    else:
        offset, spread = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
    xp = array_module(spread)
    # constant: every value equal (a mean that rounds leaves a std of rounding noise, which would turn a
    # constant feature into +-1 of that noise's sign instead of shifting it)
    varies = x.max(axis=0) > x.min(axis=0)
    factor = xp.where(varies & (spread > 0), spread, 1.0)
    offset, factor = (to_host(a) if xp is not np else a for a in (offset, factor))  # a scaler is plain host data
    return Scaler(method, offset.astype(train.x.dtype), factor.astype(train.x.dtype))


def valid_steps(x, lengths):
    """The steps of sequences `x` [n, T, *features] as rows [steps, *features]: every step, or with `lengths`
    (on the host) those before each sequence's length."""
    if lengths is None:
        return x.reshape(-1, *x.shape[2:])
    xp = array_module(x)
    valid = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return x[xp.asarray(valid)]
