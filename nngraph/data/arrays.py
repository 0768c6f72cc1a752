"""NumPy files (`npz`, `npy`) and the checks every array read from disk goes through.

Files are read through `nngraph.safe_files`: an object array is refused with a clear error,
never unpickled, and a header that claims more than the file holds is refused before reading.
"""

from __future__ import annotations

import numpy as np

from nngraph.data.catalog import FEATURES, LIMITED, Request, register
from nngraph.data.dataset import Dataset, classification, regression, unsupervised
from nngraph.data.options import Option
from nngraph.safe_files import NpzArchive, load_numpy

TASK_CHOICE = {"task": Option("choice", "auto", choices=("auto", "classification", "regression"))}
FILE = {**FEATURES, **LIMITED, **TASK_CHOICE, "path": Option("path")}


def from_arrays(req: Request, x: np.ndarray, y: np.ndarray | None, **info) -> Dataset:
    """A Dataset from raw arrays: numeric checks, matching lengths, the task read off y's dtype. Inputs and float
    targets are converted once, to the run's dtype (a float64 file in a float64 run: not at all)."""
    x = _numeric(req, x, "inputs")
    if x.ndim == 1:
        x = x[:, None]
    if y is None:
        return req.limited(unsupervised(x, req.name, dtype=req.dtype, **info))
    y = _numeric(req, y, "targets")
    if len(y) != len(x):
        raise req.error(f"{req.name}: {len(x)} inputs but {len(y)} targets", "they must pair up")
    if _task(req, y) == "regression":
        return req.limited(regression(x, y, req.name, dtype=req.dtype, **info))
    return req.limited(classification(x, _labels(req, y), req.name, dtype=req.dtype, **info))


def _numeric(req: Request, array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise req.error(
            f"{req.name}: the {what} have dtype {array.dtype}; expected numbers",
            "store plain integer or float arrays",
        )
    if array.ndim == 0 or len(array) == 0:
        raise req.error(f"{req.name}: the {what} are empty (shape {array.shape})")
    return array


def _task(req: Request, y: np.ndarray) -> str:
    if req["task"] != "auto":
        return req["task"]
    whole = y.dtype.kind in "biu" and (y.ndim == 1 or y.shape[1:] == (1,))
    return "classification" if whole else "regression"


def _labels(req: Request, y: np.ndarray) -> np.ndarray:
    labels = y.reshape(len(y), -1)
    if labels.shape[1] != 1 or not np.all(np.mod(labels, 1) == 0) or labels.min() < 0:
        raise req.error(
            f"{req.name}: class labels must be one whole number >= 0 per example",
            "use task=regression for other targets",
        )
    return labels[:, 0].astype(np.int64)


# ---- npz and npy ---------------------------------------------------------------------------


def load_array(req: Request, option: str = "path"):
    """The array of an .npy file, or an open `NpzArchive` of an .npz file, read through `safe_files`:
    a regular file only, headers checked against the file's size and the memory available before any data
    is read, never a pickle. Whatever goes wrong is a DataError at the data setting, naming the file."""
    return load_numpy(req.path(option), error=file_error(req))


def file_error(req: Request):
    """safe_files' refusals as this loader's DataErrors."""
    return lambda message, hint=None: req.error(f"{req.name}: {message}", hint)


@register(
    "npz",
    {**FILE, "x": Option("str", "x"), "y": Option("str", "y"), "lengths": Option("str")},
    positional=("path",),
)
def npz(req: Request) -> Dataset:
    """Arrays from a NumPy .npz archive: inputs under key `x`, targets under `y`.

    Without a `y` key (and no y= given) the set is unsupervised. Integer targets of shape (n,)
    are class labels, others regression targets (force either with task=). `lengths` names an
    optional key of per-sequence lengths for ragged sequences.
    """
    archive = load_array(req)
    if not isinstance(archive, NpzArchive):
        raise req.error(f"npz: {req.path()} is a single .npy array", 'use npy("...") for it')
    with archive:
        x = _member(req, archive, "x")
        y = _member(req, archive, "y") if _has_targets(req, archive) else None
        lengths = _member(req, archive, "lengths") if req["lengths"] else None
    data = from_arrays(req, x, y)
    if lengths is not None:
        if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu":
            raise req.error("npz: lengths must be whole numbers, one per example", option="lengths")
        data.lengths = lengths.astype(np.int64)[: len(data)]
    return data


def _has_targets(req: Request, archive: NpzArchive) -> bool:
    return req.options.given("y") or req["y"] in archive


def _member(req: Request, archive: NpzArchive, option: str) -> np.ndarray:
    key = req[option]
    if key not in archive:
        have = ", ".join(archive.names) or "none"
        raise req.error(f"npz: no array '{key}' in {req.path()}", f"it holds: {have}", option)
    return archive.read(key)


@register("npy", {**FILE, "y": Option("path")}, positional=("path",))
def npy(req: Request) -> Dataset:
    """Inputs from one .npy file, targets (optional) from a second: npy("x.npy", y="y.npy")."""
    x = _single(req, "path")
    y = _single(req, "y") if req["y"] is not None else None
    return from_arrays(req, x, y)


def _single(req: Request, option: str) -> np.ndarray:
    array = load_array(req, option)
    if isinstance(array, NpzArchive):
        array.close()
        raise req.error(f"npy: {req.path(option)} is an .npz archive", 'use npz("...") for it')
    return array
