"""Host data to the device ahead of use: free device memory, and batches uploaded one step early (issue 13).

Training data that fits a budget is uploaded once and stays on the device (train/feed.py). Larger data streams:
`Uploader.start` gathers the next batch's rows on the host and starts their copy while the current step
computes, and `Upload.arrays` hands them over when the step that needs them begins. On cupy the rows are
gathered into page-locked (pinned) host buffers, which the GPU copies from without a staging copy and
asynchronously, and the copy runs on a side stream; the compute stream waits for the copy's event, not the
host. On numpy there is nothing to overlap: the rows are gathered and marked through `to_device` (counted).

Every copy goes through the counted door (`core.to_device` on numpy, `count_write` here on cupy), so the
tests see how many copies an epoch makes on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy

from nngraph.backend.core import count_write, to_device
from nngraph.backend.gpu import loaded_cupy

SLOTS = 2  # pinned buffers per array: the batch being copied and the one the step computes on


def free_device_bytes(xp) -> int | None:
    """Bytes the device can still give: free memory plus what cupy's pool holds unused; None on numpy (the data
    is host memory already: no budget applies)."""
    if xp is numpy:
        return None
    free, _ = xp.cuda.runtime.memGetInfo()  # not run on a device yet
    pool = xp.get_default_memory_pool()
    return int(free + pool.free_bytes())


class Upload:
    """One batch's arrays on their way to the device."""

    def __init__(self, arrays: list, event=None):
        self._arrays, self._event = arrays, event

    def arrays(self) -> list:
        """The device arrays, once the compute stream may use them (it waits for the copy; the host does not)."""
        if self._event is not None:
            loaded_cupy().cuda.get_current_stream().wait_event(self._event)  # not run on a device yet
            self._event = None
        return self._arrays


class Uploader:
    """Copies host rows to the device one batch ahead: `start(arrays, index)` begins the copy of `arrays`' rows
    at `index` (a host index array) and returns its `Upload`."""

    def __init__(self, xp):
        self.xp = xp
        self._slots: dict[int, list] = {}  # per array position: [pinned buffer, event of its last copy] * SLOTS
        self._turn = 0
        self._stream = None if xp is numpy else xp.cuda.Stream(non_blocking=True)  # not run on a device yet

    def start(self, arrays: list, index: numpy.ndarray) -> Upload:
        if self.xp is numpy:
            return Upload([None if a is None else to_device(a[index], numpy) for a in arrays])
        return self._start_on_gpu(arrays, index)

    def _start_on_gpu(self, arrays: list, index: numpy.ndarray) -> Upload:  # not run on a device yet
        cupy, turn = self.xp, self._turn
        self._turn = (turn + 1) % SLOTS
        main = cupy.cuda.get_current_stream()
        # the device memory of these arrays may have been freed by steps still queued on the compute stream:
        # the copy waits for them (not for the host), then overlaps the next step
        self._stream.wait_event(main.record())
        out = []
        for position, host in enumerate(arrays):
            if host is None:
                out.append(None)
                continue
            pinned = self._pinned(position, turn, (len(index),) + host.shape[1:], host.dtype)
            numpy.take(host, index, axis=0, out=pinned)
            device = cupy.empty(pinned.shape, pinned.dtype)
            device.set(pinned, stream=self._stream)
            count_write()
            out.append(device)
        event = self._stream.record()
        for position in range(len(arrays)):
            if position in self._slots:
                self._slots[position][turn][1] = event
        return Upload(out, event)

    def _pinned(self, position: int, turn: int, shape: tuple, dtype) -> Any:  # not run on a device yet
        """This slot's pinned buffer viewed as `shape`, after its previous copy has finished (the host waits
        for that copy only, two batches back)."""
        slots = self._slots.setdefault(position, [[None, None] for _ in range(SLOTS)])
        buffer, event = slots[turn]
        if event is not None:
            event.synchronize()
        size = int(numpy.prod(shape)) * numpy.dtype(dtype).itemsize
        if buffer is None or buffer.nbytes < size:
            memory = self.xp.cuda.alloc_pinned_memory(size)
            buffer = numpy.frombuffer(memory, numpy.uint8, size)
            slots[turn][0] = buffer
        return buffer[:size].view(dtype).reshape(shape)
