"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

A crash or an error mid-write leaves the previous file whole (or no file), never half of one.

`prepare_output` and `prepare_folder` are the one way every command checks where it is about to write (a
folder where a file should be, a file where a folder should be, a folder it may not write into): each such
problem is an `OutputError` naming the path, exit code 1, never an internal error. `atomic_write` calls it.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from nngraph.errors import OutputError


def prepare_output(path: str | os.PathLike) -> Path:
    """`path` ready to be written as a file: not a folder, not a device, FIFO or socket (the rename that ends
    an atomic write would put a file in its place: run as root, `-o /dev/null` replaced /dev/null), its folder
    created if missing and writable."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder", None, "give the name of a file to write")
    if path.exists() and not path.is_file():
        raise OutputError(f"cannot write {path}: it is {special_kind(path)}, not a file", None,
                          "give the name of a regular file to write")
    prepare_folder(path.parent)
    return path


def special_kind(path: Path) -> str:
    mode = path.stat().st_mode
    kinds = ((stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def refuse_overwriting(output: str | os.PathLike, inputs: dict, hint: str,
                       why: str = "the output goes to a new file") -> None:
    """An output never goes over a file the command reads (`inputs`: what each is -> its path, or None), however
    it is named (a relative path, a link, another hard link); `why` follows the refusal's naming of it."""
    output = Path(output)
    for what, path in inputs.items():
        try:
            clash = path is not None and output.exists() and output.samefile(path)
        except OSError:  # the input is not a file on disk (a spec given as text)
            clash = False
        if clash:
            raise OutputError(f"{output} is the {what}; {why}", None, hint)


def prepare_folder(folder: str | os.PathLike) -> Path:
    """`folder` created if missing (with its parents), and writable."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = _file_in_the_way(folder)
        why = f"{blocker} is a file" if blocker is not None else e.strerror
        raise OutputError(f"cannot create the folder {folder}: {why}", None,
                          "choose a path whose folders can be created") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into the folder {folder}: permission denied", None,
                          "choose a folder you may write into") from None
    return folder


def _file_in_the_way(folder: Path) -> Path | None:
    """The first part of `folder`'s path that exists as something other than a folder."""
    for part in (*reversed(folder.parents), folder):
        if part.exists() and not part.is_dir():
            return part
    return None


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call `write(f)` on a temporary file beside `path`, then move it into place."""
    path = prepare_output(path)
    # the name first, the file made inside the `try`: a Ctrl-C between mkstemp's creating the file and the `try`
    # left the temporary file behind (tests/hostile/test_round4.py's second Ctrl-C, once in a loaded full run)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for_new_files())  # 0600 while written, then what open() would have given
        os.replace(tmp, path)
    except BaseException as e:
        if not isinstance(e, FileExistsError):  # (a name drawn twice in 2^48 is another write's file)
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno is not None:  # a full disk, a folder swapped in: not a bug
            raise cannot_write(path, e) from None
        raise
    _fsync_folder(path.parent)


def _mode_for_new_files() -> int:
    """0666 less the process's umask: the mode `open(path, "w")` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def cannot_write(path: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror}", None,
                       "check that the folder exists, is writable and has space")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the OS allows opening a folder (not Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
