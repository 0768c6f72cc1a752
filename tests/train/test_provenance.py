"""A checkpoint is judged by the model it holds, not by the text of its spec (train/provenance.py)."""

import warnings

import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.errors import TrainingError
from nngraph.session import build_method
from nngraph.train.provenance import CheckpointWarning, Expected, run_record, settings_difference

SPEC = """model m {
  input  x[2]
  layer  h[4] tanh dropout=0.1
  output y[1] sigmoid
  x -> h -> y
}
train { model m; data xor; loss bce(y); epochs 5 }
"""


def _record(text: str) -> dict:
    checked = nngraph.loads(text)
    config = checked.train()
    method = build_method(checked, config, get_backend("numpy", "float32"))
    return run_record(checked, config, method)


def _judge(saved_text: str, text: str, saved_hash="a", command="eval") -> list[str]:
    meta = {"spec_hash": saved_hash, "run": _record(saved_text)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        Expected(_record(text), "a", command)("ckpt.npz", meta)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize(("edit", "named"), [
    (("h[4] tanh", "h[4] relu"), "unit 'h' has activation tanh in the checkpoint, relu in this spec"),
    (("h[4]", "h[5]"), "unit 'h' has declared_shape [4] in the checkpoint, [5] in this spec"),
    (("x -> h -> y", "x -> h -> y\n  x -> y"), "this spec's model 'm' has the connection x->y dense"),
    (("  x -> h -> y", "  layer g[4]\n  x -> h -> y\n  x -> g -> y"), "has no unit 'g' in the checkpoint"),
    (("epochs 5", "epochs 5; method cd"), "method"),
])
def test_a_change_of_structure_is_refused_naming_it(edit, named):
    changed = SPEC.replace(*edit)
    if "method cd" in changed:  # cd needs a Boltzmann machine
        changed = "model m { visible x[2] bernoulli; hidden h[3] bernoulli; x <-> h }\n" \
                  "train { model m; data xor; method cd; epochs 5 }\n"
    with pytest.raises(TrainingError, match="is of another model") as caught:
        _judge(SPEC, changed)
    assert named in str(caught.value)


def test_what_does_not_change_the_parameters_is_at_most_a_warning():
    assert _judge(SPEC, "# a comment\n" + SPEC) == []
    assert _judge(SPEC, SPEC.replace("dropout=0.1", "dropout=0.3")) == []
    warned = _judge(SPEC, SPEC.replace("epochs 5", "epochs 31; seed 2"))
    assert len(warned) == 1 and "epochs 5 (now 31), seed not set (now 2)" in warned[0]


def test_the_hint_names_the_command():
    for command, word in (("resume", "resume with"), ("predict", "predict with")):
        with pytest.raises(TrainingError) as caught:
            _judge(SPEC, SPEC.replace("h[4]", "h[5]"), command=command)
        assert caught.value.hint.startswith(word)


def test_a_corrupt_record_is_an_error_not_a_crash():
    model = _record(SPEC)["model"]
    for bad in ({"model": {"method": "backprop", "models": ["m"]}}, {"model": {"method": "backprop", "models": {
            "m": {"units": "x"}}}}, {"model": model, "settings": "x"}):
        with pytest.raises(TrainingError, match="corrupt run record"):
            Expected(_record(SPEC), "a", "eval")("ckpt.npz", {"run": bad})


def test_an_old_checkpoint_is_checked_by_its_hash_else_warned_of():
    expected = Expected(_record(SPEC), "a", "eval")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        expected("ckpt.npz", {"spec_hash": "a"})
        assert caught == []
        expected("ckpt.npz", {"spec_hash": "b"})
    assert len(caught) == 1 and "older nngraph" in str(caught[0].message)


def test_settings_difference_in_one_line():
    assert settings_difference({"epochs": "epochs 5", "test": "test 0.5"}, {"epochs": "epochs 5"}) == \
        "test 0.5 (now not set)"
