"""Image sets: IDX files (the MNIST format), an MNIST folder, and scikit-learn's 8x8 digits.

Images keep their natural flat shape (n, rows*cols) with pixels in [0, 1]; `shape=[1, 28, 28]`
reshapes them for a convolutional net. The image size is kept in `info["image_shape"]`.
"""

from __future__ import annotations

import gzip
import itertools
import math
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from nngraph.data.arrays import file_error
from nngraph.data.catalog import FEATURES, LIMITED, Request, register
from nngraph.data.dataset import Dataset, classification, unsupervised
from nngraph.data.options import Option
from nngraph.errors import unimportable
from nngraph.safe_files import available_memory, describe_bytes, file_size, open_regular

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(req: Request, path: Path, magic: int, limit: int | None = None) -> np.ndarray:
    """The uint8 array of an IDX file (plain or gzipped), only its first `limit` items if set.
    The size the header claims is checked before reading: against the file for a plain file, against the
    memory available for a gzipped one (whose data is read only as far as it goes)."""
    error = file_error(req)
    try:
        with open_regular(path, error) as raw, _decompressed(raw) as f:
            dims = _idx_header(req, path, f, magic)
            if not dims or dims[0] == 0:  # numpy cannot reshape nothing into (0, -1) later
                raise req.error(f"{req.name}: {path} holds no images or labels (its header gives dimensions "
                                f"{list(dims)})")
            count = min(dims[0], limit or dims[0])
            size = count * math.prod(dims[1:])
            _check_claim(req, path, size, None if f is not raw else file_size(raw) - f.tell())
            data = f.read(size)
    except (OSError, EOFError, zlib.error) as e:
        raise req.error(f"{req.name}: cannot read {path}: {e}") from None
    if len(data) < size:
        raise req.error(f"{req.name}: {path} is truncated: {len(data)} of {size} bytes of data")
    return np.frombuffer(data, np.uint8).reshape(count, *dims[1:])


def _check_claim(req: Request, path: Path, size: int, holds: int | None) -> None:
    if holds is not None and size > holds:
        raise req.error(f"{req.name}: {path} is truncated: its header describes {describe_bytes(size)} of "
                        f"pixels or labels but the file holds {describe_bytes(holds)}")
    # the bytes, then the run's float copy and its scaled copy (idx_dataset): a gzipped 4 MB file of 1e9 zero
    # pixels passed the bytes' check and ran out of memory in the copies, reported as training's
    need = size * (1 + 2 * np.dtype(req.dtype).itemsize)
    if need > available_memory():
        raise req.error(f"{req.name}: {path} describes {describe_bytes(size)} of data, {describe_bytes(need)} "
                        f"once read as {np.dtype(req.dtype).name}; {describe_bytes(available_memory())} of memory "
                        "is available", "use limit=N")


@contextmanager
def _decompressed(f):
    """Gzipped files are recognised by their first bytes, whatever their name."""
    zipped = f.read(2) == GZIP_MAGIC
    f.seek(0)
    if not zipped:
        yield f
        return
    with gzip.GzipFile(fileobj=f, mode="rb") as g:
        yield g


def _idx_header(req: Request, path: Path, f, magic: int) -> tuple[int, ...]:
    head = f.read(4)
    found = int.from_bytes(head, "big") if len(head) == 4 else None
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise req.error(
            f"{req.name}: {path} is not an IDX {kind} file (magic number {found}, expected {magic})",
            "images files start with 2051, labels files with 2049; check which is which",
        )
    ndim = head[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise req.error(f"{req.name}: {path} is truncated inside its header")
    return struct.unpack(f">{ndim}I", dims)


def idx_dataset(req: Request, images: Path, labels: Path | None) -> Dataset:
    """Images scaled to [0, 1] by dividing by 255 (in the run's dtype), flattened; int64 labels.

    Classes are counted over the whole labels file, so `limit=` never shrinks the output layer.
    """
    pixels = read_idx(req, images, IMAGES_MAGIC, req["limit"])
    x = pixels.reshape(len(pixels), -1).astype(req.dtype) / 255
    shape = tuple(pixels.shape[1:])
    if labels is None:
        return unsupervised(x, req.name, dtype=req.dtype, image_shape=shape)
    y = read_idx(req, labels, LABELS_MAGIC)
    if len(y) < len(x) or (req["limit"] is None and len(y) != len(x)):
        raise req.error(f"{req.name}: {len(x)} images but {len(y)} labels", "pair matching files")
    return classification(x, y[: len(x)], req.name, int(y.max()) + 1, dtype=req.dtype, image_shape=shape)


@register(
    "idx",
    {**FEATURES, **LIMITED, "images": Option("path"), "labels": Option("path")},
    positional=("images", "labels"),
)
def idx(req: Request) -> Dataset:
    """An IDX images file (magic 2051) and optionally its IDX labels file (magic 2049).

    Either may be gzipped (recognised by content, not name). Dimensions are big-endian.
    """
    labels = req.path("labels") if req["labels"] is not None else None
    return idx_dataset(req, req.path("images"), labels)


MNIST_PARTS = {"train": "train", "test": "t10k"}


@register(
    "mnist",
    {
        **FEATURES,
        **LIMITED,
        "path": Option("path"),
        "part": Option("choice", "auto", choices=("auto", "train", "test")),
    },
    positional=("path",),
)
def mnist(req: Request) -> Dataset:
    """The MNIST pair of IDX files in folder `path`: `{train,t10k}-{images-idx3,labels-idx1}-ubyte`
    with or without `.gz`. part=train or test picks the pair; auto takes train where present.
    """
    folder = req.folder()
    parts = ["train", "test"] if req["part"] == "auto" else [req["part"]]
    for part in parts:
        prefix = MNIST_PARTS[part]
        found = [_find(folder, f"{prefix}-{kind}-ubyte") for kind in ("images-idx3", "labels-idx1")]
        if all(found):
            return idx_dataset(req, *found)
    raise req.error(
        f"mnist: no MNIST {' or '.join(parts)} files in {folder}",
        f"expected e.g. t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz; found {_listing(folder)}",
    )


def _listing(folder: Path, shown: int = 12) -> str:
    """A few of a folder's names, not all of a million of them."""
    names = sorted(itertools.islice((p.name for p in folder.iterdir()), 1000))
    more = "" if len(names) <= shown else f" and {len(names) - shown}{'+' if len(names) == 1000 else ''} more"
    return ", ".join(names[:shown]) + more if names else "nothing"


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / n for n in (stem, stem + ".gz") if (folder / n).is_file()), None)


@register("digits", {**FEATURES, **LIMITED})
def digits(req: Request) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).

    x: (n, 64) in the run's dtype, the 0..16 pixel counts divided by 16 so pixels lie in [0, 1];
    y: int64 digit labels. Needs scikit-learn (`pip install nngraph[digits]`).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise req.error(f"digits needs scikit-learn, {unimportable(e, 'sklearn')}",
                        "pip install nngraph[digits]") from None
    bunch = load_digits()
    data = classification(bunch.data / 16.0, bunch.target, "digits", 10, dtype=req.dtype, image_shape=(8, 8))
    return req.limited(data)
