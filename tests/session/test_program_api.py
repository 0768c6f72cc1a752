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
