"""Data-parallel processes on GPUs: which GPU a process computes on, and sums over the processes of arrays where
they live (the one door every collective on arrays goes through: the gradient all-reduce and batch
normalisation's per-channel sums, train/parallel.py). The backend does not import mpi4py: the caller hands in
its communicator (`Get_rank`, `Get_size`, `bcast`) and a host sum (MPI's Allreduce on a numpy array, in place).

- `use_local_device(local_rank, local_size)`: with the cupy backend, the process that is rank r of the ranks on
  its machine computes on GPU r % (the GPUs it sees), made current before any array is made. Whether GPUs are
  shared (more ranks on a machine than GPUs) is returned: NCCL refuses two ranks on one GPU.
- `DeviceSums(comm, host_sum, nccl=True)`: `sum_in_place(a)` sums `a` over the processes. A numpy array by
  `host_sum`. A cupy array by NCCL's all-reduce on the current stream, without leaving the device (one NCCL
  communicator per process, made at the first device sum: rank 0 makes its id, broadcast over `comm`); where
  cupy has no NCCL, or GPUs are shared (`nccl=False`), through host memory and `host_sum`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nngraph.backend.core import require_cupy
from nngraph.backend.gpu import loaded_cupy


def use_local_device(local_rank: int, local_size: int) -> tuple[int, bool]:
    """(the GPU this process now computes on, whether some GPU of this machine serves several ranks)."""
    cupy = require_cupy()
    count = cupy.cuda.runtime.getDeviceCount()
    device = local_rank % count
    cupy.cuda.Device(device).use()
    return device, local_size > count


class DeviceSums:
    """Sums over the processes of `comm`, in place, of numpy or cupy arrays (contiguous)."""

    def __init__(self, comm, host_sum: Callable, nccl: bool = True):
        self.comm, self.host_sum, self.use_nccl = comm, host_sum, nccl
        self.communicator = None  # NCCL's, made at the first device sum (every rank sums at the same points)

    def sum_in_place(self, a) -> None:
        cupy = loaded_cupy()
        if cupy is None or not isinstance(a, cupy.ndarray):
            self.host_sum(a)
            return
        nccl = self._nccl() if self.use_nccl else None
        if nccl is None:
            host = cupy.asnumpy(a)
            self.host_sum(host)
            a[...] = cupy.asarray(host)
            return
        types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
        self._communicator(nccl).allReduce(a.data.ptr, a.data.ptr, a.size, types[str(a.dtype)], nccl.NCCL_SUM,
                                           cupy.cuda.get_current_stream().ptr)

    def _nccl(self):
        """cupy's NCCL module, or None where cupy was built without it."""
        try:
            nccl = importlib.import_module("cupy.cuda.nccl")
        except ImportError:
            return None
        return nccl if getattr(nccl, "available", True) else None

    def _communicator(self, nccl):
        if self.communicator is None:
            rank, size = self.comm.Get_rank(), self.comm.Get_size()
            unique_id = self.comm.bcast(nccl.get_unique_id() if rank == 0 else None, root=0)
            self.communicator = nccl.NcclCommunicator(size, unique_id, rank)
        return self.communicator
