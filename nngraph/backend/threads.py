"""How many threads numpy's BLAS and nngraph's compiled kernels may use while nngraph trains.

Multi-threaded OpenBLAS pays off when its threads have cores to themselves and costs a great deal when they do
not: its idle threads spin, so with another busy process on a 2-core machine an MLP step was measured 4-30x
slower on 2 BLAS threads than on 1, while on the idle machine 2 threads were 1.3x faster. So by default nngraph
uses the cores that are free when training starts, at least one: its cores less those other processes keep busy,
as the kernel's counters show over a short look (`BUSY_LOOK` seconds). The 1-minute load average, used before
(and where the counters cannot be read), lags a minute: a run just ended still counted, so the second of two
runs of one spec in a row took fewer threads than the first, and OpenBLAS's products, whose sums are split
differently on 1 and 2 threads, gave it other bits.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

from nngraph.backend.accel import set_kernel_threads, splits_work


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


BUSY_LOOK = 0.05  # seconds: a busy core shows about 5 clock ticks of work in it (at 100 ticks a second)
CPU_TIMES = "/proc/stat"


def free_cores() -> int:
    cores_here = cores()
    busy = busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (OSError, AttributeError):  # not on every platform
            return cores_here
    return max(1, min(cores_here, round(cores_here - busy)))


def busy_cores(look: float = BUSY_LOOK) -> float | None:
    """How many of this process's cores other processes keep busy (this one sleeps meanwhile): the busy share of
    their time over `look` seconds, from the kernel's per-CPU counters; None where they cannot be read."""
    import time

    try:
        mine = os.sched_getaffinity(0)
    except AttributeError:
        return None
    before = _cpu_times(mine)
    if not before:
        return None
    time.sleep(look)
    after = _cpu_times(mine)
    busy = total = 0
    for cpu, (work, idle) in after.items():
        if cpu in before:
            busy += work - before[cpu][0]
            total += work + idle - sum(before[cpu])
    return len(before) * busy / total if total > 0 else None


def _cpu_times(cpus) -> dict[int, tuple[int, int]]:
    """{cpu: (busy ticks, idle ticks)} of the CPUs in `cpus`; {} where the counters cannot be read."""
    times = {}
    try:
        with open(CPU_TIMES) as f:
            for line in f:
                name, *fields = line.split()
                if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
                    continue
                if int(name[3:]) in cpus and len(fields) >= 5:
                    ticks = [int(t) for t in fields[:8]]  # user nice system idle iowait irq softirq steal
                    idle = ticks[3] + ticks[4]
                    times[int(name[3:])] = (sum(ticks) - idle, idle)
    except (OSError, ValueError):
        return {}
    return times


@contextmanager
def compute_threads(count: int | None):
    """Inside the block, numpy's BLAS (through threadpoolctl, where installed) and the compiled kernels
    that split their work (backend.accel) use `count` threads, at most one per core this process may
    run on: idle workers spin in both pools, so on 2 cores an LSTM step with 4 kernel threads ran at
    2,661 sequences/s against 3,414 with 1 and 5,524 with 2. None: leave both as they are."""
    if count is None:
        yield
        return
    count = max(1, min(count, cores()))
    previous = set_kernel_threads(count)
    try:
        with _blas_limit(count):
            yield
    finally:
        set_kernel_threads(previous)


@contextmanager
def blas_yields_to_kernel_threads(xp):
    """numpy's BLAS on one thread inside the block, where the compiled kernels split their work over
    several (`accel.splits_work(xp)`); else nothing. Both pools spin
    while idle, and two pools spinning on the same cores slow each other down: an LSTM training step on
    2 cores took 12.8 ms with 2 BLAS threads beside the kernels' 2, 8.0 ms with 1."""
    if splits_work(xp):
        with _blas_limit(1):
            yield
    else:
        yield


@contextmanager
def _blas_limit(count: int):
    """numpy's BLAS on at most `count` threads inside the block (nothing without threadpoolctl: an
    optional speed-up, never a requirement)."""
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=count, user_api="blas"):
        yield


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded thread pools, made once (that takes ~2 ms; entering a limit
    through it ~15 us, as blas_yields_to_kernel_threads does every training step), or None."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()
