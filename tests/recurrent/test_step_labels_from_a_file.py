"""Per-step class labels from a file: an npz's integer targets (n, T) beside sequences (n, T, features) are one
label per step (docs/language.md, section 8). Found by benchmarks/twin_check.py's bptt_fit family: the loader
made them float values, so T >= 3 steps were refused with a hint that 'class labels must be whole numbers' and
T = 2 steps beside a 2-class output were read as one 2-value target per sequence (an mse figure, no accuracy)."""

import json

import numpy as np
import pytest

import nngraph
from tests.cli.helpers import run_cli

SPEC = """model m {
  input x[1] sequence
  layer h[3] gru
  output y[2] softmax
  x -> h -> y
}
train {
  data npz("DATA")
  loss cross_entropy(y)
  batch 4
  epochs 2
  dtype float64
}
"""


@pytest.mark.parametrize("steps", [2, 3])
def test_integer_targets_of_each_step_are_its_class_labels(tmp_path, steps):
    rng = np.random.default_rng(steps)
    x, y = rng.normal(size=(6, steps, 1)), rng.integers(0, 2, size=(6, steps))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    checked = nngraph.loads(SPEC.replace("DATA", str(tmp_path / "d.npz")), path=str(tmp_path / "s.nn"))
    summary = nngraph.fit(checked, out=str(tmp_path / "run"), quiet=True)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert "accuracy_running" in records[-1] and "mse" not in summary["train"]
    program = nngraph.program(checked, "m", dtype="float64")
    with np.load(tmp_path / "run" / "checkpoint.npz", allow_pickle=False) as saved:
        for name in program.params:
            program.set(name, saved["params." + name])
    probabilities = np.asarray(program.forward({"x": x})["y"])  # (n, T, 2): every step's
    assert probabilities.shape == (6, steps, 2)
    assert summary["train"]["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=-1) == y))
    picked = np.take_along_axis(probabilities, y[..., None], axis=-1)
    assert summary["train"]["loss"] == pytest.approx(-np.mean(np.log(picked)), rel=1e-9)


def test_a_feedforward_models_integer_targets_of_that_shape_stay_values(tmp_path):
    """The same arrays' shapes for a feedforward model with a [3, 2] input: (n, 3) integers are an mse's values."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(8, 3, 2)), y=rng.integers(0, 5, size=(8, 3)))
    text = f"""model m {{
  input x[3, 2]
  output y[3] identity
  x -> y
}}
train {{
  data npz("{tmp_path / 'd.npz'}")
  loss mse(y)
  epochs 1
  dtype float64
}}
"""
    summary = nngraph.fit(nngraph.loads(text, path=str(tmp_path / "s.nn")), out=str(tmp_path / "run"), quiet=True)
    assert summary["train"]["mse"] == pytest.approx(summary["train"]["loss"])


def test_eval_data_reads_them_as_labels_too(tmp_path):
    """`nngraph eval --data` loads a recurrent model's data as training does (it refused these labels as
    targets of the wrong shape)."""
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(6, 3, 1)), y=rng.integers(0, 2, size=(6, 3)))
    (tmp_path / "s.nn").write_text(SPEC.replace("DATA", str(tmp_path / "d.npz")))
    summary = nngraph.fit(nngraph.load(tmp_path / "s.nn"), out=str(tmp_path / "run"), quiet=True)
    result = run_cli("eval", tmp_path / "s.nn", "--checkpoint", tmp_path / "run" / "checkpoint.npz",
                     "--data", f'npz("{tmp_path / "d.npz"}")', "--json")
    assert result.code == 0, result.both
    figures = json.loads(result.out)["data"]
    assert figures["accuracy"] == pytest.approx(summary["train"]["accuracy"])
    assert figures["loss"] == pytest.approx(summary["train"]["loss"])
