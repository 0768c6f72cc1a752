"""Backprop specs train to their stated quality; runs write their files; resume is exact."""

import json
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.errors import TrainingError
from nngraph.train.checkpoint import load_checkpoint
from nngraph.train.provenance import CheckpointWarning

SPECS = Path(__file__).resolve().parents[2] / "specs"


def train(name, tmp_path, *overrides):
    checked = nngraph.load(SPECS / f"{name}.nn", list(overrides))
    return nngraph.fit(checked, out=tmp_path / name)


def test_xor_mlp_fits_all_four_points(tmp_path):
    summary = train("xor", tmp_path)
    assert summary["train"]["accuracy"] == 1.0


def test_logistic_regression_cannot_fit_xor(tmp_path):
    summary = train("logistic_xor", tmp_path)
    assert summary["train"]["accuracy"] <= 0.75


def test_linear_regression_recovers_the_true_weights(tmp_path):
    summary = train("linear_regression", tmp_path)
    state, _ = load_checkpoint(Path(summary["run_dir"]) / "checkpoint.npz")
    from nngraph.data import load_dataset
    from nngraph.spec.parser import parse

    data = load_dataset(parse("train { data linear(n=512, features=3, noise=0.01) }").trains[0].get("data"),
                        SPECS, seed=0)
    weights = state["params.x->y.weight"].ravel()
    assert np.abs(weights - np.ravel(data.info["weights"])).max() < 0.02
    assert abs(state["params.y.bias"][0] - float(data.info["bias"])) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("name,floor", [("digits_logreg", 0.95), ("digits_mlp", 0.975), ("digits_cnn", 0.98),
                                        ("digits_subsampling", 0.95)])
def test_digits_models_reach_their_test_accuracy(name, floor, tmp_path):
    summary = train(name, tmp_path)
    assert summary["test"]["accuracy"] >= floor


def test_run_folder_holds_metrics_summary_checkpoint_and_curves(tmp_path):
    summary = train("xor", tmp_path, "epochs=20")
    run = Path(summary["run_dir"])
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 20 and json.loads(lines[-1])["epoch"] == 20
    saved = json.loads((run / "summary.json").read_text())
    assert saved["epochs_run"] == 20 and saved["seed"] == 0 and len(saved["spec_hash"]) == 16
    assert (run / "checkpoint.npz").exists() and (run / "curves.png").exists()


def test_a_run_resumed_halfway_equals_the_run_straight_through(tmp_path):
    # dropout, adam moments, shuffling and early stopping all cross the resume; the schedule is
    # constant because a cosine schedule depends on the total number of epochs by design
    same = ["test=0.5", "schedule=constant"]
    straight = train("digits_mlp", tmp_path / "a", "epochs=4", *same)
    half = tmp_path / "b"
    checked = nngraph.load(SPECS / "digits_mlp.nn", ["epochs=2", *same])
    nngraph.fit(checked, out=half)
    checked = nngraph.load(SPECS / "digits_mlp.nn", ["epochs=4", *same])
    with pytest.warns(CheckpointWarning, match=r"epochs 2 \(now 4\)"):  # extending a run is said
        resumed = nngraph.fit(checked, resume=half)
    a, _ = load_checkpoint(Path(straight["run_dir"]) / "checkpoint.npz")
    b, _ = load_checkpoint(half / "checkpoint.npz")
    assert resumed["epochs_run"] == 4
    for key in a:
        if key.startswith("params."):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_diverging_run_stops_naming_the_epoch_and_keeps_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    nngraph.fit(nngraph.load(SPECS / "linear_regression.nn", ["epochs=1"]), out=out)
    before = (out / "checkpoint.npz").read_bytes()
    checked = nngraph.load(SPECS / "linear_regression.nn", ["optimizer=sgd(lr=1e6)", "epochs=50"])
    with pytest.raises(TrainingError, match=r"epoch \d+, step \d+"), pytest.warns(CheckpointWarning):
        nngraph.fit(checked, resume=out)
    assert (out / "checkpoint.npz").read_bytes() == before


def test_same_seed_same_numbers(tmp_path):
    a = train("xor", tmp_path / "a", "epochs=30")
    b = train("xor", tmp_path / "b", "epochs=30")
    assert a["train"]["loss"] == b["train"]["loss"]


NOISY_XOR = """
model m { input x[2]; noise n[2] normal; layer h[8] tanh; output y[1] sigmoid; x -> h; n -> h; h -> y }
train { model m; data xor; loss bce(y); optimizer sgd(lr=0.5); batch 4; epochs 5; seed 1 }
"""


def test_a_model_with_noise_inputs_evaluates_the_same_every_time(tmp_path):
    """A noise input is drawn in evaluation too (it is an input): from the evaluation's own generator, so the
    summary and `eval` repeat (they had drawn from an unseeded one), and the run's draws are untouched."""
    checked = nngraph.loads(NOISY_XOR, "noisy.nn")
    first, again = (nngraph.fit(checked, out=tmp_path / name) for name in ("a", "b"))
    assert first["train"] == again["train"]
    from nngraph.session import load_trained

    method = load_trained(checked, None, first["run_dir"] + "/checkpoint.npz").method
    data = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    assert np.array_equal(method.predict(data), method.predict(data))
