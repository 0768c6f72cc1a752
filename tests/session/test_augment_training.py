"""A spec with `augment` trains to its stated quality through the whole run path, and resumes exactly."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.train.checkpoint import load_checkpoint
from nngraph.train.provenance import CheckpointWarning

SPECS = Path(__file__).resolve().parents[2] / "specs"
AUGMENT = "augment shift=1 rotate=10 noise=0.05"


def train(tmp_path, *overrides, resume=None):
    checked = nngraph.load(SPECS / "digits_cnn.nn", [AUGMENT, *overrides])
    return nngraph.fit(checked, out=None if resume else tmp_path, resume=resume)


def test_the_digits_cnn_learns_from_shifted_turned_noisy_digits(tmp_path):
    summary = train(tmp_path / "run", "epochs=8")
    assert summary["test"]["accuracy"] >= 0.85  # 0.897 measured: a pixel is an eighth of these images
    assert summary["train"]["accuracy"] >= 0.85  # the summary measures the digits as they are


def test_an_augmented_run_resumed_halfway_equals_the_run_straight_through(tmp_path):
    straight = train(tmp_path / "a", "epochs=4")
    train(tmp_path / "b", "epochs=2")
    with pytest.warns(CheckpointWarning, match=r"epochs 2 \(now 4\)"):  # extending a run is said
        resumed = train(None, "epochs=4", resume=tmp_path / "b")
    assert resumed["final"] == straight["final"]
    want, _ = load_checkpoint(Path(straight["run_dir"]) / "checkpoint.npz")
    got, _ = load_checkpoint(Path(resumed["run_dir"]) / "checkpoint.npz")
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
