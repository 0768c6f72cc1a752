import re
import warnings

import numpy as np
import pytest

from tests.data.helpers import load, load_fails


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "train.npz",
        images=rng.random((10, 4)),
        labels=np.arange(10) % 3,
        x=rng.random((10, 4)),
        lengths=np.arange(10) % 4 + 1,
    )
    np.savez(tmp_path / "targets.npz", x=rng.random((6, 2)), y=rng.random(6))
    np.save(tmp_path / "x.npy", rng.random((5, 2, 3)))
    np.save(tmp_path / "y.npy", np.array([0, 1, 1, 0, 1]))
    return tmp_path


def test_npz_with_named_keys_is_classification(folder):
    data = load('npz("train.npz", x="images", y="labels")', folder)
    assert data.x.shape == (10, 4) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and data.n_classes == 3 and data.task == "classification"


def test_npz_float_targets_are_regression_columns(folder):
    data = load('npz("targets.npz")', folder)
    assert data.task == "regression" and data.y.shape == (6, 1) and data.y.dtype == np.float32


def test_npz_without_targets_is_unsupervised_and_keeps_lengths(folder):
    data = load('npz("train.npz", lengths="lengths", limit=4)', folder)
    assert data.y is None and data.task == "unsupervised" and len(data) == 4
    np.testing.assert_array_equal(data.lengths, [1, 2, 3, 4])


def test_npy_pair_and_absolute_paths(folder):
    data = load(f'npy("{folder / "x.npy"}", y="y.npy")', folder)
    assert data.x.shape == (5, 2, 3) and data.n_classes == 2


def test_npz_missing_key_names_the_available_ones(folder):
    error = load_fails('npz("train.npz", y="label")', "no array 'label'", '"label"', folder)
    assert "images" in error.hint and "labels" in error.hint


def test_missing_file(folder):
    error = load_fails('npz("nope.npz")', "no such file", base_dir=folder)
    assert "spec's folder" in error.hint


def test_object_arrays_are_refused_not_unpickled(folder):
    np.save(folder / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    error = load_fails('npy("objects.npy")', "Python objects", base_dir=folder)
    assert "unpickles" in error.hint


def test_object_array_inside_npz(folder):
    np.savez(folder / "obj.npz", x=np.array([[1], "a"], dtype=object))
    load_fails('npz("obj.npz")', "array 'x' of .*obj.npz holds Python objects", base_dir=folder)


def test_string_inputs_are_a_dtype_error(folder):
    np.savez(folder / "words.npz", x=np.array(["a", "b"]))
    load_fails('npz("words.npz")', "dtype <U1; expected numbers", base_dir=folder)


def test_inputs_and_targets_must_pair_up(folder):
    np.savez(folder / "odd.npz", x=np.ones((4, 2)), y=np.ones(3, np.int64))
    load_fails('npz("odd.npz")', "4 inputs but 3 targets", base_dir=folder)


def test_negative_labels_need_regression(folder):
    np.savez(folder / "neg.npz", x=np.ones((2, 2)), y=np.array([-1, 1]))
    load_fails('npz("neg.npz")', "class labels", base_dir=folder)
    assert load('npz("neg.npz", task=regression)', folder).task == "regression"


def test_not_a_numpy_file(folder):
    (folder / "junk.npz").write_text("hello")
    load_fails('npz("junk.npz")', "junk.npz is not a NumPy file", base_dir=folder)


def test_npz_and_npy_are_not_mixed_up(folder):
    load_fails('npz("x.npy")', "single .npy array", base_dir=folder)
    load_fails('npy("train.npz")', "is an .npz archive", base_dir=folder)


def test_non_finite_values_are_refused_naming_file_example_and_column(folder):
    np.save(folder / "nan.npy", np.array([[1.0, 2.0], [3.0, np.nan]]))
    load_fails('npy("nan.npy")', f"the inputs of {folder / 'nan.npy'} hold NaN at example 1, column 1",
               base_dir=folder)
    np.savez(folder / "inf.npz", x=np.ones((3, 2)), y=np.array([0.5, -np.inf, 1.0]))
    load_fails('npz("inf.npz")', re.escape(f"the targets of {folder / 'inf.npz'} (array 'y') hold an infinity "
                                           "at example 1"), base_dir=folder)


def test_values_beyond_the_runs_float_type_are_refused_before_they_become_infinities(folder):
    # 1e300 is finite in the file's float64 and inf once cast to float32; a float64 run keeps it
    np.savez(folder / "big.npz", x=np.array([[1.0, 1.0], [1.0, 1e300]]), y=np.array([0, 1]))
    load_fails('npz("big.npz")', re.escape("hold 1e+300 at example 1, column 1, beyond float32's range"), base_dir=folder)
    assert load('npz("big.npz")', folder, dtype=np.float64).x[1, 1] == 1e300


def test_csv_non_finite_values_are_refused_at_their_line_and_column(folder):
    (folder / "t.csv").write_text("a,b,label\n1,2,0\n\n3,nan,1\n")
    load_fails('csv("t.csv", target="label")', "hold NaN at line 4, column 'b'", base_dir=folder)
    (folder / "r.csv").write_text("a,b,value\n1,2,0.5\n3,4,inf\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.mod(inf, 1) warned on the way (found by fuzzing csv files)
        load_fails('csv("r.csv", target="value")',
                   re.escape(f"the targets of {folder / 'r.csv'} (column 'value') hold an infinity at line 3"),
                   base_dir=folder)


def test_an_npy_header_claiming_terabytes_is_refused_before_reading(folder):
    import tracemalloc

    from tests.hostile.files import lying_npy

    lying_npy(folder / "tera.npy")
    tracemalloc.start()
    try:
        load_fails('npy("tera.npy")', "npy: .*tera.npy is truncated or corrupt: its header describes 3.6 TiB",
                   base_dir=folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_an_npz_member_larger_than_the_memory_available_is_refused_before_it_is_inflated(folder, monkeypatch):
    from nngraph import safe_files
    from tests.hostile.files import zip_bomb

    zip_bomb(folder / "bomb.npz", 64)
    monkeypatch.setattr(safe_files, "available_memory", lambda: 8 << 20)
    load_fails('npz("bomb.npz")', "array 'x' of .*bomb.npz holds an array of 64.0 MiB .*8.0 MiB of memory",
               base_dir=folder)


def test_a_fifo_named_as_data_is_refused_without_blocking(folder):
    import os

    from tests.hostile.files import in_time

    os.mkfifo(folder / "pipe.npz")
    in_time(lambda: load_fails('npz("pipe.npz")', "pipe.npz is a FIFO", base_dir=folder))


def test_a_uint64_label_past_int64_is_refused_not_wrapped(folder):
    # cast to int64 it became -1: a row of zeros for the cross-entropy, and the run trained (exit 0)
    np.savez(folder / "u.npz", x=np.ones((2, 2)), y=np.array([0, 2**64 - 1], np.uint64))
    load_fails('npz("u.npz")', "class label 18446744073709551615 is too large", base_dir=folder)


def test_a_missing_file_whose_name_holds_lookalike_characters_names_them(folder):
    # "no such file: .../оk.npz" beside an ok.npz: the Cyrillic о cannot be seen
    error = load_fails('npz("\u043ek.npz")', "no such file", base_dir=folder)
    assert error.hint == ("the name holds characters that are not ASCII, which may look like others: "
                          "'\u043e' (CYRILLIC SMALL LETTER O) at 1")
