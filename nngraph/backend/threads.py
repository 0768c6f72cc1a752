"""How many threads the BLAS under numpy may use while nngraph trains.

Multi-threaded OpenBLAS pays off when its threads have cores to themselves and costs a great deal when they do
not: its idle threads spin, so with another busy process on a 2-core machine an MLP step was measured 4-30x
slower on 2 BLAS threads than on 1, while on the idle machine 2 threads were 1.3x faster. So by default nngraph
uses the cores that are free when training starts (cores minus the 1-minute load average), at least one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def free_cores() -> int:
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return cores
    return max(1, min(cores, round(cores - load)))


@contextmanager
def blas_threads(count: int | None):
    """Limit numpy's BLAS to `count` threads inside the block (no-op without threadpoolctl or for None)."""
    if count is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, never a requirement
        yield
        return
    with threadpool_limits(limits=count, user_api="blas"):
        yield
