"""backend/collective.py without a GPU: the device each MPI rank computes on and the door its sums go through,
with a stand-in for cupy and its NCCL module (what a GPU run calls; nothing here has run on a device)."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from nngraph.backend import gpu
from nngraph.backend.collective import DeviceSums, use_local_device


class DeviceArray:
    """A cupy array as DeviceSums sees it: its memory's address, size, dtype, and assignment."""

    def __init__(self, host):
        self.host = np.ascontiguousarray(host)
        self.data = SimpleNamespace(ptr=self.host.ctypes.data)
        self.size, self.dtype = self.host.size, self.host.dtype

    def __setitem__(self, key, value):
        self.host[key] = value.host


class Nccl(types.ModuleType):
    """cupy.cuda.nccl: ids made, communicators made, all-reduces called."""

    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = 7, 8, 0
    available = True

    def __init__(self):
        super().__init__("cupy.cuda.nccl")
        self.ids, self.made, self.calls = 0, [], []
        nccl = self

        class NcclCommunicator:
            def __init__(self, size, unique_id, rank):
                nccl.made.append((size, unique_id, rank))

            def allReduce(self, send, receive, count, datatype, op, stream):  # noqa: N802 - cupy's name
                nccl.calls.append((send, receive, count, datatype, op, stream))

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self):
        self.ids += 1
        return ("id", self.ids)


class Comm:
    """Rank `rank` of 2; rank 0's broadcast value is ("id", 1)."""

    def __init__(self, rank):
        self.rank = rank

    def Get_rank(self):  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self):  # noqa: N802
        return 2

    def bcast(self, value, root=0):
        return value if self.rank == root else ("id", 1)


@pytest.fixture
def cupy(monkeypatch):
    """A stand-in cupy, loaded as backend/gpu.py loads the real one, with 2 GPUs; its NCCL in sys.modules."""
    used = []
    cuda = SimpleNamespace(runtime=SimpleNamespace(getDeviceCount=lambda: 2),
                           get_current_stream=lambda: SimpleNamespace(ptr=77),
                           Device=lambda n: SimpleNamespace(use=lambda: used.append(n)))
    fake = SimpleNamespace(ndarray=DeviceArray, asnumpy=lambda a: a.host.copy(),
                           asarray=lambda h: DeviceArray(np.asarray(h)), cuda=cuda)
    fake.used, fake.nccl = used, Nccl()
    monkeypatch.setattr(gpu, "_tried", True)
    monkeypatch.setattr(gpu, "_cupy", fake)
    monkeypatch.setattr(gpu, "_failure", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", fake.nccl)
    return fake


def test_each_rank_of_a_machine_computes_on_the_gpu_of_its_local_rank(cupy):
    assert [use_local_device(rank, 2) for rank in range(2)] == [(0, False), (1, False)]
    assert [use_local_device(rank, 3)[0] for rank in range(3)] == [0, 1, 0]  # 3 ranks, 2 GPUs: shared
    assert use_local_device(2, 3)[1] is True
    assert cupy.used == [0, 1, 0, 1, 0, 0]


@pytest.mark.parametrize("rank", [0, 1])
def test_device_arrays_are_summed_in_place_by_one_nccl_communicator_whose_id_rank_0_made(cupy, rank):
    host_sums = []
    sums = DeviceSums(Comm(rank), host_sums.append)
    arrays = [DeviceArray(np.ones(5, np.float32)), DeviceArray(np.ones(3, np.float64))]
    for a in arrays + arrays[:1]:
        sums.sum_in_place(a)
    assert cupy.nccl.ids == (1 if rank == 0 else 0)
    assert cupy.nccl.made == [(2, ("id", 1), rank)]  # once, at the first sum
    a, b = (x.data.ptr for x in arrays)
    assert cupy.nccl.calls == [(a, a, 5, 7, 0, 77), (b, b, 3, 8, 0, 77), (a, a, 5, 7, 0, 77)]
    assert host_sums == []


def test_host_arrays_go_to_the_host_sum(cupy):
    host_sums = []
    a = np.ones(4, np.float32)
    DeviceSums(Comm(0), host_sums.append).sum_in_place(a)
    assert host_sums == [a] and cupy.nccl.calls == []


@pytest.mark.parametrize("why", ["shared GPUs", "no NCCL"])
def test_device_arrays_go_through_host_memory_without_nccl(cupy, monkeypatch, why):
    """Ranks sharing a GPU (NCCL refuses them), or a cupy built without NCCL: the host sum on a copy, copied
    back to the device array."""
    if why == "no NCCL":
        monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", None)  # the import fails
    a = DeviceArray(np.arange(4, dtype=np.float32))
    DeviceSums(Comm(1), lambda host: host.__imul__(2), nccl=why != "shared GPUs").sum_in_place(a)
    np.testing.assert_array_equal(a.host, [0, 2, 4, 6])
    assert cupy.nccl.made == [] and cupy.nccl.calls == []
