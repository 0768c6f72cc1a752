"""Every kind of bad data call is a DataError pointing at the offending piece of the spec."""

import numpy as np
import pytest

from nngraph.data import data_call, known_datasets, load_dataset
from nngraph.errors import DataError
from nngraph.spec import ast
from tests.data.helpers import data_setting, load, load_fails


def test_a_bare_name_is_a_call_without_arguments():
    call = data_call(data_setting("xor"))
    assert isinstance(call, ast.Call) and call.name == "xor" and call.args == () == call.kwargs


def test_words_after_the_call_are_options_too():
    assert load("digits limit=5 shape=[1, 8, 8]").x.shape == (5, 1, 8, 8)


def test_known_datasets_lists_every_loader():
    names = known_datasets()
    assert names == sorted(names)
    assert {"xor", "moons", "digits", "npz", "csv", "idx", "mnist", "text", "adding"} <= set(names)


def test_unknown_name_suggests_the_closest():
    error = load_fails("spiral(n=3)", "unknown data set 'spiral'")
    assert "spirals" in error.hint


@pytest.mark.parametrize(
    "text, match, at",
    [
        ("moons(nosie=0.1)", "no option 'nosie'", "nosie"),
        ("moons(n=2.5)", "whole number, got 2.5", "2.5"),
        ('moons(n="many")', "whole number", '"many"'),
        ("moons(noise=high)", "expects a number, got the name `high`", "high"),
        ("moons(scale=standrad)", "one of none, standard, minmax", "standrad"),
        ("moons(standard)", "takes no positional argument", "standard"),
        ("moons(n=1)", "at least 2", "1"),
        ("moons(n=10, n=20)", "given twice", "n=20"),
        ("xor(noise=0.1)", "no option 'noise'", "noise"),
        ("text(binarize=0.5)", "no option 'binarize'", "binarize"),
        ("csv(header=1)", "true or false", "1"),
        ("npz(train)", "file path in double quotes", "train"),
        ("digits(shape=[3, 3])", "64 values .* cannot be reshaped", "[3"),
        ("digits(shape=[1, 8, 8.5])", "list of whole numbers", "["),
        ("linear(features=2, weights=[1, 2, 3])", "3 weights given", "[1"),
        ("sine(frequencies=[0.3, 0.1])", r"\[low, high\]", "[0.3"),
        ("bars(size=9)", "at most 6", "9"),
    ],
)
def test_bad_options_point_at_the_argument(text, match, at):
    load_fails(text, match, at)


def test_positional_name_of_an_option_hints_at_a_value():
    error = load_fails('csv("d.csv", header)', r"1 positional argument\(s\) \(path\)", "header")
    assert "header=" in error.hint


def test_scale_choice_hint_names_the_close_word():
    assert "standard" in load_fails("moons(scale=standrad)", "scale", "standrad").hint


def test_shape_with_a_free_dimension():
    assert load("digits(limit=2, shape=[-1, 8])").x.shape == (2, 8, 8)


def test_binarize_thresholds_inputs():
    data = load("digits(limit=20, binarize=0.5)")
    assert set(np.unique(data.x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(data.x, load("digits(limit=20)").x > 0.5)


def test_scale_is_recorded_for_the_split():
    assert load("moons scale=minmax").info["scale"] == "minmax"
    assert "scale" not in load("moons").info


def test_a_path_string_picks_its_loader_by_suffix(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    assert load('"x.npy"', tmp_path).x.shape == (3, 2)
    load_fails('"data.bin"', "cannot tell the format", base_dir=tmp_path)


def test_a_value_that_is_not_a_name_or_call():
    with pytest.raises(DataError, match="expected a data set name or call"):
        load_dataset(ast.Number(3), ".")
