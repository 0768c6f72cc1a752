"""Atomic writes leave the old file or the new one, and give new files the mode open() would."""

import os
import stat

import pytest

from nngraph.atomic import atomic_write, atomic_write_text
from nngraph.errors import OutputError


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask):
    before = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "out.txt", "hello")
    finally:
        os.umask(before)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_a_fifo_is_refused_as_an_output_and_left_as_it_is(tmp_path):
    # the rename at the end of an atomic write put a regular file in its place (so, as root, `-o /dev/null`
    # replaced /dev/null; a FIFO stands in for the device here, so that a regression damages nothing)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OutputError, match="pipe: it is a FIFO, not a file"):
        atomic_write_text(tmp_path / "pipe", "x")
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)
