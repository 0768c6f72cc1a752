import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.data.helpers import load, load_fails

MNIST = Path("/work/shared/data/mnist")
IMAGES = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(3, 2, 4) * 10
LABELS = np.array([4, 0, 2], np.uint8)


def write_idx(path: Path, array: np.ndarray, magic: int, zipped: bool = False) -> None:
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    path.write_bytes(gzip.compress(raw) if zipped else raw)


@pytest.mark.parametrize("zipped", [False, True])
def test_idx_plain_and_gzipped(tmp_path, zipped):
    write_idx(tmp_path / "img", IMAGES, 2051, zipped)
    write_idx(tmp_path / "lab", LABELS, 2049, zipped)
    data = load('idx(images="img", labels="lab")', tmp_path)
    assert data.x.shape == (3, 8) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x, IMAGES.reshape(3, 8) / 255, rtol=1e-6)
    np.testing.assert_array_equal(data.y, LABELS)
    assert data.n_classes == 5 and data.info["image_shape"] == (2, 4)


def test_idx_limit_keeps_the_class_count(tmp_path):
    write_idx(tmp_path / "img", IMAGES, 2051)
    write_idx(tmp_path / "lab", LABELS, 2049)
    data = load('idx("img", "lab", limit=2, shape=[1, 2, 4])', tmp_path)
    assert data.x.shape == (2, 1, 2, 4) and data.n_classes == 5


def test_idx_images_alone_are_unsupervised(tmp_path):
    write_idx(tmp_path / "img", IMAGES, 2051)
    assert load('idx(images="img")', tmp_path).task == "unsupervised"


def test_idx_bad_magic_number(tmp_path):
    write_idx(tmp_path / "img", IMAGES, 2051)
    write_idx(tmp_path / "lab", LABELS, 2049)
    load_fails('idx(images="lab")', "not an IDX images file .*magic number 2049", base_dir=tmp_path)
    load_fails('idx("img", "img")', "not an IDX labels file", base_dir=tmp_path)


def test_idx_truncated(tmp_path):
    write_idx(tmp_path / "img", IMAGES, 2051)
    (tmp_path / "cut").write_bytes((tmp_path / "img").read_bytes()[:-5])
    load_fails('idx("cut")', "truncated", base_dir=tmp_path)


def test_idx_of_no_images_is_refused(tmp_path):
    # an images file whose header says 0 images was an internal error (reshape of nothing into (0, -1))
    write_idx(tmp_path / "none", IMAGES[:0], 2051)
    load_fails('idx("none")', r"none holds no images or labels \(its header gives dimensions \[0, 2, 4\]\)",
               base_dir=tmp_path)


def test_idx_count_mismatch(tmp_path):
    write_idx(tmp_path / "img", IMAGES, 2051)
    write_idx(tmp_path / "lab", LABELS[:2], 2049)
    load_fails('idx("img", "lab")', "3 images but 2 labels", base_dir=tmp_path)


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST test set is not in shared/data")
def test_mnist_folder_reads_the_real_test_set():
    data = load(f'mnist(path="{MNIST}", limit=8)')
    np.testing.assert_array_equal(data.y, [7, 2, 1, 0, 4, 1, 4, 9])
    assert data.x.shape == (8, 784) and 0 <= data.x.min() and data.x.max() <= 1
    assert data.n_classes == 10


def test_mnist_folder_without_the_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    error = load_fails('mnist(path=".")', "no MNIST train or test files", base_dir=tmp_path)
    assert "notes.txt" in error.hint
    load_fails('mnist(path="notes.txt")', "is a file", base_dir=tmp_path)


def test_digits_shape_and_scale():
    data = load("digits")
    assert data.x.shape == (1797, 64) and data.x.dtype == np.float32 and data.n_classes == 10
    assert data.x.min() == 0 and data.x.max() == 1
    assert load("digits(limit=3, shape=[1, 8, 8])").x.shape == (3, 1, 8, 8)


def test_digits_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    error = load_fails("digits", "needs scikit-learn")
    assert "nngraph[digits]" in error.hint


def test_idx_header_claiming_more_than_the_file_holds_is_refused_before_reading(tmp_path):
    raw = struct.pack(">I", 2051) + struct.pack(">3I", 2**31, 2**16, 2**16) + bytes(100)
    (tmp_path / "huge").write_bytes(raw)
    load_fails('idx("huge")', "huge is truncated: its header describes .* but the file holds 100 bytes",
               base_dir=tmp_path)


def test_gzipped_idx_claiming_more_than_the_memory_available_is_refused(tmp_path, monkeypatch):
    from nngraph.data import images

    raw = struct.pack(">I", 2051) + struct.pack(">3I", 1000, 28, 28) + bytes(1000 * 28 * 28)
    (tmp_path / "img.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(images, "available_memory", lambda: 1_000_000)  # the bytes fit, their float copies do not
    load_fails('idx("img.gz")', "describes 765.6 KiB of data, 6.7 MiB once read as float32; 976.6 KiB of memory is "
                                "available", base_dir=tmp_path)
    assert load('idx("img.gz", limit=100)', tmp_path).x.shape == (100, 784)  # limit= reads only a part


def test_mnist_folder_without_the_files_lists_a_few_names_not_all(tmp_path):
    for i in range(50):
        (tmp_path / f"f{i:02d}").write_text("")
    err = load_fails('mnist("' + str(tmp_path) + '")', "no MNIST", base_dir=tmp_path)
    assert err.hint.endswith("found f00, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11 and 38 more")
