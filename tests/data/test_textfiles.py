import numpy as np
import pytest

from tests.data.helpers import load, load_fails

TABLE = "a,b,label\n1,2,cat\n3,4.5,dog\n\n5,6,cat\n"


def test_csv_with_text_labels(tmp_path):
    (tmp_path / "d.csv").write_text(TABLE)
    data = load('csv("d.csv", target="label")', tmp_path)
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4.5], [5, 6]])
    np.testing.assert_array_equal(data.y, [0, 1, 0])
    assert data.info["classes"] == ["cat", "dog"] and data.info["columns"] == ["a", "b"]


def test_csv_numeric_targets_by_number_without_header(tmp_path):
    (tmp_path / "r.csv").write_text("1;0.5\n2;1.5\n")
    data = load('csv("r.csv", target=-1, header=false, delimiter=";")', tmp_path)
    assert data.task == "regression" and data.y.shape == (2, 1)
    assert load('csv("r.csv", target=1, header=false, delimiter=";")', tmp_path).x.shape == (2, 1)


def test_csv_whole_number_targets_are_classes(tmp_path):
    (tmp_path / "c.csv").write_text("x,y\n0.1,0\n0.2,2\n")
    data = load('csv("c.csv", target="y")', tmp_path)
    assert data.task == "classification" and data.n_classes == 3


def test_csv_without_target_is_unsupervised(tmp_path):
    (tmp_path / "u.csv").write_text("a,b\n1,2\n")
    assert load('csv("u.csv")', tmp_path).task == "unsupervised"


def test_csv_missing_column_names_the_available(tmp_path):
    (tmp_path / "d.csv").write_text(TABLE)
    error = load_fails('csv("d.csv", target="class")', "no column 'class'", '"class"', tmp_path)
    assert "a, b, label" in error.hint


def test_csv_column_number_out_of_range(tmp_path):
    (tmp_path / "d.csv").write_text(TABLE)
    load_fails('csv("d.csv", target=7)', "column 7 is out of range", "7", tmp_path)


def test_csv_bad_cell_names_line_and_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n\n3,oops\n")  # blank lines still count
    load_fails('csv("d.csv")', "line 4, column 'b': 'oops' is not a number", base_dir=tmp_path)


def test_csv_ragged_row(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3\n")
    load_fails('csv("d.csv")', "line 3 has 1 columns, expected 2", base_dir=tmp_path)


def test_csv_header_only(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n")
    load_fails('csv("d.csv")', "no data rows", base_dir=tmp_path)


def test_text_windows_shift_by_one(tmp_path):
    (tmp_path / "book.txt").write_text("hello world, héllo", encoding="utf-8")
    data = load('text("book.txt", length=4)', tmp_path)
    assert data.vocabulary == "".join(sorted(set("hello world, héllo")))
    assert data.x.shape == data.y.shape == (4, 4) and data.x.dtype == np.int64

    def decode(codes):
        return "".join(data.vocabulary[c] for c in codes)

    assert decode(data.x[0]) == "hell" and decode(data.y[0]) == "ello"
    np.testing.assert_array_equal(data.x[1:, 0], data.y[:-1, -1])
    assert data.task == "text" and data.n_classes == len(data.vocabulary)


def test_text_not_utf8_gives_the_byte_offset(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"fine text\xff more")
    load_fails('text("bad.txt")', "not UTF-8 .*offset 9", base_dir=tmp_path)


def test_text_too_short(tmp_path):
    (tmp_path / "t.txt").write_text("abc")
    load_fails('text("t.txt", length=10)', "has 3 characters", base_dir=tmp_path)


@pytest.mark.parametrize("loader", ["text", "csv"])
def test_a_device_or_a_fifo_is_refused_unread(tmp_path, loader):
    import os

    from tests.hostile.files import in_time

    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.txt")
    for name, match in (("zero.txt", "zero.txt is a device; only regular files are read"),
                        ("pipe.txt", "pipe.txt is a FIFO")):
        in_time(lambda n=name, m=match: load_fails(f'{loader}("{n}")', m, base_dir=tmp_path))


def test_a_text_file_over_the_cap_is_refused_unread(tmp_path, monkeypatch):
    from nngraph.data import textfiles

    monkeypatch.setattr(textfiles, "MAX_TEXT_BYTES", 1000)
    (tmp_path / "big.txt").write_text("ab" * 501)
    err = load_fails('text("big.txt", length=4)', "big.txt is 1,002 bytes; text data files are limited to 1,000",
                     base_dir=tmp_path)
    assert "npz" in err.hint
