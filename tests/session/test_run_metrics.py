"""What a run reports under which name: a whole split measured in eval mode is `loss` (summary.json's `train`,
`validation`, `test`, and `nngraph eval`), an epoch's running average over its steps is `loss_running`
(metrics.jsonl, summary.json's `train_running`, the progress lines, early stopping's `monitor`). And
`epochs 0` trains nothing but still leaves a checkpoint and a summary."""

import json

import numpy as np
import pytest

import nngraph
from nngraph.errors import NngraphError
from nngraph.session import build_method, run_evaluation
from tests.cli.helpers import run_cli

DROPOUT = """
model m { input x[2]; layer h[32] relu dropout=0.5; output y[2] softmax; x -> h -> y }
train { model m; data moons(n=200); loss cross_entropy(y); optimizer adam(lr=0.01); batch 32; epochs 6
        validation 0.2; test 0.2 }
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dropout")
    spec = folder / "dropout.nn"
    spec.write_text(DROPOUT)
    checked = nngraph.load(spec)
    return checked, nngraph.fit(checked, out=folder / "run")


def test_the_summary_reports_the_training_split_as_eval_does(run):
    checked, summary = run
    evaluated = run_evaluation(checked, None, f"{summary['run_dir']}/checkpoint.npz")
    for split in ("train", "validation", "test"):
        assert summary[split] == pytest.approx(evaluated[split], rel=1e-6), split
    assert summary["train"] != pytest.approx(summary["train_running"], rel=1e-3)  # dropout was on
    assert summary["final"]["train_accuracy"] == summary["train"]["accuracy"]


def test_epoch_records_name_the_running_figures(run):
    _, summary = run
    folder = summary["run_dir"]
    records = [json.loads(line) for line in open(f"{folder}/metrics.jsonl")]
    assert {"loss_running", "accuracy_running", "val_loss", "val_accuracy"} <= set(records[-1])
    assert not {"loss", "accuracy"} & set(records[-1])
    assert summary["train_running"] == {"loss": records[-1]["loss_running"],
                                        "accuracy": records[-1]["accuracy_running"]}


def test_early_stopping_monitors_the_running_figure_by_its_name(tmp_path):
    spec = tmp_path / "s.nn"
    spec.write_text(DROPOUT.replace("test 0.2", "early_stopping monitor=loss_running patience=50"))
    assert nngraph.fit(nngraph.load(spec), out=tmp_path / "run")["epochs_run"] == 6
    spec.write_text(DROPOUT.replace("test 0.2", "early_stopping monitor=loss"))
    with pytest.raises(NngraphError, match="early_stopping can monitor") as caught:
        nngraph.load(spec)
    assert "`monitor=loss_running`" in caught.value.hint


def test_epochs_0_saves_the_initial_parameters_and_a_summary(tmp_path):
    spec = tmp_path / "s.nn"
    spec.write_text(DROPOUT.replace("epochs 6", "epochs 0"))
    result = run_cli("train", spec, "--out", tmp_path / "run")
    assert result.code == 0, result.both
    assert "0 epochs" in result.out and "no curves.png" in result.out and "train_accuracy" in result.out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 0 and set(summary["train"]) == {"loss", "accuracy"}
    assert not (tmp_path / "run" / "curves.png").exists()
    checked = nngraph.load(spec)
    initial = build_method(checked, checked.train(), nngraph.backend.get_backend("numpy", "float32"))
    saved = np.load(tmp_path / "run" / "checkpoint.npz")
    for name, value in initial.params.items():
        np.testing.assert_array_equal(saved[f"params.{name}"], value)
    evaluated = run_cli("eval", spec, "--checkpoint", tmp_path / "run" / "checkpoint.npz", "--json")
    assert evaluated.code == 0 and json.loads(evaluated.out)["train"] == pytest.approx(summary["train"])
