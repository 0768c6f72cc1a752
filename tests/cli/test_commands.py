"""`nngraph check`, `inspect`, `--version` and usage errors: output and exit codes."""

import re

import pytest

from nngraph import __version__
from nngraph.api import load

from .helpers import SPECS, run_cli, run_subprocess, write

ALL_SPECS = sorted(SPECS.glob("*.nn"))


def test_check_prints_one_ok_line_per_model():
    result = run_cli("check", *ALL_SPECS)
    assert result.code == 0, result.both
    lines = result.out.splitlines()
    models = [(str(p), m) for p in ALL_SPECS for m in load(p).models]
    assert len(lines) == len(models) >= len(ALL_SPECS)
    for line, (path, model) in zip(lines, models):
        assert re.fullmatch(rf"{re.escape(path)}: ok: model {model}: \d+ units?, \d+ connections?, [\d,]+ parameters?",
                            line), line
    assert result.err == ""


def test_check_ok_line_counts():
    result = run_cli("check", SPECS / "mnist_lenet.nn")
    assert result.out == f"{SPECS / 'mnist_lenet.nn'}: ok: model lenet: 8 units, 7 connections, 44,426 parameters\n"


def test_counts_of_one_are_singular(tmp_path):
    path = write(tmp_path, "one.nn", "model m {\n  input x[1]\n  layer y[1] tanh\n  x -> y\n}\n")
    result = run_cli("check", path)
    assert result.out == f"{path}: ok: model m: 2 units, 1 connection, 2 parameters\n", result.both


def test_check_shows_warnings_but_succeeds(tmp_path):
    path = write(tmp_path, "w.nn", "model m {\n  input x[2]\n  layer u[3]\n  output y[1]\n  x -> y\n  x -> u\n}\n")
    result = run_cli("check", path)
    assert result.code == 0
    assert f"{path}:3:3: warning: unit 'u' feeds nothing and is not an output" in result.err
    assert "ok: model m" in result.out


def test_check_goes_on_after_a_bad_file_and_exits_1(tmp_path):
    bad = write(tmp_path, "bad.nn", "model m {\n  x -> \n}\n")
    result = run_cli("check", bad, SPECS / "xor.nn")
    assert result.code == 1
    assert f"{bad}:2:8: error:" in result.err
    assert "ok: model xor" in result.out


def test_version():
    result = run_cli("--version")
    assert (result.code, result.out) == (0, f"nngraph {__version__}\n")


@pytest.mark.parametrize("args, message", [
    (["check"], "Missing argument"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["check", "--bogus", "x.nn"], "No such option: --bogus"),
    (["convert", "specs/xor.nn"], "Missing option '-o'"),
    (["viz", "specs/xor.nn", "-o", "x.svg", "--unroll", "0"], "--unroll"),
])
def test_usage_errors_exit_2(args, message):
    result = run_cli(*args)
    assert result.code == 2, result.both
    assert message in result.err
    assert "Traceback" not in result.both


def test_no_arguments_shows_help_and_exits_2():
    result = run_subprocess()
    assert result.code == 2
    assert "check" in result.both and "Traceback" not in result.both


def test_inspect_prints_the_table_and_totals():
    result = run_cli("inspect", SPECS / "digits_cnn.nn")
    assert result.code == 0, result.both
    assert "model digits_cnn" in result.out
    for header in ("unit", "role", "shape", "parameters", "FLOPs"):
        assert header in result.out
    for row in (r"b1\.c\s+│ layer\s+│ \[16, 8, 8\]", r"h\s+│ layer\s+│ \[64\]\s+│ relu", "16,448", "32,768"):
        assert re.search(row, result.out), row
    assert result.out.rstrip().endswith("total: 17,258 parameters, 53,504 forward FLOPs per example")


def test_inspect_says_per_time_step_for_recurrent_models():
    result = run_cli("inspect", SPECS / "sine_elman.nn")
    assert "total: 1,121 parameters, 2,176 forward FLOPs per example per time step" in result.out


def test_inspect_of_a_bad_spec_is_a_positioned_error(tmp_path):
    bad = write(tmp_path, "bad.nn", "model m {\n  input x[2]\n  output y[1] sigmod\n  x -> y\n}\n")
    result = run_cli("inspect", bad)
    assert result.code == 1
    assert result.err.startswith(f"{bad}:3:15: error: unknown unit attribute 'sigmod'")
    assert result.out == ""


@pytest.mark.parametrize("raised, code, message", [
    (KeyboardInterrupt(), 130, "interrupted\n"),
    (EOFError("No data left in file"), 70, "internal error: EOFError: No data left in file\n"),
    (ZeroDivisionError("division by zero"), 70, "internal error: ZeroDivisionError: division by zero\n"),
    # a dependency missing is an install gone wrong, named with what to do; another module missing is a bug
    (ModuleNotFoundError("No module named 'yaml'", name="yaml"), 1, "error: nngraph needs the package 'pyyaml'"),
    (ModuleNotFoundError("No module named 'nngraph.gone'", name="nngraph.gone"), 70,
     "internal error: ModuleNotFoundError: No module named 'nngraph.gone'\n"),
])
@pytest.mark.parametrize("args", [["check", SPECS / "xor.nn"], ["inspect", SPECS / "xor.nn"]])
def test_ctrl_c_and_bugs_end_with_their_exit_codes_on_every_path(monkeypatch, args, raised, code, message):
    def fail(*_):
        raise raised

    monkeypatch.setattr("nngraph.api.load", fail)  # what both the fast check path and the app call
    result = run_cli(*args)
    assert result.code == code
    assert result.err.startswith(message) and "Traceback" not in result.both


def test_an_empty_input_file_is_a_data_error(tmp_path):
    empty = write(tmp_path, "x.npy", "")
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", tmp_path / "none.npz", "--input", empty,
                     "-o", tmp_path / "y.npy")
    assert result.code == 1 and f"cannot read {empty}" in result.err
