"""safe_files: what a user's file claims is checked before it is read; only regular files are opened."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from nngraph import safe_files
from nngraph.errors import DataError
from nngraph.safe_files import (
    NpzArchive,
    about_bytes,
    available_memory,
    describe_bytes,
    load_npy,
    load_numpy,
    open_regular,
    read_bytes,
)
from tests.hostile.files import TERA_SHAPE, Peak, in_time, lying_npy, zip_bomb


def refused(function, match: str, within: int = 8 << 20):
    with Peak() as peak, pytest.raises(DataError, match=match) as info:
        function()
    assert peak.bytes < within, describe_bytes(peak.bytes)
    return info.value


def test_an_npy_header_claiming_terabytes_is_refused_before_any_data_is_read(tmp_path):
    path = lying_npy(tmp_path / "x.npy")
    err = refused(lambda: load_npy(path), "truncated or corrupt: its header describes 3.6 TiB")
    assert str(path) in err.message and "holds 64 bytes" in err.message


def test_an_npz_member_header_claiming_terabytes_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    lying = lying_npy(tmp_path / "x.npy")
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(lying, "x.npy")
    with NpzArchive(path) as archive:
        assert archive.header("x").shape == TERA_SHAPE  # the header alone is read
        refused(lambda: archive.read("x"), "array 'x' of .*x.npz is truncated or corrupt")


def test_a_zip_bomb_is_refused_from_its_declared_size_before_it_is_inflated(tmp_path):
    path = zip_bomb(tmp_path / "bomb.npz", 64, extra={"small": np.arange(3)})
    assert path.stat().st_size < 1 << 20
    with NpzArchive(path, max_bytes=1 << 20) as archive:
        assert archive.read("small").tolist() == [0, 1, 2]
        refused(lambda: archive.read("x"), "holds an array of 64.0 MiB .*; 1.0 MiB of memory is available")


def test_the_budget_is_spent_by_every_read(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros(1000, np.float32), b=np.zeros(1000, np.float32))
    with NpzArchive(path, max_bytes=6000) as archive:
        assert archive.read("a").shape == (1000,)
        refused(lambda: archive.read("b"), r"3.9 KiB \(shape \[1000\]\); 2.0 KiB of memory is available")


def test_arrays_come_back_exactly(tmp_path):
    arrays = {"c": np.arange(12, dtype=np.float64).reshape(3, 4), "f": np.asfortranarray(np.eye(3, 5)),
              "i": np.arange(5, dtype=">i2"), "b": np.array([True, False]), "s": np.array(3.5), "e": np.zeros((0, 4))}
    np.savez_compressed(tmp_path / "all.npz", **arrays)
    with load_numpy(tmp_path / "all.npz") as archive:
        assert sorted(archive.names) == sorted(arrays)
        for name, array in arrays.items():
            got = archive.read(name)
            assert got.dtype == array.dtype and got.shape == array.shape and np.array_equal(got, array)
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
        assert np.array_equal(load_numpy(tmp_path / f"{name}.npy"), array)


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_object_arrays_are_refused_from_their_header(tmp_path, kind):
    objects = np.array([{"a": 1}, None], dtype=object)
    if kind == "npy":
        np.save(tmp_path / "o.npy", objects, allow_pickle=True)
        err = refused(lambda: load_npy(tmp_path / "o.npy"), "holds Python objects")
    else:
        np.savez(tmp_path / "o.npz", x=objects)
        with NpzArchive(tmp_path / "o.npz") as archive:
            err = refused(lambda: archive.read("x"), "holds Python objects")
    assert "never unpickles" in err.hint


@pytest.mark.parametrize("content", [b"hello", b"PK\x03\x04garbage", b"\x93NUMPY\x01\x00\xff\xffjunk"])
def test_junk_is_a_clear_error(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="junk.npz"):
        load_numpy(path)


# ---- what is not a regular file --------------------------------------------------------------------


READERS = [lambda p: open_regular(p), lambda p: read_bytes(p, 100), lambda p: load_npy(p),
           lambda p: load_numpy(p), lambda p: NpzArchive(p)]


@pytest.mark.parametrize("read", READERS)
def test_a_fifo_is_refused_by_every_reader_without_blocking(tmp_path, read):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="pipe.npy is a FIFO"):
        in_time(lambda: read(fifo))


@pytest.mark.parametrize("read", READERS)
def test_a_device_behind_a_symlink_is_refused_by_every_reader(tmp_path, read):
    link = tmp_path / "data.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="is a device; only regular files are read"):
        in_time(lambda: read(link))


def test_a_directory_and_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_bytes(tmp_path, 10)
    with pytest.raises(DataError, match="no such file"):
        read_bytes(tmp_path / "nope", 10)


def test_a_text_read_stops_at_its_cap(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"x" * 101)
    assert read_bytes(path, 101) == b"x" * 101
    with pytest.raises(DataError, match="101 bytes; files are limited to 100") as info:
        read_bytes(path, 100, error=lambda m, h: DataError(m, None, h or "custom"))
    assert info.value.hint == "custom"


def test_the_errors_are_the_callers():
    class Mine(DataError):
        pass

    with pytest.raises(Mine, match="no such file"):
        read_bytes("/nonexistent/x", 10, error=lambda m, h: Mine(m, None, h))


# ---- memory -----------------------------------------------------------------------------------------


def test_available_memory_respects_an_address_space_limit():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            "from nngraph.safe_files import available_memory; print(available_memory())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 0 < int(done.stdout) < 1 << 30
    assert available_memory() > 0


@pytest.mark.parametrize("count, text", [(0, "0 bytes"), (1023, "1,023 bytes"), (1536, "1.5 KiB"),
                                         (4 * 10**12, "3.6 TiB"), (2**60 - 1, "1,024.0 PiB"),
                                         (10**30, "about 10^30 bytes"), (7**5000, "about 10^4225 bytes")])
def test_sizes_read_as_people_write_them(count, text):
    assert describe_bytes(count) == text


def test_an_estimate_past_an_exbibyte_says_about_once():
    # `needs about about 10^25 bytes` (batch=10**23)
    assert about_bytes(10**25) == "about 10^25 bytes" and about_bytes(3 << 30) == "about 3.0 GiB"


@pytest.mark.parametrize("members", [12, 70_000])  # 70,000: past 65,535, the count is in the zip64 end record
def test_an_archive_of_too_many_members_is_refused_before_they_are_listed(tmp_path, monkeypatch, members):
    # zipfile makes an object per member first: 300,000 empty ones cost 3 s and 260 MB before any check
    monkeypatch.setattr(safe_files, "MAX_NPZ_MEMBERS", members - 1)
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(members):
            zf.writestr(f"m{i}.npy", b"")
    refused(lambda: NpzArchive(path), f"declares {members:,} members; an .npz nngraph reads holds at most "
                                      f"{members - 1:,}", within=1 << 20)
    monkeypatch.setattr(safe_files, "MAX_NPZ_MEMBERS", members)
    with NpzArchive(path) as archive:
        assert len(archive.names) == members
