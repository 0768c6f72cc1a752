"""What a run folder remembers, and how eval, predict and sample use it (issue 18, items 1, 6 and 12)."""

import json

import pytest

from nngraph.train.checkpoint import load_checkpoint, save_checkpoint
from tests.cli.helpers import SPECS, run_cli, write

DIGITS = """# a small classifier of the 8x8 digits
model m {
  input  x[64]
  layer  h[16] relu
  output y[10] softmax
  x -> h -> y
}
train {
  model m
  data digits
  test 0.2
  loss cross_entropy(y)
  optimizer adam(lr=3e-3)
  batch 64
  epochs 2
}
"""


def _train(spec, out, *extra):
    result = run_cli("train", spec, "--out", out, "--quiet", "--json", *extra)
    assert result.code == 0, result.both
    return json.loads(result.out)


def _eval(spec, out, *extra):
    result = run_cli("eval", spec, "--checkpoint", out / "checkpoint.npz", "--json", *extra)
    assert result.code == 0, result.both
    return json.loads(result.out), result.err


def test_the_run_folder_keeps_the_spec_as_trained_and_the_overrides(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.yaml", out, "--set", "epochs=3", "--set", "seed=11")
    assert (out / "spec.yaml").read_text() == (SPECS / "xor.yaml").read_text()
    record = json.loads((out / "run.json").read_text())
    assert record["overrides"] == ["epochs 3", "seed 11"]
    assert record["settings"]["seed"] == "seed 11" and record["model"]["method"] == "backprop"


def test_eval_uses_the_splits_of_the_training_run(tmp_path):
    spec, out = write(tmp_path, "digits.nn", DIGITS), tmp_path / "run"
    summary = _train(spec, out, "--set", "test=0.5", "--set", "seed=11")
    metrics, err = _eval(spec, out)
    assert metrics["test"]["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-6)
    assert metrics["test"]["accuracy"] == summary["test"]["accuracy"] and "warning" not in err


def test_a_conflicting_set_on_eval_is_applied_and_named(tmp_path):
    spec, out = write(tmp_path, "digits.nn", DIGITS), tmp_path / "run"
    _train(spec, out, "--set", "test=0.5")
    metrics, err = _eval(spec, out, "--set", "test=0.3")
    assert "trained with other settings: test 0.5 (now 0.3)" in err
    assert set(metrics) == {"train", "test"}


def test_an_edited_spec_or_its_yaml_twin_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    _, err = _eval(SPECS / "xor.yaml", out)  # the twin: the same model and settings
    assert "warning" not in err
    edited = write(tmp_path, "xor.nn", "# a new comment\n" + (SPECS / "xor.nn").read_text().replace(
        "epochs 300", "epochs 31"))
    metrics, err = _eval(edited, out)
    assert metrics["train"]["loss"] > 0 and "warning" not in err  # --set epochs=5 is the run's, again
    metrics, err = _eval(edited, out, "--set", "epochs=7")
    assert err.count("\n") == 1 and "epochs 5 (now 7)" in err


def test_another_model_is_refused_naming_what_differs_without_speaking_of_resume(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    wider = write(tmp_path, "xor.nn", (SPECS / "xor.nn").read_text().replace("h[4] tanh", "h[4] relu"))
    for command in (["eval"], ["sample"]):
        result = run_cli(*command, wider, "--checkpoint", out / "checkpoint.npz")
        assert result.code == 1 and "Traceback" not in result.both
        assert "unit 'h' has activation tanh in the checkpoint, relu in this spec" in result.err
        assert "resume" not in result.err and f"{out / 'spec.nn'}" in result.err


def test_resume_after_a_comment_is_added(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    edited = write(tmp_path, "xor.nn", "# edited\n" + (SPECS / "xor.nn").read_text())
    result = run_cli("train", edited, "--resume", out, "--quiet", "--json", "--set", "epochs=8")
    assert result.code == 0, result.both
    assert json.loads(result.out)["epochs_run"] == 8


def test_a_checkpoint_older_than_the_run_record_still_loads(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    state, meta = load_checkpoint(out / "checkpoint.npz")
    del meta["run"]
    save_checkpoint(out / "checkpoint.npz", state, meta)
    _, err = _eval(SPECS / "xor.nn", out)
    assert "warning" not in err  # the same spec text
    _, err = _eval(SPECS / "xor.yaml", out)
    assert "older nngraph" in err


def test_eval_data_scores_all_of_the_other_set(tmp_path):
    spec, out = write(tmp_path, "digits.nn", DIGITS), tmp_path / "run"
    _train(spec, out)
    metrics, _ = _eval(spec, out, "--data", "digits(limit=100)")
    assert set(metrics) == {"data"}
    whole, _ = _eval(spec, out, "--data", "digits")
    train, test = _eval(spec, out)[0].values()
    assert whole["data"]["accuracy"] == pytest.approx((1438 * train["accuracy"] + 359 * test["accuracy"]) / 1797)


def test_eval_data_errors_point_at_the_words_given(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=2")
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--data", "moons(n=-3)")
    assert result.code == 1 and "<--data>:1:9: error: moons: n: -3 is out of range" in result.err
    assert "moons(n=-3)" in result.err and "<--set>" not in result.err
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--data", 'npz("none.npz")')
    assert result.code == 1 and "relative paths start at the current folder" in result.err


def test_export_judges_the_checkpoint_by_its_model_too(tmp_path):
    pytest.importorskip("onnx")
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    result = run_cli("export", SPECS / "xor.yaml", "--checkpoint", out / "checkpoint.npz", "-o", tmp_path / "a.onnx")
    assert result.code == 0, result.both
    wider = write(tmp_path, "xor.nn", (SPECS / "xor.nn").read_text().replace("h[4]", "h[6]"))
    result = run_cli("export", wider, "--checkpoint", out / "checkpoint.npz", "-o", tmp_path / "b.onnx")
    assert result.code == 1 and "unit 'h' has declared_shape [4] in the checkpoint, [6] in this spec" in result.err
    assert "export with the spec that trained it" in result.err and not (tmp_path / "b.onnx").exists()


def test_a_refused_resume_leaves_the_run_folder_as_it_was(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    wider = write(tmp_path, "xor.nn", (SPECS / "xor.nn").read_text().replace("h[4]", "h[6]"))
    result = run_cli("train", wider, "--resume", out, "--quiet")
    assert result.code == 1 and "is of another model" in result.err and "resume with the spec" in result.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_eval_uses_the_train_block_the_run_used(tmp_path):
    block = DIGITS[DIGITS.index("train {"):]
    two = DIGITS.replace("train {", "train first {") + block.replace("train {", "train second {\n  validation 0.1")
    spec, out = write(tmp_path, "two.nn", two), tmp_path / "run"
    summary = _train(spec, out, "--train", "second", "--set", "seed=5")
    metrics, err = _eval(spec, out)
    assert set(metrics) == {"train", "validation", "test"} and "warning" not in err
    assert metrics["test"]["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-6)


def test_a_recorded_override_that_no_longer_applies_is_a_positioned_error(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=5")
    state, meta = load_checkpoint(out / "checkpoint.npz")
    meta["run"]["overrides"] = ["epochs 5", "batch 0"]
    save_checkpoint(out / "checkpoint.npz", state, meta)
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz")
    assert result.code == 1 and "<run --set>:2:7: error: batch: 0 is out of range" in result.err
    assert "batch 0" in result.err and "Traceback" not in result.both


def test_a_run_resumed_from_the_yaml_twin_keeps_one_spec_copy(tmp_path):
    out = tmp_path / "run"
    _train(SPECS / "xor.nn", out, "--set", "epochs=3")
    result = run_cli("train", SPECS / "xor.yaml", "--resume", out, "--quiet", "--set", "epochs=4")
    assert result.code == 0, result.both
    assert not (out / "spec.nn").exists() and (out / "spec.yaml").read_text() == (SPECS / "xor.yaml").read_text()
