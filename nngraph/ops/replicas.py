"""Replicas of one model, each stepping its share of a global batch (data-parallel training): what an op whose
result depends on the whole batch (batch normalisation's moments) needs to see the global batch.

The training step that runs on a share sets `across_replicas(allreduce_sum)` around itself: `allreduce_sum(a)`
returns `a` summed over every replica (the same on each), and every replica calls it at the same points in the
same order (it is a collective). Train/parallel.py supplies it under MPI; ops do not know where the replicas
are. Outside such a step `replica_sum()` is None and the ops reduce their own batch alone, with no extra work.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable

_ALLREDUCE_SUM: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("allreduce_sum", default=None)


@contextlib.contextmanager
def across_replicas(allreduce_sum: Callable):
    """Within: ops that reduce over the batch sum their per-channel figures with `allreduce_sum`."""
    token = _ALLREDUCE_SUM.set(allreduce_sum)
    try:
        yield
    finally:
        _ALLREDUCE_SUM.reset(token)


def replica_sum() -> Callable | None:
    """The step's `allreduce_sum`, or None when this process's batch is the whole batch."""
    return _ALLREDUCE_SUM.get()
