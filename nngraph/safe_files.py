"""Reading the files a user names without trusting them: one door for every reader.

Spec sources, data files (.npy, .npz, csv, text, IDX), `predict --input`, `sample --fill` masks and
checkpoints all come through here, so each rule holds everywhere:

- only regular files are read: a FIFO would block forever, `/dev/zero` never ends, a directory is not
  data. The file is opened without blocking and checked again through the open descriptor;
- sizes are checked before reading: a text file against its cap, an array against what its header
  claims and what the file really holds, an archive member against what the archive declares;
- an archive is read member by member, headers first, so a caller can look at the small parts (a
  checkpoint's metadata, its shapes) before any large part is inflated;
- nothing is unpickled: an array of Python objects is refused from its header.

Every refusal is an error the caller chooses (`error(message, hint)`), so a spec gets a SourceError at
its first line and a data set a DataError at its `data` setting, each naming the file.
"""

from __future__ import annotations

import math
import os
import stat
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

from nngraph.errors import DataError, NngraphError, lookalikes

ErrorFactory = Callable[[str, "str | None"], NngraphError]
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
MAX_NPY_HEADER = 10_000  # numpy's own default limit on the text of an array header
# zipfile holds a Python object per member, read from the central directory before anything else (~900 bytes
# and ~10 us each, measured: 300,000 empty members cost 3 s and 260 MB); a checkpoint has a few per parameter
MAX_NPZ_MEMBERS = 100_000
# what a broken archive or array file makes zipfile, zlib and numpy raise; numpy reads a header that is no
# Python literal again as a Python 2 one, through `tokenize`, whose TokenError (unbalanced brackets) is no
# ValueError
_ARCHIVE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
                   NotImplementedError, RuntimeError, KeyError, SyntaxError, tokenize.TokenError)


def data_error(message: str, hint: str | None = None) -> NngraphError:
    return DataError(message, None, hint)


def describe_bytes(count: int) -> str:
    """`3.6 TiB`, `512 bytes`: a size as a person reads it (what a hostile header claims can have hundreds
    of digits: past an exbibyte, only its order of magnitude)."""
    if count < 1024:
        return f"{count:,} bytes"
    if count >= 1 << 60:
        return f"about 10^{int(math.log10(count))} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        count /= 1024
        if round(count, 1) < 1024 or unit == "PiB":
            return f"{count:,.1f} {unit}"
    raise AssertionError("unreachable")


def about_bytes(count: int) -> str:
    """`about 3.6 TiB`, and past an exbibyte `about 10^25 bytes` (not `about about ...`)."""
    described = describe_bytes(count)
    return described if described.startswith("about") else f"about {described}"


# ---- memory -------------------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes this process may still allocate: the least of the memory the system can give (MemAvailable,
    which counts reclaimable cache), the room left under a container's memory limit, and the room left
    under the address-space limit (`ulimit -v`)."""
    limits = [_system_available(), _cgroup_room(), _address_space_room()]
    return min(x for x in limits if x is not None)


def _system_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _cgroup_room() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text(encoding="ascii").strip()
            usage = int(Path(usage_file).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max", or v1's huge "no limit" figure
            return max(0, int(limit) - usage)
    return None


def _address_space_room() -> int | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, soft - used)
    except (ImportError, OSError, ValueError, IndexError):
        return None


# ---- opening -------------------------------------------------------------------------------------


def open_regular(path: str | os.PathLike, error: ErrorFactory = data_error) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file (after symlinks); else `error`."""
    _check_regular(path, _stat(path, os.stat, error), error)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}", None) from None
    try:
        _check_regular(path, os.fstat(fd), error)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def refuse_if_special(path: str | os.PathLike, error: ErrorFactory = data_error) -> None:
    """Refuse `path` if it exists and is neither a regular file nor a directory (a FIFO, a device, a
    socket), without opening it: a caller may then report other problems (a wrong suffix) knowing that
    showing the file's first line will not block or read forever."""
    try:
        info = os.stat(path)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        _check_regular(path, info, error)


def _stat(path, how, error: ErrorFactory) -> os.stat_result:
    try:
        return how(path)
    except FileNotFoundError:
        raise error(f"no such file: {path}", lookalikes(os.path.basename(path)) or "check the path") from None
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}", None) from None


def _check_regular(path, info: os.stat_result, error: ErrorFactory) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is a directory, not a file", None)
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else \
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else \
            "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise error(f"{path} is {kind}; only regular files are read", "copy the content into a file")


def file_size(f: BinaryIO) -> int:
    return os.fstat(f.fileno()).st_size


def read_bytes(path: str | os.PathLike, max_bytes: int, what: str = "files", error: ErrorFactory = data_error,
               hint: str | None = None) -> bytes:
    """The whole content of a regular file of at most `max_bytes`; a larger one is refused unread.
    `what` (plural) and `hint` word the refusal: "specs are limited to 1,048,576 bytes"."""
    with open_regular(path, error) as f:
        _check_cap(path, file_size(f), max_bytes, what, error, hint)
        try:
            raw = f.read(max_bytes + 1)  # a file growing while read still stops at the cap
        except OSError as e:
            raise error(f"cannot read {path}: {e.strerror}", None) from None
    _check_cap(path, len(raw), max_bytes, what, error, hint)
    return raw


def _check_cap(path, size: int, max_bytes: int, what: str, error: ErrorFactory, hint: str | None) -> None:
    if size > max_bytes:
        raise error(f"{path} is {size:,} bytes; {what} are limited to {max_bytes:,}", hint)


# ---- NumPy arrays ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header says: shape, dtype, order, and where the data starts."""

    shape: tuple[int, ...]
    dtype: object  # numpy.dtype
    fortran_order: bool
    data_offset: int

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * self.dtype.itemsize


def read_array_header(stream: BinaryIO, where: str, error: ErrorFactory = data_error) -> ArrayHeader:
    """The header of the .npy stream at its start, checked: no object arrays, a sane shape."""
    import numpy as np

    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        with warnings.catch_warnings():  # a header read as Python 2's: numpy's warning named nngraph's source line
            warnings.simplefilter("ignore", UserWarning)
            shape, fortran_order, dtype = reader(_header_text(stream, version), max_header_size=MAX_NPY_HEADER)
    except _ARCHIVE_ERRORS as e:
        raise error(f"cannot read {where} as a .npy array ({_reason(e)})", None) from None
    if dtype.hasobject:
        raise error(f"{where} holds Python objects (an object array)",
                    "save plain numeric arrays; nngraph never unpickles files")
    # numpy lets a bool through as a length (`'shape': (True,)`), then its reshape raised TypeError (exit 70)
    if dtype.itemsize == 0 or any(type(d) is not int or not 0 <= d <= 2**62 for d in shape):
        raise error(f"{where} is corrupt: an array of shape {list(shape)} and dtype {dtype}", None)
    return ArrayHeader(tuple(shape), dtype, fortran_order, stream.tell())


def _header_text(stream: BinaryIO, version: tuple[int, int]) -> BinaryIO:
    """The header's length field and text, read from `stream` once the length is known to be at most
    MAX_NPY_HEADER: numpy reads as many bytes as the field says before it judges them (a version 2.0 header of
    0xFFFFFFF0 bytes was a 4 GiB read, a MemoryError named as training running out of memory)."""
    import io
    import struct

    size_format = "<H" if version == (1, 0) else "<I"
    field = stream.read(struct.calcsize(size_format))
    if len(field) < struct.calcsize(size_format):
        raise EOFError("the file ends inside the array header")
    length = struct.unpack(size_format, field)[0]
    if length > MAX_NPY_HEADER:
        raise ValueError(f"its header says it is {length:,} bytes long; at most {MAX_NPY_HEADER:,} are read")
    return io.BytesIO(field + stream.read(length))


def _reason(e: Exception) -> str:
    if isinstance(e, tokenize.TokenError):  # its text is a tuple: ('EOF in multi-line statement', (2, 0))
        return f"its header is not a Python literal: {e.args[0]}"
    return str(e) or type(e).__name__


def _check_array_size(where: str, header: ArrayHeader, holds: int, max_bytes: int,
                      error: ErrorFactory) -> None:
    """The header's claim against the bytes really there, then against the memory allowed."""
    need = header.nbytes
    if need > holds:
        raise error(f"{where} is truncated or corrupt: its header describes {describe_bytes(need)} of data "
                    f"(shape {list(header.shape)}, {header.dtype}) but it holds {describe_bytes(holds)}", None)
    if need > max_bytes:
        raise error(f"{where} holds an array of {describe_bytes(need)} (shape {list(header.shape)}); "
                    f"{describe_bytes(max_bytes)} of memory is available", None)


def _read_array(stream: BinaryIO, header: ArrayHeader, where: str, error: ErrorFactory):
    """The data after a checked header: numpy reads at most what the header (now bounded) says."""
    import numpy as np

    stream.seek(0)
    try:
        with warnings.catch_warnings():  # its header read again: the Python 2 header's warning again
            warnings.simplefilter("ignore", UserWarning)
            return np.lib.format.read_array(stream, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
    except _ARCHIVE_ERRORS as e:
        raise error(f"{where} is corrupt ({_reason(e)})", None) from None


def load_npy(path: str | os.PathLike, max_bytes: int | None = None, error: ErrorFactory = data_error):
    """One array from a regular .npy file, refused if its header claims more than the file holds or than
    `max_bytes` (default: the memory available)."""
    with open_regular(path, error) as f:
        return _load_npy_stream(f, str(path), file_size(f), max_bytes, error)


def _load_npy_stream(f: BinaryIO, where: str, size: int, max_bytes: int | None, error: ErrorFactory):
    header = read_array_header(f, where, error)
    limit = available_memory() if max_bytes is None else max_bytes
    _check_array_size(where, header, size - header.data_offset, limit, error)
    return _read_array(f, header, where, error)


def is_npz(path: str | os.PathLike, error: ErrorFactory = data_error) -> bool:
    """Whether a regular file is a zip archive (.npz) rather than one .npy array, by its first bytes."""
    with open_regular(path, error) as f:
        head = f.read(len(NPY_MAGIC))
    if head.startswith(NPY_MAGIC):
        return False
    if head[:4] in ZIP_MAGICS:
        return True
    raise error(f"{path} is not a NumPy file (neither .npy nor .npz)", "save arrays with numpy.save or savez")


def _check_member_count(f: BinaryIO, path: str, error: ErrorFactory) -> None:
    """The count of members the archive's end record declares, read before zipfile lists them all."""
    end = zipfile._EndRecData(f)  # the end of central directory record (zip64's where there is one)
    count = end[zipfile._ECD_ENTRIES_TOTAL] if end else 0
    f.seek(0)
    if count > MAX_NPZ_MEMBERS:
        raise error(f"{path} declares {count:,} members; an .npz nngraph reads holds at most {MAX_NPZ_MEMBERS:,}",
                    "keep the arrays in a few members")


class NpzArchive:
    """The members of an .npz archive, read one at a time and only after their sizes are checked.

    `header(name)` inflates only the first bytes of a member; `read(name)` checks the header against the
    size the archive declares for the member and against the reading budget, then reads it. The budget
    (default: the memory available) is spent by every read, so many modest members cannot add up to more.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int | None = None, error: ErrorFactory = data_error):
        self.path, self.error = str(path), error
        self.budget = available_memory() if max_bytes is None else max_bytes
        self._file = open_regular(path, error)
        try:
            self._size = file_size(self._file)
            _check_member_count(self._file, self.path, error)
            self._zip = zipfile.ZipFile(self._file)
            self._members = {info.filename.removesuffix(".npy"): info for info in self._zip.infolist()}
        except NngraphError:  # a refusal of its own (too many members), as it is
            self._file.close()
            raise
        except _ARCHIVE_ERRORS as e:
            self._file.close()
            raise error(f"{path} is corrupt or not an .npz archive ({_reason(e)})", None) from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def where(self, name: str) -> str:
        return f"array '{name}' of {self.path}"

    def header(self, name: str) -> ArrayHeader:
        info = self._info(name)
        with self._open(info, name) as member:
            return read_array_header(member, self.where(name), self.error)

    def read(self, name: str, max_bytes: int | None = None):
        """The member's array; `max_bytes` bounds this one read (within the archive's budget)."""
        info = self._info(name)
        limit = self.budget if max_bytes is None else min(max_bytes, self.budget)
        with self._open(info, name) as member:
            header = read_array_header(member, self.where(name), self.error)
            _check_array_size(self.where(name), header, info.file_size - header.data_offset, limit, self.error)
            array = _read_array(member, header, self.where(name), self.error)
        self.budget -= header.nbytes
        return array

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self._members.get(name)
        if info is None:
            raise self.error(f"no array '{name}' in {self.path}", f"it holds: {', '.join(self.names) or 'none'}")
        if not info.filename.endswith(".npy"):
            raise self.error(f"{self.path} is corrupt: entry '{info.filename}' is not an .npy array", None)
        if info.compress_type == zipfile.ZIP_STORED and info.header_offset + info.file_size > self._size:
            raise self.error(f"{self.where(name)} is truncated: the archive declares "
                             f"{describe_bytes(info.file_size)} but the file is {describe_bytes(self._size)}", None)
        return info

    @contextmanager
    def _open(self, info: zipfile.ZipInfo, name: str) -> Iterator[BinaryIO]:
        try:
            member = self._zip.open(info)
        except _ARCHIVE_ERRORS as e:
            raise self.error(f"{self.where(name)} cannot be read ({_reason(e)})", None) from None
        with member:
            yield member


def load_numpy(path: str | os.PathLike, max_bytes: int | None = None, error: ErrorFactory = data_error):
    """An array from an .npy file, or an open `NpzArchive` (a context manager) from an .npz file."""
    if is_npz(path, error):
        return NpzArchive(path, max_bytes, error)
    return load_npy(path, max_bytes, error)
