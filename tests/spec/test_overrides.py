"""`--set`: every train setting can be replaced with the syntax the spec uses, trailing options included, and a
bad one is an error in the user's words, positioned in the override (api.apply_overrides)."""

import pytest

from nngraph.api import SET_PATH, apply_overrides
from nngraph.errors import NngraphError
from nngraph.graph.check import check_spec
from nngraph.spec.parser import parse

SPEC = """model m { input x[2]; layer h[3] tanh; output y[1] sigmoid; x -> h -> y }
train { model m; data xor; loss bce(y); validation 0.25; epochs 3 }
"""


def _config(*overrides):
    return check_spec(apply_overrides(parse(SPEC), list(overrides))).train()


@pytest.mark.parametrize("override", ["early_stopping=4 monitor=loss_running",
                                      "early_stopping 4 monitor=loss_running",
                                      "early_stopping=monitor=loss_running patience=4",
                                      "early_stopping = 4 monitor=loss_running"])
def test_a_setting_with_trailing_options_can_be_set(override):
    stopping = _config(override).early_stopping
    assert (stopping["monitor"], stopping["patience"]) == ("loss_running", 4)


def test_plain_and_call_settings_still_work():
    config = _config("epochs=7", "optimizer=adam(lr=0.002)", "data=moons n=40")
    assert config.epochs == 7 and config.optimizer.options["lr"] == 0.002
    assert config.data.kwargs[0].name == "n"


def test_the_last_override_of_a_name_wins():
    assert _config("epochs=7", "epochs 9").epochs == 9


def test_an_override_replaces_the_whole_setting_and_merges_no_option():
    """docs/language.md, section 7: `--set "optimizer=adam(beta1=0.5)"` over `adam(lr=1e-2)` trains at adam's
    default rate, and an early_stopping without `patience=` is back to 10 (a reader could have merged them)."""
    spec = SPEC.replace("epochs 3", "epochs 3; optimizer adam(lr=1e-2); early_stopping monitor=loss_running patience=3")
    config = check_spec(apply_overrides(parse(spec), ["optimizer=adam(beta1=0.5)",
                                                      "early_stopping monitor=loss_running"])).train()
    assert (config.optimizer.options["lr"], config.optimizer.options["beta1"]) == (1e-3, 0.5)
    assert config.early_stopping["patience"] == 10


@pytest.mark.parametrize("override, message, column", [
    ("early_stopping=early_stopping(10, monitor=val_loss)", "got `early_stopping(10, monitor=val_loss)`", 1),
    ("epochs=5 foo", "unexpected end of file, expected '='", 10),
    ("=5", "--set expects a setting", 1),
])
def test_a_bad_override_is_positioned_and_in_the_users_words(override, message, column):
    with pytest.raises(NngraphError) as info:
        _config("epochs=2", override)
    error = info.value.errors[0] if hasattr(info.value, "errors") else info.value
    assert message in str(error.message) and "Call(" not in str(info.value)
    assert (error.span.path, error.span.line, error.span.column) == (SET_PATH, 2, column)
    assert error.hint is None or "not closed" not in error.hint
