"""Stages, parameter names and refusals of the recurrent lowering."""

from pathlib import Path

import pytest

import nngraph
from nngraph.compile.recurrent import lower_recurrent
from nngraph.errors import BuildError

SPECS = Path(__file__).resolve().parents[2] / "specs"


def plan_of(name):
    checked = nngraph.load(SPECS / name)
    return lower_recurrent(checked.models[checked.train().model], checked.train().loss)


def test_only_the_recurrent_units_loop():
    plan = plan_of("sine_elman.nn")
    assert [(tuple(u.name for u in s.units), s.loop) for s in plan.stages] == [(("h",), True), (("y",), False)]
    h = plan.unit("h")
    assert [e.source for e in h.outer] == ["x"] and [(e.source, e.delay) for e in h.inner] == [("h", 1)]


def test_feedback_between_groups_makes_one_loop():
    plan = plan_of("stacked_elman.nn")
    assert [([u.name for u in s.units], s.loop) for s in plan.stages] == [(["h1", "h2"], True), (["y"], False)]
    assert plan.history == {"x": 0, "h1": 1, "h2": 1, "y": 0}


def test_parameters_are_named_as_in_feedforward_models():
    assert set(plan_of("adding_lstm.nn").params) == {"x->h.weight", "h->h@1.weight", "h.bias", "h->y.weight",
                                                     "y.bias"}
    shapes = {n: p.shape for n, p in plan_of("char_rnn.nn").params.items()}
    assert shapes["x->h1.weight"] == (64, 384) and shapes["h1->h1@1.weight"] == (128, 384)
    assert plan_of("char_rnn.nn").unit("h1").own == "h1->h1@1.weight"


def test_dropout_inside_a_loop_is_refused():
    checked = nngraph.loads("model m { input x[2] sequence; layer h[4] tanh dropout=0.5; output y[1]\n"
                            "x -> h -> y; h -> h delay 1 }\ntrain { data sine; loss mse(y) }")
    with pytest.raises(BuildError, match="dropout"):
        lower_recurrent(checked.models["m"], checked.train().loss)
