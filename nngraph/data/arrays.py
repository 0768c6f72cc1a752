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


def from_arrays(req: Request, x: np.ndarray, y: np.ndarray | None, *, sources: tuple[str, str] | None = None,
                lines: list[int] | None = None, **info) -> Dataset:
    """A Dataset from raw arrays: numeric checks, matching lengths, the task read off y's dtype. Inputs and float
    targets are converted once, to the run's dtype (a float64 file in a float64 run: not at all). `sources` names
    where the inputs and the targets came from (a file, an archive's member) and `lines` each example's line in
    the file, for the errors that point at one value."""
    x_source, y_source = sources or (req.name, req.name)
    x = _numeric(req, x, "inputs")
    if x.ndim == 1:
        x = x[:, None]
    refuse_non_finite(x, f"{req.name}: the inputs of {x_source}", req.dtype, req.error, lines, info.get("columns"))
    if y is None:
        return req.limited(unsupervised(x, req.name, dtype=req.dtype, **info))
    y = _numeric(req, y, "targets")
    if len(y) != len(x):
        raise req.error(f"{req.name}: {len(x)} inputs but {len(y)} targets", "they must pair up")
    refuse_non_finite(y, f"{req.name}: the targets of {y_source}", req.dtype, req.error, lines)
    if req.sequences and req["task"] == "auto" and _step_labels(x, y):  # kept integers: a float cast makes values
        return req.limited(Dataset(np.asarray(x, req.dtype), y.astype(np.int64), "regression", name=req.name,
                                   info=info))
    if _task(req, y) == "regression":
        return req.limited(regression(x, y, req.name, dtype=req.dtype, **info))
    return req.limited(classification(x, _labels(req, y), req.name, dtype=req.dtype, **info))


def refuse_non_finite(array: np.ndarray, what: str, dtype, error, lines: list[int] | None = None,
                      columns: list[str] | None = None) -> None:
    """`error(message, hint)` naming the first value of `array` that is NaN, infinite, or too large for `dtype`
    (the run's: 1e300 in a float32 run would become inf when converted): its example (or line of the file) and
    column."""
    if array.dtype.kind != "f":
        return
    top = np.finfo(dtype).max
    finite = np.isfinite(array)
    if finite.all() and (array.size == 0 or max(-array.min(), array.max()) <= top):
        return
    with np.errstate(invalid="ignore"):
        first = tuple(int(i) for i in np.argwhere(~(np.abs(array) <= top))[0])
    value, kind = array[first], np.dtype(dtype).name
    told = "NaN" if np.isnan(value) else ("an infinity" if np.isinf(value) else f"{value:g}")
    row = f"line {lines[first[0]]}" if lines is not None else f"example {first[0]}"
    message = f"{what} hold {told} at {row}{_column(first[1:], columns)}"
    if np.isfinite(value):
        raise error(f"{message}, beyond {kind}'s range (largest {top:.3g})",
                    "rescale the data, or train in float64 (--dtype float64)")
    raise error(message, "clean the data before training")


def _column(index: tuple[int, ...], columns: list[str] | None) -> str:
    if not index:
        return ""
    if columns is not None and len(index) == 1:
        return f", column '{columns[index[0]]}'"
    return f", position {list(index)}" if len(index) > 1 else f", column {index[0]}"


def _numeric(req: Request, array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise req.error(
            f"{req.name}: the {what} have dtype {array.dtype}; expected numbers",
            "store plain integer or float arrays",
        )
    if array.ndim == 0 or len(array) == 0:
        raise req.error(f"{req.name}: the {what} are empty (shape {array.shape})")
    return array


def _step_labels(x: np.ndarray, y: np.ndarray) -> bool:
    """Integer targets (n, T) beside sequences of vectors (n, T, features): one class label per step
    (docs/language.md, section 8), which a recurrent model's loss reads per step (a feedforward model's are
    values: `Request.sequences` says which)."""
    return y.dtype.kind in "iu" and y.ndim == 2 and x.ndim == 3 and y.shape == x.shape[:2] and y.shape[1] > 1


def _task(req: Request, y: np.ndarray) -> str:
    if req["task"] != "auto":
        return req["task"]
    whole = y.dtype.kind in "biu" and (y.ndim == 1 or y.shape[1:] == (1,))
    return "classification" if whole else "regression"


def _labels(req: Request, y: np.ndarray) -> np.ndarray:
    labels = y.reshape(len(y), -1)
    if labels.dtype.kind == "u" and labels.max() > np.iinfo(np.int64).max:  # the int64 cast would wrap it to < 0
        raise req.error(f"{req.name}: class label {labels.max()} is too large",
                        "labels count the classes from 0")
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
    data = from_arrays(req, x, y, sources=(_in_archive(req, "x"), _in_archive(req, "y")))
    if lengths is not None:
        if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu":
            raise req.error("npz: lengths must be whole numbers, one per example", option="lengths")
        data.lengths = lengths.astype(np.int64)[: len(data)]
    return data


def _in_archive(req: Request, option: str) -> str:
    return f"{req.path()} (array '{req[option]}')"


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
    sources = (str(req.path()), str(req.path("y")) if y is not None else "")
    return from_arrays(req, x, y, sources=sources)


def _single(req: Request, option: str) -> np.ndarray:
    array = load_array(req, option)
    if isinstance(array, NpzArchive):
        array.close()
        raise req.error(f"npy: {req.path(option)} is an .npz archive", 'use npz("...") for it')
    return array
