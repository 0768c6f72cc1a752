"""Timing two implementations of the same work on a shared, noisy machine.

The timed runs alternate (ours, theirs, ours, ...), so that a change in the machine's load or speed
falls on both sides alike; each side's rate is the median of its runs, and the ratio is the median of
the paired ratios (not the ratio of the medians). Before each run the process sleeps `SETTLE` seconds:
both OpenBLAS (under numpy) and OpenMP (under torch) keep their idle worker threads spinning for a while
after a parallel call, and a side timed straight after the other would share the cores with the other's
spinning threads (measured: torch's 2-thread MLP at ~52k samples/s right after nngraph, ~80k rested).
"""

from __future__ import annotations

import statistics
import time


SETTLE = 0.3  # seconds: longer than OpenBLAS's and libgomp's spin before their threads sleep


def no_wait() -> None:
    """The `sync` of work that is done when the call returns (CPU)."""


def timed(step, steps: int, sync=no_wait) -> float:
    """Calls of `step` per second over one run of `steps` calls, after SETTLE seconds of rest. `sync` waits for
    queued device work (a GPU step returns before its kernels finish), before the clock starts and stops."""
    sync()
    time.sleep(SETTLE)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps / (time.perf_counter() - start)


def paired_rates(ours, theirs, steps: int, repeats: int, warmup: int = 3,
                 syncs=(no_wait, no_wait)) -> tuple[float, float, float]:
    """(our median rate, their median rate, median of the paired ratios), in calls per second."""
    for step in (ours, theirs):
        for _ in range(warmup):
            step()
    pairs = [(timed(ours, steps, syncs[0]), timed(theirs, steps, syncs[1])) for _ in range(repeats)]
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(a / b for a, b in pairs))
