"""The data's targets must fit the loss that reads them (section 7's target forms): a wrong shape is refused when
`train` loads the data, at the data setting, exit 1, nothing written; one class label per example fits a `[1, K]`
output. Found by the PyTorch twin (benchmarks/twin, fit family, outputs of shape [S, K]): a `[1, K]` output given
labels stopped with a numpy broadcast traceback, or, where the batch size equalled K, broadcast the labels against
the classes and reported a wrong loss; a wrong target shape anywhere failed inside the loss with a traceback."""

import json

import numpy as np
import pytest

import nngraph

from .helpers import run_cli, write
from .test_error_output import assert_rendered, diagnostics

SPEC = ("model m {\n  input x[3]\n  output OUTPUT\n  x -> y\n}\n"
        "train {\n  data npz(\"d.npz\")\n  loss LOSS\n  batch 3\n  epochs 0\n  dtype float64\n}\n")
X = np.random.default_rng(0).normal(size=(3, 3))

# name -> (output, loss, targets, message)
WRONG = {
    "labels for [2, 3]": ("y[2, 3] softmax", "cross_entropy(y)", np.array([0, 2, 1]),
                          "data 'npz' gives one class label per example, but cross_entropy(y) compares 'y' [2, 3] "
                          "with class labels of shape [2] or probability rows of shape [2, 3]"),
    "four targets for three units": ("y[3] identity", "mse(y)", np.zeros((3, 4)),
                                     "data 'npz' gives targets of shape [4] per example, but mse(y) compares 'y' [3] "
                                     "with targets of shape [3] (or class labels)"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_targets_of_the_wrong_shape_are_refused_at_the_data_setting(tmp_path, name):
    output, loss, y, message = WRONG[name]
    np.savez(tmp_path / "d.npz", x=X, y=y)
    text = SPEC.replace("OUTPUT", output).replace("LOSS", loss)
    path, out = write(tmp_path, "s.nn", text), tmp_path / "run"
    result = run_cli("train", path, "--out", out, "-q")
    assert result.code == 1 and "Traceback" not in result.both
    (block,) = diagnostics(result.err)
    assert_rendered(block, path, text, 7, 3, message,
                    "give targets of that shape (npz: the `y` array), or change the output unit's shape")
    assert not out.exists()


@pytest.mark.parametrize("y", [np.array([0, 2, 1]), np.array([[0], [2], [1]])], ids=["labels", "a column"])
def test_one_label_per_example_is_the_position_of_a_1_by_k_output(tmp_path, y):
    """Three examples and three classes: the shapes where the labels used to broadcast against the classes."""
    np.savez(tmp_path / "d.npz", x=X, y=y)
    text = SPEC.replace("OUTPUT", "y[1, 3] softmax").replace("LOSS", "cross_entropy(y)")
    checked = nngraph.loads(text, path=str(write(tmp_path, "s.nn", text)))
    nngraph.fit(checked, out=str(tmp_path / "run"), quiet=True)
    reported = json.loads((tmp_path / "run" / "summary.json").read_text())["train"]["loss"]
    program = nngraph.program(checked, "m", dtype="float64", seed=0)
    z = X @ program.get("x->y.weight") + program.get("y.bias")
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert reported == pytest.approx(-log_p[np.arange(3), y.ravel()].mean(), rel=1e-12)


def test_float_labels_in_the_labels_place_are_taken_where_they_are_whole_numbers(tmp_path):
    """Labels written as floats (a csv's, or an npz made from floats, as the PyTorch twin writes them) for a
    [2, 3] output: whole numbers train as the integer labels would; a fractional one is refused, named."""
    text = SPEC.replace("OUTPUT", "y[2, 3] softmax").replace("LOSS", "cross_entropy(y)")
    labels = np.array([[0, 2], [1, 1], [2, 0]])
    losses = []
    for y in (labels, labels.astype(float)):
        np.savez(tmp_path / "d.npz", x=X, y=y)
        checked = nngraph.loads(text, path=str(write(tmp_path, "s.nn", text)))
        nngraph.fit(checked, out=str(tmp_path / "run"), quiet=True, overwrite=True)
        losses.append(json.loads((tmp_path / "run" / "summary.json").read_text())["train"]["loss"])
    assert losses[0] == losses[1]
    np.savez(tmp_path / "d.npz", x=X, y=labels * 0.75)
    path, out = write(tmp_path, "s.nn", text), tmp_path / "refused"
    result = run_cli("train", path, "--out", out, "-q")
    assert result.code == 1 and "Traceback" not in result.both
    assert "data 'npz' gives class labels that are not whole numbers: 1.5 at example 0" in result.err
    assert not out.exists()
