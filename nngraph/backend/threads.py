"""How many threads the BLAS under numpy may use while nngraph trains.

Multi-threaded OpenBLAS pays off on large matrices and costs a great deal on small ones, most of all when another
process holds a core (its idle threads spin): on 2 cores an MLP step was measured 4-30x slower with 2 BLAS threads
than with 1 under load. So small models train on one thread unless told otherwise.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

# below this much work per training step (multiply-adds x2, forward and backward), one thread wins
SMALL_STEP_FLOPS = 1e9


def auto_threads(step_flops: float) -> int:
    return 1 if step_flops < SMALL_STEP_FLOPS else (os.cpu_count() or 1)


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
