"""`train`, `eval`, `predict` and `sample` from the command line, and their errors."""

import json

import numpy as np

from tests.cli.helpers import SPECS, run_cli, write

BAD_CHECKPOINT_SPEC = """model other {
  input x[2]
  output y[1] sigmoid
  x -> y
}
train { data xor; loss bce(y); epochs 1 }
"""


def _train(tmp_path, *extra):
    out = tmp_path / "run"
    result = run_cli("train", SPECS / "xor.nn", "--out", out, "--quiet", *extra)
    assert result.code == 0, result.both
    return out, result


def test_train_writes_the_run_folder_and_json_prints_the_summary(tmp_path):
    out, result = _train(tmp_path, "--set", "epochs=50", "--json")
    summary = json.loads(result.out)
    assert summary["epochs_run"] == 50 and summary["run_dir"] == str(out)
    assert {p.name for p in out.iterdir()} >= {"metrics.jsonl", "summary.json", "checkpoint.npz", "curves.png"}


def test_train_float64_on_request(tmp_path):
    _, result = _train(tmp_path, "--set", "epochs=5", "--dtype", "float64", "--json")
    assert json.loads(result.out)["dtype"] == "float64"


def test_set_with_a_bad_value_is_a_positioned_error(tmp_path):
    result = run_cli("train", SPECS / "xor.nn", "--set", "batch=0", "--out", tmp_path / "r")
    assert result.code == 1
    assert "<--set>:1:7: error: batch: 0 is out of range" in result.err
    assert not (tmp_path / "r").exists()


def test_eval_and_predict_use_the_trained_checkpoint(tmp_path):
    out, _ = _train(tmp_path)
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--json")
    assert result.code == 0, result.both
    assert json.loads(result.out)["train"]["accuracy"] == 1.0
    x = tmp_path / "x.npy"
    np.save(x, np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    y = tmp_path / "y.npy"
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", x, "-o", y)
    assert result.code == 0, result.both
    np.testing.assert_array_equal(np.load(y).ravel() > 0.5, [False, True, True, False])


def test_a_checkpoint_of_another_spec_is_refused_and_nothing_is_written(tmp_path):
    out, _ = _train(tmp_path)
    other = write(tmp_path, "other.nn", BAD_CHECKPOINT_SPEC)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 2), np.float32))
    result = run_cli("predict", other, "--checkpoint", out / "checkpoint.npz", "--input", x, "-o", tmp_path / "y.npy")
    assert result.code == 1 and "spec" in result.err and "Traceback" not in result.both
    assert not (tmp_path / "y.npy").exists()


def test_predict_with_inputs_of_the_wrong_shape(tmp_path):
    out, _ = _train(tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 5), np.float32))
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", x,
                     "-o", tmp_path / "y.npy")
    assert result.code == 1 and "[5]" in result.err and "x[2]" in result.err


def test_unreadable_inputs_and_missing_checkpoints_are_plain_errors(tmp_path):
    out, _ = _train(tmp_path)
    junk = write(tmp_path, "x.npy", "not an array")
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", junk,
                     "-o", tmp_path / "y.npy")
    assert result.code == 1 and "cannot read" in result.err
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", tmp_path / "none.npz")
    assert result.code == 1 and "Traceback" not in result.both


def test_resume_continues_a_run(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=10")
    result = run_cli("train", SPECS / "xor.nn", "--resume", out, "--set", "epochs=20", "--json", "--quiet")
    assert result.code == 0, result.both
    assert json.loads(result.out)["epochs_run"] == 20
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 20


def test_sample_on_a_model_that_cannot_generate(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=1")
    result = run_cli("sample", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz")
    assert result.code == 1 and "does not generate samples" in result.err
