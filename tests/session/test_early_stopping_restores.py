"""Early stopping restores the best epoch's model whole: its parameters and its running statistics (found by
benchmarks/twin_check.py's fit family: nngraph restored the parameters alone, so a batch-normalised model ended
with the best epoch's weights and the last epoch's running statistics, and summary.json's validation figures,
the best epoch's record, were not those of the model it saved). And summary.json's validation split names each
label's accuracy, as its train and test splits do."""

import numpy as np
import pytest

import nngraph
from nngraph.session import run_evaluation

BATCHNORM = """model m {
  input x[3]
  layer h[8] relu batchnorm
  output y[2] softmax
  x -> h -> y
}
train {
  data npz("DATA")
  loss cross_entropy(y)
  optimizer sgd(lr=1.0, momentum=0.9)
  validation 0.25
  batch 10
  dtype float64
  EPOCHS
}
"""


def arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith(("params.", "buffers."))}


def test_the_restored_model_is_the_best_epochs_running_statistics_included(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 3)), y=rng.integers(0, 2, size=40))
    spec = BATCHNORM.replace("DATA", str(tmp_path / "d.npz"))
    stopped = spec.replace("EPOCHS", "epochs 8\n  early_stopping monitor=val_loss patience=3")
    checked = nngraph.loads(stopped, path=str(tmp_path / "s.nn"))
    summary = nngraph.fit(checked, out=str(tmp_path / "a"), quiet=True)
    best = summary["best_epoch"]
    assert summary["stopped_early"] and best is not None and best < summary["epochs_run"]  # it restored one
    shorter = nngraph.loads(spec.replace("EPOCHS", f"epochs {best}"), path=str(tmp_path / "s.nn"))
    nngraph.fit(shorter, out=str(tmp_path / "b"), quiet=True)
    restored, trained = arrays(tmp_path / "a" / "checkpoint.npz"), arrays(tmp_path / "b" / "checkpoint.npz")
    assert restored.keys() == trained.keys() and any(k.startswith("buffers.") for k in restored)
    for name in trained:
        np.testing.assert_array_equal(restored[name], trained[name], err_msg=name)
    evaluated = run_evaluation(checked, None, tmp_path / "a" / "checkpoint.npz")
    assert evaluated["validation"] == pytest.approx(summary["validation"], rel=1e-12)


def test_summary_validation_names_each_labels_accuracy(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(30, 3)), y=(rng.random((30, 3)) < 0.5).astype(float))
    text = """model m {
  input x[3]
  output y[3] sigmoid
  x -> y
}
train {
  data npz("DATA")
  loss bce(y)
  validation 0.3
  epochs 2
  dtype float64
}
"""
    checked = nngraph.loads(text.replace("DATA", str(tmp_path / "d.npz")), path=str(tmp_path / "s.nn"))
    summary = nngraph.fit(checked, out=str(tmp_path / "run"), quiet=True)
    evaluated = run_evaluation(checked, None, tmp_path / "run" / "checkpoint.npz")
    assert len(summary["validation"]["label_accuracies"]) == 3
    assert summary["validation"]["label_accuracies"] == pytest.approx(evaluated["validation"]["label_accuracies"])
    assert summary["final"]["val_label_accuracies"] == summary["validation"]["label_accuracies"]
