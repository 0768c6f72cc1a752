"""The one shape every data set takes, whatever made it: plain arrays plus what they mean."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from nngraph.backend.core import is_device_array, to_host

TASKS = ("classification", "regression", "sequence", "unsupervised", "text")


@dataclass
class Dataset:
    """Examples along axis 0 of `x` (and of `y` and `lengths` where present).

    `info` keeps what a loader knows beyond the arrays: the true weights of `linear`,
    the mode centres of `ring` and `grid`, the class names of a csv target, and the
    scaling the spec asked for (`info["scale"]`, applied by `split_dataset`).
    """

    x: np.ndarray
    y: np.ndarray | None
    task: str
    n_classes: int | None = None
    lengths: np.ndarray | None = None
    vocabulary: str | None = None
    name: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        # arrays on the device (cupy's, or on numpy those marked by `backend.to_device`) are kept there: a
        # training run takes its minibatches from them without a copy (train/feed.py); the rest are host arrays.
        # Sequence lengths are read on the host (they decide which rows a BPTT window's losses read)
        self.x = _kept(self.x)
        self.y = None if self.y is None else _kept(self.y)
        self.lengths = None if self.lengths is None else _on_host(self.lengths)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index) -> Dataset:
        """The examples at `index` (an index array, a boolean mask or a slice), everything else kept. A device
        index takes on the device; a host index or a slice of device arrays takes there too (cupy accepts host
        indices)."""
        if not (isinstance(index, slice) or is_device_array(index)):
            index = np.asarray(index)
        return replace(
            self,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            lengths=None if self.lengths is None else self.lengths[_host_index(index)],
            info=dict(self.info),
        )

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def _kept(a) -> np.ndarray:
    """An array as it is, on the host or on the device (a minibatch's `take`: no read to count), anything else
    through `to_host` (a list becomes an array)."""
    return a if isinstance(a, np.ndarray) or is_device_array(a) else to_host(a)


def _host_index(index):
    """An index for host arrays (sequence lengths): a device index read to the host, anything else as it is."""
    return to_host(index) if is_device_array(index) else index


def _on_host(a) -> np.ndarray:
    """A host array as it is, anything else through `to_host` (a device array is read; a list becomes an array)."""
    return a if type(a) is np.ndarray else to_host(a)


def in_run_type(values, dtype) -> np.ndarray:
    """`values` in the run's float type; one beyond its range becomes an infinity without a warning: the loader
    then refuses it naming the example and column (`refuse_non_finite`)."""
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype)


def classification(x, labels, name: str, n_classes: int | None = None, *, dtype=np.float32, **info) -> Dataset:
    """A labelled set: inputs in `dtype` (the run's: float32 unless it asks for float64), int64 labels, classes
    counted from the labels if not given."""
    labels = np.asarray(labels, dtype=np.int64)
    count = n_classes if n_classes is not None else int(labels.max(initial=-1)) + 1
    return Dataset(in_run_type(x, dtype), labels, "classification", count, name=name, info=info)


def unsupervised(x, name: str, *, dtype=np.float32, **info) -> Dataset:
    """Inputs alone, in `dtype` (the run's)."""
    return Dataset(in_run_type(x, dtype), None, "unsupervised", name=name, info=info)


def regression(x, targets, name: str, task: str = "regression", *, dtype=np.float32, **info) -> Dataset:
    """Inputs and targets in `dtype` (the run's); a vector of targets becomes one column so every target is
    (n, k)."""
    targets = in_run_type(targets, dtype)
    if targets.ndim == 1:
        targets = targets[:, None]
    return Dataset(in_run_type(x, dtype), targets, task, name=name, info=info)


def binarized(x: np.ndarray, threshold: float) -> np.ndarray:
    """`x > threshold` as 0s and 1s, in the float dtype of `x` (exact in any; integer inputs give float32)."""
    return (x > threshold).astype(x.dtype if x.dtype.kind == "f" else np.float32)
