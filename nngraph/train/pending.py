"""Training steps' metrics kept where they were computed until the loop reads them (issue 13).

Reading a device array on the host waits for every kernel queued before it, so a step reads nothing: its
metrics (0-d arrays on the device, or plain numbers) are kept here, and `read` copies everything kept to the
host in one transfer (`backend.host_floats`). The loop reads at an epoch's end, before a Ctrl-C checkpoint, and
in between at most once per READ_SECONDS (the progress line's interval). Every COMPACT_STEPS steps the kept 0-d
arrays are stacked into one array per run of steps with the same metric names, a device operation and no read,
so what is kept stays small however long the interval. The values read are exactly the steps' own, so the
loop sums them in step order as it always did: reading later changes no record.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from nngraph.backend import array_module, host_floats
from nngraph.train.progress import LINE_SECONDS

COMPACT_STEPS = 256  # steps' 0-d arrays stacked into one array at a time
READ_SECONDS = LINE_SECONDS  # the most often the loop reads the metrics within an epoch


@dataclass
class Block:
    """Compacted steps: their numbers, rows and metric names, and the values as one [steps, names] array."""

    steps: list[int]
    rows: list[int]
    names: tuple[str, ...]
    values: Any


class PendingMetrics:
    """Steps' metrics not yet read: the latest as the steps returned them, the earlier ones in `Block`s."""

    def __init__(self, clock=time.monotonic):
        self.recent: list[tuple[int, dict, int]] = []  # (step, metrics, rows)
        self.blocks: list[Block] = []
        self._clock = clock
        self.last_read = clock()

    def __bool__(self) -> bool:
        return bool(self.recent or self.blocks)

    def add(self, step: int, metrics: dict, rows: int) -> bool:
        """Keep one step's metrics; True when a read is due (READ_SECONDS since the last, checked when the
        kept steps are compacted)."""
        self.recent.append((step, metrics, rows))
        if len(self.recent) < COMPACT_STEPS:
            return False
        self.compact()
        return self._clock() - self.last_read >= READ_SECONDS

    def compact(self) -> None:
        """The recent steps stacked, per run of steps with the same names, into one array where they are."""
        for names, run in itertools.groupby(self.recent, key=lambda kept: tuple(kept[1])):
            run = list(run)
            values = [value for _, metrics, _ in run for value in metrics.values()]
            self.blocks.append(Block([step for step, _, _ in run], [rows for _, _, rows in run], names,
                                     _stacked(values).reshape(len(run), len(names))))
        self.recent = []

    def read(self) -> tuple[list[tuple[int, Any, int]], list[float]]:
        """Everything kept, read in one transfer: (step, its metric names, rows) in step order, and all their
        values as one flat list in the same order. Then nothing is kept."""
        blocks, recent = self.blocks, self.recent
        self.blocks, self.recent, self.last_read = [], [], self._clock()
        parts = [block.values for block in blocks]
        for _, metrics, _ in recent:
            parts.extend(metrics.values())
        kept = [(step, block.names, rows) for block in blocks for step, rows in zip(block.steps, block.rows)]
        kept.extend(recent)  # a metrics dict gives its names in the order its values were read
        return kept, host_floats(parts)


def _stacked(values: list):
    """0-d arrays (and numbers) as one float64 1-d array on their device, without reading them."""
    xp = array_module(next((v for v in values if hasattr(v, "shape")), 0.0))  # numpy for plain numbers
    if not values:  # steps that returned no metrics
        return xp.zeros(0)
    flat = [(v if isinstance(v, xp.ndarray) else xp.asarray(v)).reshape(1) for v in values]
    return xp.concatenate(flat, dtype=xp.float64)  # one operation whatever the metrics' dtypes
