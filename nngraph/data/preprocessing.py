"""What training did to its data before the model saw it, kept so that data from elsewhere gets the same.

The training data went through its data call's `binarize` and `shape` (`load_dataset`), the scaling fitted on the
training split (`split_dataset`), for text the vocabulary it is coded in, and for class names (a csv's text
targets) their numbering, and for a csv with a header its input columns' names. `Preprocessing` holds all of
it as plain data: `to_saved` gives the JSON part and the arrays a checkpoint stores, `from_saved` takes them
back, and `apply` prepares data that did not come through the spec's data call (`eval --data`, `predict`'s
input) as the training data was prepared. A step the data's own call already applied is not applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nngraph.data.dataset import Dataset, binarized
from nngraph.data.scaling import METHODS, Scaler
from nngraph.errors import DataError

ARRAY_PREFIX = "__data__"  # checkpoint names of the scaling statistics
NO_SCALING = Scaler("none")


@dataclass(frozen=True)
class Preprocessing:
    binarize: float | None = None
    shape: tuple[int, ...] | None = None
    scaler: Scaler = NO_SCALING
    vocabulary: str | None = None
    classes: tuple[str, ...] | None = None  # class names in the order of their numbers
    columns: tuple[str, ...] | None = None  # a csv's input columns by their header names, in the model's order

    @classmethod
    def of_training(cls, train: Dataset, scaler: Scaler | None) -> Preprocessing:
        """What the training split went through (`load_dataset` notes its steps in `info`)."""
        shape, classes, columns = (train.info.get(key) for key in ("shape", "classes", "named_columns"))
        return cls(train.info.get("binarize"), None if shape is None else tuple(shape), scaler or NO_SCALING,
                   train.vocabulary, None if classes is None else tuple(classes),
                   None if columns is None else tuple(columns))

    def to_saved(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON data, arrays) for a checkpoint: the arrays are the scaling's statistics, in their own dtype (the
        run's: a float64 run's are read back in float64)."""
        meta = {"binarize": self.binarize, "shape": None if self.shape is None else list(self.shape),
                "scale": self.scaler.method, "vocabulary": self.vocabulary,
                "classes": None if self.classes is None else list(self.classes),
                "columns": None if self.columns is None else list(self.columns)}
        if self.scaler.method == "none":
            return meta, {}
        return meta, {f"{ARRAY_PREFIX}.scale.offset": np.asarray(self.scaler.offset),
                      f"{ARRAY_PREFIX}.scale.factor": np.asarray(self.scaler.factor)}

    @classmethod
    def from_saved(cls, meta: dict | None, arrays: dict[str, np.ndarray]) -> Preprocessing:
        """What `to_saved` gave; an empty `meta` (a checkpoint older than saved preprocessing): nothing.
        Anything else than what `to_saved` writes is refused (a DataError), never half used."""
        meta = meta or {}
        try:
            return cls(_saved(meta, "binarize", (int, float)), _saved_shape(meta), _saved_scaler(meta, arrays),
                       _saved(meta, "vocabulary", str), _saved_names(meta, "classes"), _saved_names(meta, "columns"))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"the checkpoint's saved preprocessing is corrupt ({type(e).__name__}: {e})") from None

    def apply(self, data: Dataset, span=None) -> Dataset:
        """`data` prepared as the training data was: binarised, reshaped, scaled with the training split's
        statistics, its text coded in the training vocabulary, its class names numbered as training's were
        (what it has that training had not is refused at `span`, where the data was named), a csv's columns put in
        training's order by their header names."""
        if self.columns is not None and data.info.get("named_columns") is not None:
            data = reorder_columns(data, self.columns, span)
        if self.binarize is not None and data.info.get("binarize") is None:
            data = replace(data, x=binarized(data.x, self.binarize), info={**data.info, "binarize": self.binarize})
        shape = None if self.shape is None else _training_shape(data.x, self.shape)
        if shape is not None and shape != data.x.shape[1:]:
            data = replace(data, x=data.x.reshape(len(data.x), *shape))
        if self.vocabulary is not None and data.vocabulary is not None:
            data = recode(data, self.vocabulary, span)
        if self.classes is not None and data.info.get("classes") is not None:
            data = renumber_classes(data, self.classes, span)
        return self.scaler.apply(data) if _fits(self.scaler, data.x) else data  # else the model's check says


def _fits(scaler: Scaler, x: np.ndarray) -> bool:
    """Whether `x` has the features the statistics are of (a wrong shape is the model's to report)."""
    shape = np.shape(scaler.offset)
    return x.shape[x.ndim - len(shape):] == shape


def _saved(meta: dict, name: str, kinds: tuple | type):
    value = meta.get(name)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise TypeError(f"{name} is {value!r}")
    return value


def _saved_names(meta: dict, key: str) -> tuple[str, ...] | None:
    names = _saved(meta, key, list)
    if names is not None and not all(isinstance(name, str) for name in names):
        raise ValueError(f"{key} is {names!r}")
    return None if names is None else tuple(names)


def _saved_shape(meta: dict) -> tuple[int, ...] | None:
    shape = _saved(meta, "shape", list)
    if shape is not None and not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"shape is {shape!r}")
    return None if shape is None else tuple(shape)


def _saved_scaler(meta: dict, arrays: dict[str, np.ndarray]) -> Scaler:
    method = _saved(meta, "scale", str) or "none"
    if method == "none":
        return NO_SCALING
    if method not in METHODS:
        raise ValueError(f"scale is {method!r}")
    offset, factor = arrays[f"{ARRAY_PREFIX}.scale.offset"], arrays[f"{ARRAY_PREFIX}.scale.factor"]
    if offset.shape != factor.shape or offset.dtype.kind != "f" or factor.dtype.kind != "f":
        raise ValueError("the scaling statistics do not match")
    return Scaler(method, offset, factor)


def _training_shape(x: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The training examples' shape for the examples of `x`; None where their size differs, which the model's
    own shape check then reports."""
    return tuple(shape) if int(np.prod(x.shape[1:])) == int(np.prod(shape)) else None


def recode(data: Dataset, vocabulary: str, span=None) -> Dataset:
    """Text coded in its own vocabulary (`data.vocabulary`), coded instead in `vocabulary` (the training
    text's); a character the training text never had is refused, named."""
    if data.vocabulary == vocabulary:
        return data
    index = {c: i for i, c in enumerate(vocabulary)}
    unseen = [c for c in data.vocabulary if c not in index]
    if unseen:
        shown = ", ".join(repr(c) for c in unseen[:10])
        raise DataError(f"data '{data.name}' has characters the model never saw: {shown}", span,
                        f"the training text has {len(vocabulary)} characters")
    table = np.array([index[c] for c in data.vocabulary], dtype=np.int64)
    return replace(data, x=table[data.x], y=None if data.y is None else table[data.y], vocabulary=vocabulary,
                   n_classes=len(vocabulary))


def renumber_classes(data: Dataset, classes: tuple[str, ...], span=None) -> Dataset:
    """Labels numbered by their own class names (`info["classes"]`: the names a file has, sorted) numbered
    instead as in `classes`, the training data's (a file with fewer classes numbers them from 0 too)."""
    own = list(data.info["classes"])
    if own == list(classes):
        return data
    index = {name: i for i, name in enumerate(classes)}
    unseen = [name for name in own if name not in index]
    if unseen:
        raise DataError(f"data '{data.name}' has classes the model was never trained on: {_names(unseen, 5)}", span,
                        f"the training data has {len(classes)} classes: {_names(classes)}")
    table = np.array([index[name] for name in own], dtype=np.int64)
    return replace(data, y=table[data.y], n_classes=len(classes), info={**data.info, "classes": list(classes)})


def reorder_columns(data: Dataset, columns: tuple[str, ...], span=None) -> Dataset:
    """A table's inputs (`info["named_columns"]`, its header's names) put in the order of `columns`, training's:
    a file with the same columns in another order feeds each to the weights it was trained with. A column
    training had and the file lacks, one it has and training had not, or one named twice is refused, named."""
    own = list(data.info["named_columns"])
    if own == list(columns):
        return data
    missing = [name for name in columns if name not in own]
    unknown = [name for name in own if name not in columns]
    twice = [name for name in columns if own.count(name) > 1]
    if missing or unknown or twice:
        said = [f"{what} {_names(names)}" for what, names in
                (("lacks the columns", missing), ("has columns training had not:", unknown),
                 ("names twice", twice)) if names]
        raise DataError(f"data '{data.name}' {' and '.join(said)} (by its header)", span,
                        f"the model was trained on the columns {_names(columns)}")
    order = np.array([own.index(name) for name in columns])
    x = data.x.reshape(len(data.x), -1)[:, order].reshape(data.x.shape)
    return replace(data, x=x, info={**data.info, "named_columns": list(columns)})


def _names(names, most: int = 10) -> str:
    names = list(names)
    return ", ".join(repr(name) for name in names[:most]) + (" ..." if len(names) > most else "")
