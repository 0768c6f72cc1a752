"""`nngraph.program`: which model a spec's program is of."""

from pathlib import Path

import pytest

import nngraph
from nngraph.errors import ValidationError

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_a_spec_training_several_models_needs_the_one_named():
    checked = nngraph.load(SPECS / "gan_digits.nn")
    with pytest.raises(ValidationError, match="trains several models \\(generator, discriminator\\): name the one"):
        nngraph.program(checked)
    assert nngraph.program(checked, "generator").model.name == "generator"


def test_an_unknown_model_is_refused_with_a_suggestion():
    with pytest.raises(ValidationError, match="no model named 'generater'.*did you mean 'generator'"):
        nngraph.program(nngraph.load(SPECS / "gan_digits.nn"), "generater")


@pytest.mark.parametrize("fmt", ["nn", "yaml"])
def test_fit_takes_spec_text_from_loads_and_keeps_it_on_its_surface(fmt, tmp_path):
    """`fit(loads(text))`: the text has no file name to tell its surface by (it ended with 'unknown spec suffix
    (none)' after the run folder was made); the run folder keeps it as spec.nn or spec.yaml."""
    specs = Path(__file__).resolve().parents[2] / "specs"
    text = (specs / f"xor.{fmt}").read_text().replace("300", "3")  # its epochs
    summary = nngraph.fit(nngraph.loads(text, fmt=fmt), out=tmp_path / "run", quiet=True)
    assert summary["epochs_run"] == 3
    assert (tmp_path / "run" / f"spec.{fmt}").read_text() == text


def test_evaluate_and_predict_a_checkpoint_as_the_commands_do(tmp_path):
    """`nngraph.evaluate` returns what `eval` prints (the summary's figures), `nngraph.predict` what `predict`
    saves: raw examples prepared as the training data was (here scaled with the training split's statistics)."""
    import numpy as np

    from nngraph.data import load_dataset
    from nngraph.errors import DataError
    from nngraph.spec.parser import parse_fragment

    text = (SPECS / "digits_mlp.nn").read_text()
    checked = nngraph.loads(text.replace("data digits", "data digits(scale=standard)", 1), "scaled.nn")
    summary = nngraph.fit(checked, out=tmp_path / "run", quiet=True)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    figures = nngraph.evaluate(checked, checkpoint)
    assert figures["test"] == summary["test"]
    assert nngraph.evaluate(checked, checkpoint, data="digits(limit=100)")["data"]["accuracy"] >= 0.9
    digits = load_dataset(parse_fragment("digits(limit=200)", "value_only", "<test>"), SPECS)
    probabilities = nngraph.predict(checked, checkpoint, digits.x)  # raw pixels: scaled as training's were
    assert probabilities.shape == (200, 10) and (probabilities.argmax(axis=1) == digits.y).mean() >= 0.9
    assert nngraph.predict(checked, checkpoint, digits.x[:3], unit="h_1").shape == (3, 128)
    with pytest.raises(DataError, match="x: expected a numeric array"):
        nngraph.predict(checked, checkpoint, np.array(["a", "b"]))
