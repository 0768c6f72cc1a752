"""Keep freed memory in the process, so every training step does not page it in again.

glibc returns large freed blocks (above its mmap threshold, 128 KiB at start) to the operating system; the next
step allocates them again and touches fresh pages. For a training loop that allocates the same arrays every step,
that page faulting was measured at about half of a LeNet step. Raising the mmap and trim thresholds keeps the
blocks in the heap for reuse. It is process-wide, done once, and only where glibc is the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """True when the thresholds were raised (Linux with glibc), False where there is nothing to tune."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
