"""Where the training split lives during a run, and how each epoch's minibatches reach the device (issue 13).

Resident: a split whose arrays fit the budget is uploaded once, when the run starts. Each epoch's order is still
drawn from the loop's seeded host generator (so a run is the run it always was, bit for bit on numpy), uploaded
once as an index array, and every minibatch is a `take` of the resident split on the device: one host-to-device
copy an epoch, none a step.

Streaming: a larger split stays in host memory; each minibatch's rows are gathered and copied while the step
before computes (backend/transfer.py: pinned buffers and a side stream on a GPU).

The budget: the environment variable NNGRAPH_RESIDENT_BYTES (bytes; 0 streams every split) where set; else, on a
GPU, RESIDENT_SHARE of the device memory free when the run starts; on numpy every split is resident (host memory
is where it is already: the upload only marks and counts, `backend.to_device`).

The examples and targets go to the device; sequence lengths stay on the host, where they decide which rows each
BPTT window's losses read (train/sequences.py: `select_rows`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from nngraph.backend import is_device_array, on_device_like, to_device
from nngraph.backend.transfer import Uploader, free_device_bytes
from nngraph.data.dataset import Dataset
from nngraph.errors import TrainingError

BUDGET_VARIABLE = "NNGRAPH_RESIDENT_BYTES"
RESIDENT_SHARE = 0.5  # of the free device memory: the rest is for parameters, activations and the allocator


def resident_budget(xp) -> int | None:
    """The most bytes a split may take and stay on the device; None: no limit."""
    setting = os.environ.get(BUDGET_VARIABLE)
    if setting is not None and setting.strip():
        try:
            budget = int(setting)
        except ValueError:
            budget = -1
        if budget < 0:
            raise TrainingError(f"{BUDGET_VARIABLE}={setting!r} is not a number of bytes",
                                hint="set it to a whole number of bytes (0 streams the data), or unset it")
        return budget
    free = free_device_bytes(xp)
    return None if free is None else int(free * RESIDENT_SHARE)


def data_bytes(data: Dataset) -> int:
    """What the split would take on the device."""
    return sum(a.nbytes for a in _arrays(data) if a is not None)


class DataFeed:
    """The training split's minibatches on the device, resident or streamed (`resident`)."""

    def __init__(self, data: Dataset, xp, budget: int | None = None):
        self.xp = xp
        # a split given on the device is resident whatever its size: there is nothing to stream it from
        self.resident = budget is None or data_bytes(data) <= budget or is_device_array(data.x)
        self.data = _uploaded(data, xp) if self.resident else data
        self._uploader = None if self.resident else Uploader(xp)

    @classmethod
    def for_run(cls, data: Dataset, xp) -> DataFeed:
        return cls(data, xp, resident_budget(xp))

    def whole(self) -> Dataset:
        """The split as one batch."""
        if self.resident:
            return self.data
        return self._batch(self._uploader.start(_arrays(self.data), np.arange(len(self.data))), slice(None))

    def batches(self, order: np.ndarray, start: int, batch: int) -> Iterator[Dataset]:
        """The minibatches of `order` (a host index array), `batch` rows each, from row `start` of it."""
        if self.resident:
            on_device = to_device(order, self.xp)  # the epoch's one copy
            for first in range(start, len(order), batch):
                rows = slice(first, first + batch)
                x, y = (None if a is None else a[on_device[rows]] for a in _arrays(self.data))
                yield self._with(x, y, order[rows])
            return
        starts = range(start, len(order), batch)
        coming = self._uploader.start(_arrays(self.data), order[start:start + batch]) if starts else None
        for first in starts:
            upload = coming
            if first + batch < len(order):  # the next batch's copy starts before this step computes
                coming = self._uploader.start(_arrays(self.data), order[first + batch:first + 2 * batch])
            yield self._batch(upload, order[first:first + batch])

    def _batch(self, upload, rows) -> Dataset:
        return self._with(*upload.arrays(), rows)

    def _with(self, x, y, rows) -> Dataset:
        """A minibatch: examples and targets on the device, sequence lengths (at host `rows`) on the host."""
        lengths = None if self.data.lengths is None else self.data.lengths[rows]
        return replace(self.data, x=x, y=y, lengths=lengths, info=dict(self.data.info))


def _arrays(data: Dataset) -> list:
    """What goes to the device: the examples and the targets."""
    return [data.x, data.y]


def _uploaded(data: Dataset, xp) -> Dataset:
    """The split with its examples and targets on the device (those already there kept as they are)."""
    x, y = (None if a is None else on_device_like(a, xp) for a in _arrays(data))
    return replace(data, x=x, y=y, info=dict(data.info))
