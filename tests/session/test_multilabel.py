"""Multi-label targets (0/1 rows, several sigmoid units, bce) are a classification of their own: per-label and
exact-match accuracy in eval, metrics.jsonl and summary.json, not a regression's MSE."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.data.dataset import regression
from nngraph.session import run_evaluation
from nngraph.train.feeding import multi_label, predictions_metric

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.mark.parametrize("seed", [0, 1])
def test_the_multilabel_spec_learns_its_labels(tmp_path, seed):
    """Measured, seeds 0-3: test label_accuracy 0.951-0.963, exact_match 0.79-0.83 (0.6 s of training)."""
    checked = nngraph.load(SPECS / "multilabel_balls.nn", [f"seed={seed}"])
    summary = nngraph.fit(checked, out=tmp_path / "run")
    assert summary["test"]["label_accuracy"] >= 0.93 and summary["test"]["exact_match"] >= 0.70
    assert "mse" not in summary["test"]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"label_accuracy_running", "exact_match_running", "val_label_accuracy", "val_exact_match"} <= set(
        records[-1])
    evaluated = run_evaluation(checked, None, tmp_path / "run" / "checkpoint.npz")
    per_label_again = evaluated["test"].pop("label_accuracies")
    assert per_label_again == pytest.approx(summary["test"]["label_accuracies"])
    assert evaluated["test"] == pytest.approx({k: v for k, v in summary["test"].items() if k != "label_accuracies"})
    per_label = summary["test"]["label_accuracies"]  # one figure per label, whose mean is label_accuracy
    assert len(per_label) == 5 and min(per_label) >= 0.85
    assert np.mean(per_label) == pytest.approx(summary["test"]["label_accuracy"], rel=1e-5)


def test_eval_prints_the_accuracy_of_each_label(tmp_path):
    from tests.cli.helpers import run_cli

    nngraph.fit(nngraph.load(SPECS / "multilabel_balls.nn", ["epochs=2"]), out=tmp_path / "run")
    result = run_cli("eval", SPECS / "multilabel_balls.nn", "--checkpoint", tmp_path / "run" / "checkpoint.npz")
    assert result.code == 0, result.both
    assert re.search(r"test: .*label_accuracies \[(\d\.\d+ ){4}\d\.\d+\]", result.out), result.both


def plan_of(loss: str, units: int = 3, activation: str = "sigmoid"):
    spec = nngraph.loads(f"model m {{ input x[2]; output y[{units}] {activation}; x -> y }}\n"
                         f"train {{ model m; data xor; loss {loss} }}")
    from nngraph.compile import compile_model
    from nngraph.backend import get_backend

    return compile_model(spec.models["m"], spec.train().loss, get_backend("numpy", "float32")).eval_plan


def test_label_and_exact_match_accuracy_by_hand():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], np.float32)
    output = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.8], [0.8, 0.9, 0.1], [0.4, 0.3, 0.2]], np.float32)
    metrics = predictions_metric(plan_of("bce(y)"), output, regression(np.zeros((4, 2)), y, "t"))
    assert metrics == {"label_accuracy": pytest.approx(10 / 12), "exact_match": pytest.approx(2 / 4)}


def test_only_bce_on_several_units_against_0_1_rows_is_multi_label():
    rows = np.array([[1, 0, 1], [0, 1, 1]], np.float32)
    assert multi_label(plan_of("bce(y)"), rows)
    assert multi_label(plan_of("bce(y)", activation="identity"), rows)
    assert not multi_label(plan_of("mse(y)"), rows)  # a regression of 0/1 values
    assert not multi_label(plan_of("bce(y)"), rows * 0.5)  # soft targets
    assert not multi_label(plan_of("bce(y)", units=1), rows[:, :1])  # one label: a binary classifier
