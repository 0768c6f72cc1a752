"""The one typed option system (spec/options.py): data sets, methods, optimizers and schedules declare their
options with it; the caller picks the error class, and every refusal points at the argument."""

import pytest

from nngraph.errors import DataError, ValidationError
from nngraph.spec.options import Choice, Option, bind, choose, completed
from nngraph.spec.parser import parse_fragment

OPTIONS = {"rate": Option("float", 0.1, above=0, below=1), "steps": Option("int", 5, minimum=1),
           "mode": Option("choice", "fast", choices=("fast", "slow"))}


def call(text: str):
    return parse_fragment(text, "value_only", "t.nn", 1, 1)


@pytest.mark.parametrize("error", [DataError, ValidationError])
def test_the_caller_picks_the_error_class_and_the_argument_is_pointed_at(error):
    with pytest.raises(error, match="run: rate: 1 is out of range \\(0, 1\\)") as info:
        bind(call("run(steps=2, rate=1)"), OPTIONS, error=error)
    assert type(info.value) is error and info.value.span.column == 19
    assert info.value.hint == "use a value above 0 and below 1 (> 0, < 1)"


def test_values_are_converted_and_defaults_filled_in():
    bound = bind(call("run(0.5, steps=3.0)"), OPTIONS)
    assert bound.values == {"rate": 0.5, "steps": 3, "mode": "fast"} and isinstance(bound["steps"], int)
    assert bound.given("rate") and not bound.given("mode")


@pytest.mark.parametrize("text, match", [
    ("run(mode=slwo)", "run: mode expects one of fast, slow, got the name `slwo`"),
    ("run(stpes=2)", "run has no option 'stpes'"),
    ("run(steps=2, steps=3)", "run: option 'steps' is given twice"),
    ("run(0.5, 2, fast, 4)", "run takes 3 positional argument"),
])
def test_refusals(text, match):
    with pytest.raises(ValidationError, match=match):
        bind(call(text), OPTIONS)


def test_choose_binds_a_named_choice_against_its_table():
    table = {"runner": OPTIONS}
    chosen = choose(call("runner(mode=slow)"), table, "runner")
    assert (chosen.name, chosen.options) == ("runner", {"rate": 0.1, "steps": 5, "mode": "slow"})
    with pytest.raises(ValidationError, match="unknown runner 'runer'") as info:
        choose(call("runer"), table, "runner")
    assert "did you mean 'runner'" in info.value.hint


def test_a_choice_made_in_python_gets_its_defaults_in_one_place():
    table = {"runner": OPTIONS}
    assert completed(Choice("runner", {"steps": 9}), table, "runner") == {"rate": 0.1, "steps": 9, "mode": "fast"}
    with pytest.raises(ValidationError, match="runner 'runner' has no option 'speed'"):
        completed(Choice("runner", {"speed": 2}), table, "runner")
