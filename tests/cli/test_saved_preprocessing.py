"""What training did to its data is saved with the checkpoint and done again to data from elsewhere:
`predict`'s input and `eval --data` (issue 18, items 2 and 12)."""

import json
import re

import numpy as np
import pytest

import nngraph
from nngraph.data import load_dataset, split_dataset
from nngraph.data.dataset import unsupervised
from nngraph.spec.parser import parse_fragment
from tests.cli.helpers import SPECS, run_cli, write
from tests.cli.test_provenance import DIGITS

SCALED = DIGITS.replace("data digits", "data digits(scale=standard)")

SHAPED = """model m {
  input  x[4, 16]
  output y[10] softmax
  x -> y
}
train { model m; data DATA; loss cross_entropy(y); optimizer adam(lr=3e-3); batch 64; epochs 1 }
"""

CHARS = """model chars {
  input  x[4] sequence
  layer  h[8] tanh
  output y[4] softmax
  x -> h
  h -> h delay 1
  h -> y
}
train { model chars; data text("a.txt", length=10); loss cross_entropy(y); optimizer adam(lr=1e-2); batch 8;
        epochs 1 }
"""


def _train(spec, out, *extra):
    result = run_cli("train", spec, "--out", out, "--quiet", *extra)
    assert result.code == 0, result.both


def _predict(spec, out, x, tmp_path):
    inputs, outputs = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(inputs, x)
    result = run_cli("predict", spec, "--checkpoint", out / "checkpoint.npz", "--input", inputs, "-o", outputs)
    return (np.load(outputs) if result.code == 0 else None), result


def _raw_digits() -> np.ndarray:
    return load_dataset(parse_fragment("digits", "value_only", "<test>"), SPECS).x


def test_predict_scales_raw_input_with_the_training_statistics(tmp_path):
    spec, out = write(tmp_path, "scaled.nn", SCALED), tmp_path / "run"
    _train(spec, out)
    raw = _raw_digits()
    y, result = _predict(spec, out, raw, tmp_path)
    assert result.code == 0, result.both
    # the statistics of the training split, fitted here; the method's own predict takes scaled input
    from nngraph.session import load_trained

    data = load_dataset(parse_fragment("digits(scale=standard)", "value_only", "<test>"), SPECS)
    scaled = split_dataset(data, 0.2, 0.0, 0).scaler.apply(unsupervised(raw, "raw")).x
    method = load_trained(nngraph.load(spec), None, out / "checkpoint.npz").method
    np.testing.assert_allclose(y, method.predict(scaled), rtol=1e-5, atol=1e-6)


def test_predict_binarises_grey_input_for_a_machine_trained_on_binarised_data(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "rbm_digits.nn", out, "--set", "epochs=1")
    raw = _raw_digits()[:50]
    grey, result = _predict(SPECS / "rbm_digits.nn", out, raw, tmp_path)
    assert result.code == 0, result.both
    binary, _ = _predict(SPECS / "rbm_digits.nn", out, (raw > 0.5).astype(np.float32), tmp_path)
    np.testing.assert_array_equal(grey, binary)


def test_the_refusal_of_grey_input_suggests_valid_syntax(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "rbm_bars.nn", out, "--set", "epochs=1")
    _, result = _predict(SPECS / "rbm_bars.nn", out, np.full((2, 9), 0.3, np.float32), tmp_path)
    assert result.code == 1 and "values other than 0 and 1" in result.err
    for suggested in re.findall(r"`([^`]*)`", result.err):
        parse_fragment(suggested, "statement_only" if suggested.startswith("visible") else "setting_only", "<hint>")


def test_predict_reshapes_rows_as_the_data_call_did(tmp_path):
    spec, out = write(tmp_path, "shaped.nn", SHAPED.replace("DATA", "digits(shape=[4, 16])")), tmp_path / "run"
    _train(spec, out)
    raw = _raw_digits()[:20]
    flat, result = _predict(spec, out, raw, tmp_path)
    assert result.code == 0, result.both
    shaped, _ = _predict(spec, out, raw.reshape(20, 4, 16), tmp_path)
    np.testing.assert_array_equal(flat, shaped)


def test_predict_shape_hint_speaks_of_the_input_array(tmp_path):
    raw = _raw_digits()
    np.savez(tmp_path / "shaped.npz", x=raw.reshape(-1, 4, 16), y=np.arange(len(raw)) % 10)
    spec, out = write(tmp_path, "shaped.nn", SHAPED.replace("DATA", 'npz("shaped.npz")')), tmp_path / "run"
    _train(spec, out)
    _, result = _predict(spec, out, raw[:3], tmp_path)
    assert result.code == 1 and "takes x[4, 16]" in result.err
    assert "data call" not in result.err and "x.reshape(len(x), 4, 16)" in result.err


def test_eval_data_codes_other_text_in_the_training_vocabulary(tmp_path):
    write(tmp_path, "a.txt", ("abcd" * 3 + "dcba" * 3) * 20)
    spec, out = write(tmp_path, "chars.nn", CHARS), tmp_path / "run"
    _train(spec, out)
    other = "cbbccbcbcb" * 10 + "c"  # its own vocabulary, "bc", codes b and c as 0 and 1
    write(tmp_path, "b.txt", other)
    write(tmp_path, "b2.txt", other + "ad")  # the same windows, in the training vocabulary "abcd"

    def scored(name):
        result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--json", "--data",
                         f'text("{tmp_path / name}", length=10)')
        assert result.code == 0, result.both
        return json.loads(result.out)["data"]

    assert scored("b.txt") == pytest.approx(scored("b2.txt"))
    write(tmp_path, "c.txt", other + "z")
    result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--data", f'text("{tmp_path}/c.txt")')
    assert result.code == 1 and "characters the model never saw: 'z'" in result.err


def test_a_checkpoint_older_than_saved_preprocessing_gets_it_fitted_again(tmp_path):
    from nngraph.train.checkpoint import load_checkpoint, save_checkpoint

    spec, out = write(tmp_path, "scaled.nn", SCALED), tmp_path / "run"
    _train(spec, out)
    raw = _raw_digits()[:30]
    now, _ = _predict(spec, out, raw, tmp_path)
    state, meta = load_checkpoint(out / "checkpoint.npz")
    del meta["run"]
    save_checkpoint(out / "checkpoint.npz", {k: v for k, v in state.items() if not k.startswith("__data__")}, meta)
    old, result = _predict(spec, out, raw, tmp_path)
    assert result.code == 0, result.both
    np.testing.assert_array_equal(old, now)


FLOWERS = """model m {
  input  x[2]
  layer  h[16] relu
  output y[3] softmax
  x -> h -> y
}
train { model m; data csv("train.csv", target="kind", delimiter=";"); loss cross_entropy(y); optimizer adam(lr=0.05)
        batch 16; epochs 40 }
"""


def _flowers(rows, names):
    centres = {"iris": (0, 0), "rose": (3, 0), "tulip": (0, 3)}
    rng = np.random.default_rng(len(rows))
    return "a;kind;b\n" + "".join(f"{centres[n][0] + 0.3 * rng.standard_normal():.3f};{n};"
                                  f"{centres[n][1] + 0.3 * rng.standard_normal():.3f}\n" for n in names)


def test_eval_data_reads_a_bare_file_as_training_did_and_numbers_its_classes_as_training_did(tmp_path,
                                                                                              monkeypatch):
    """`--data other.csv` takes the training call's layout (the target column, the delimiter), and class names
    keep the training's numbers: a file of two of the three classes had numbered them 0 and 1 (accuracy 0.04)."""
    write(tmp_path, "train.csv", _flowers("t", ["iris", "rose", "tulip"] * 30))
    spec, out = write(tmp_path, "flowers.nn", FLOWERS), tmp_path / "run"
    _train(spec, out)
    monkeypatch.chdir(tmp_path)  # a command line's relative paths start at the current folder
    write(tmp_path, "two.csv", _flowers("tt", ["rose", "tulip"] * 20))
    result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--json", "--data", "two.csv")
    assert result.code == 0, result.both
    assert json.loads(result.out)["data"]["accuracy"] >= 0.95
    write(tmp_path, "odd.csv", _flowers("ttt", ["rose"]).replace("rose", "daisy"))
    result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--data", "odd.csv")
    assert result.code == 1 and "<--data>:1:1: error: data 'csv' has classes the model was never trained on: " \
                                 "'daisy'" in result.err, result.both


def _flower_run(tmp_path, monkeypatch):
    write(tmp_path, "train.csv", _flowers("t", ["iris", "rose", "tulip"] * 30))
    spec, out = write(tmp_path, "flowers.nn", FLOWERS), tmp_path / "run"
    _train(spec, out)
    monkeypatch.chdir(tmp_path)
    return spec, out


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    rows = [line.split(",") for line in text.strip().splitlines()]
    return rows[0], rows[1:]


def test_predict_reads_a_csv_as_training_did_and_writes_class_names(tmp_path, monkeypatch):
    """`predict --input new.csv -o out.csv`: the table read with the training csv's delimiter, its columns matched
    to training's by their header names (the target column, where the file has one, left out; a first row of
    numbers is an example, not a header), and the predictions written as a table: the predicted class's name, then each class's probability under its name."""
    spec, out = _flower_run(tmp_path, monkeypatch)
    names = ["rose", "tulip", "iris", "rose"]
    table = _flowers("tt", names)  # a;kind;b
    lines = [line.split(";") for line in table.splitlines()]
    write(tmp_path, "with_target.csv", table)
    write(tmp_path, "reordered.csv", "".join(f"{b};{a}\n" for a, _, b in lines))  # b;a, no target
    write(tmp_path, "bare.csv", "".join(f"{a};{b}\n" for a, _, b in lines[1:]))  # no header: by position
    np.save(tmp_path / "x.npy", np.array([[float(a), float(b)] for a, _, b in lines[1:]]))
    result = run_cli("predict", spec, "--checkpoint", out / "checkpoint.npz", "--input", "x.npy", "-o", "y.npy")
    assert result.code == 0, result.both
    expected = np.load(tmp_path / "y.npy")
    for given in ("with_target.csv", "reordered.csv", "bare.csv"):
        result = run_cli("predict", spec, "--checkpoint", out / "checkpoint.npz", "--input", given, "-o", "p.csv")
        assert result.code == 0, result.both
        header, rows = _table((tmp_path / "p.csv").read_text())
        assert header == ["predicted", "iris", "rose", "tulip"]
        assert [row[0] for row in rows] == names
        np.testing.assert_array_equal(np.array([row[1:] for row in rows], np.float32), expected)


def test_data_from_elsewhere_with_other_columns_than_trainings_is_refused_naming_them(tmp_path, monkeypatch):
    """Columns are matched by name: reordered ones are scored as training's order (eval --data), a missing or
    unknown one is an error naming it (it had been read by position: another column fed to a weight)."""
    spec, out = _flower_run(tmp_path, monkeypatch)
    table = _flowers("tt", ["rose", "tulip", "iris"] * 10)
    lines = [line.split(";") for line in table.splitlines()]
    write(tmp_path, "swapped.csv", "".join(f"{b};{kind};{a}\n" for a, kind, b in lines))  # b;kind;a
    result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--json", "--data", "swapped.csv")
    assert result.code == 0, result.both
    assert json.loads(result.out)["data"]["accuracy"] >= 0.95
    write(tmp_path, "renamed.csv", table.replace("a;kind;b", "a;kind;c", 1))
    for command in (("eval", "--data", "renamed.csv"), ("predict", "--input", "renamed.csv", "-o", "p.npy")):
        result = run_cli(command[0], spec, "--checkpoint", out / "checkpoint.npz", *command[1:])
        assert result.code == 1 and "lacks the columns 'b' and has columns training had not: 'c'" in result.err, \
            result.both
        assert "Traceback" not in result.both and not (tmp_path / "p.npy").exists()


def test_a_csv_of_predictions_names_a_units_values_and_refuses_more_than_a_row_an_example(tmp_path):
    from nngraph.data.prediction_table import prediction_table
    from nngraph.errors import DataError

    values = np.array([[0.25, 1 / 3], [2.0, -1e-20]])
    header, rows = _table(prediction_table(values, "h"))
    assert header == ["h[0]", "h[1]"]
    np.testing.assert_array_equal(np.array(rows, np.float64), values)  # float64 digits read back the same
    header, rows = _table(prediction_table(np.array([[0.7], [0.2]], np.float32), "y", ["no", "yes"]))
    assert header == ["predicted", "yes"] and [row[0] for row in rows] == ["yes", "no"]
    assert _table(prediction_table(np.array([[1.5]], np.float32), "y"))[0] == ["y"]
    assert _table(prediction_table(np.array([1, 0]), "action")) == (["action"], [["1"], ["0"]])  # a policy's
    with pytest.raises(DataError, match=r"unit 'y' gives \[50, 1\] each"):
        prediction_table(np.zeros((2, 50, 1)), "y")


@pytest.mark.parametrize("first, header", [("0.5,1", False), ("0,1", True), ("a,b", True), ("1e3,-2", False)])
def test_a_first_row_of_numbers_given_to_predict_is_an_example_unless_pandas_column_numbers(tmp_path, first, header):
    from nngraph.data.loading import read_inputs_as_trained
    from nngraph.spec import ast

    path = write(tmp_path, "x.csv", f"{first}\n1,1\n")
    call = read_inputs_as_trained(ast.String(str(path)), parse_fragment("xor", "value_only", "<test>"), 2)
    said = {k.name: k.value for k in call.kwargs}
    assert ("header" not in said) == header and (header or said["header"] == ast.Ref("false"))
