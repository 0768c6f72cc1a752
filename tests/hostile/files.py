"""Hostile files for the tests: headers that lie, archives that inflate, and a way to measure a peak."""

import tracemalloc
import zipfile

import numpy as np

TERA_SHAPE = (10**12,)  # float32: 3.6 TiB


def lying_npy(path, shape=TERA_SHAPE, dtype="<f4", data=b"\0" * 64):
    """An .npy file whose header describes `shape` but which holds only `data`."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": dtype, "fortran_order": False, "shape": shape})
        f.write(data)
    return path


def zip_bomb(path, megabytes: int, name="x", extra: dict | None = None):
    """An .npz whose member `name` is a float32 array of `megabytes` MiB of zeros, deflated (~1000:1)."""
    count = megabytes << 18
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, array in (extra or {}).items():
            with zf.open(key + ".npy", "w") as out:
                np.lib.format.write_array(out, array)
        with zf.open(name + ".npy", "w", force_zip64=True) as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
            zeros = bytes(1 << 20)
            for _ in range(megabytes):
                out.write(zeros)
    return path


class Peak:
    """The most memory Python and numpy allocated inside the block (tracemalloc)."""

    def __enter__(self):
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        _, self.bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()


def in_time(function, seconds: float = 5):
    """`function()`, in a thread: a read that blocks (a FIFO) fails the test instead of hanging the suite."""
    import threading

    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as e:  # noqa: BLE001 (handed back to the test)
            outcome["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the read blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
