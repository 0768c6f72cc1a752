"""One verdict, from `check`: every model an executor or a method would refuse at `train` is refused by `check`,
at the line and column of its cause. (Refusals that need the data, such as examples that do not fit the inputs
or a text alphabet wider than the input, stay at run time: docs/language.md section 13.)"""

import re

import pytest

from nngraph.errors import ValidationError

from .helpers import PATH, check, errors_of

RECURRENT_DATA = "data adding(n=20, length=5); loss mse(y); optimizer adam(lr=0.01); batch 10; epochs 1"
BARS = "data bars(size=3); optimizer sgd(lr=0.1); batch 4; epochs 1"
MOONS = "data moons(n=20); method boltzmann(sweeps=1); optimizer sgd(lr=0.1); batch 4; epochs 1"

# name: (spec text, the fragment the error points at, what the message says); a connection's errors point at
# its link (the arrow and the target), as every connection error does
REFUSALS = {
    "gaussian hidden units (cd)": (
        "model m { visible v[9] bernoulli; hidden h[4] gaussian; v <-> h }\n"
        f"train {{ model m; {BARS}; method cd(k=1) }}",
        "hidden h[4] gaussian", "hidden unit 'h' is gaussian"),
    "gaussian hidden units (boltzmann)": (
        "model m { visible v[9] bernoulli; hidden h[4] gaussian; v <-> h }\n"
        f"train {{ model m; {BARS}; method boltzmann(sweeps=1) }}",
        "hidden h[4] gaussian", "hidden unit 'h' is gaussian"),
    "two linked gaussian groups": (
        "model m { visible a[1] gaussian; visible b[1] gaussian; hidden h[2]; a <-> b; a <-> h; b <-> h }\n"
        f"train {{ model m; {MOONS} }}",
        "<-> b", "joins two gaussian groups"),
    "a lateral link in a gaussian group": (
        f"model m {{ visible a[2] gaussian; hidden h[2]; a <-> a; a <-> h }}\ntrain {{ model m; {MOONS} }}",
        "<-> a;", "joins two gaussian groups"),
    "a directed connection in a Boltzmann machine": (
        f"model m {{ visible v[9] bernoulli; hidden h[4]; v <-> h; v -> h }}\ntrain {{ model m; {BARS}; method cd }}",
        "-> h }", "directed connection in Boltzmann machine"),
    "a delayed connection in a Boltzmann machine": (
        "model m { visible v[9] bernoulli; hidden h[4]; v <-> h; h -> h delay 1 }\n"
        f"train {{ model m; {BARS}; method boltzmann(sweeps=1) }}",
        "-> h delay 1", "directed connection in Boltzmann machine"),
    "a noise unit in a recurrent model": (
        "model m { input x[2] sequence; noise n[3] normal; layer h[8] tanh; output y[1] identity\n"
        f"  x -> h; n -> h; h -> h delay 1; h -> y }}\ntrain {{ model m; {RECURRENT_DATA} }}",
        "noise n[3] normal", "'n' \\(noise\\) cannot be part of a recurrent model"),
    "a sample unit in a recurrent vae": (
        "model m { input x[4]; layer h[8] tanh; layer mu[2]; layer lv[2]; sample z ~ normal(mu, lv)\n"
        "  layer d[8] tanh; output y[4] sigmoid; x -> h -> mu; h -> lv; z -> d -> y; d -> d delay 1 }\n"
        "train { model m; data bars(size=2); method vae; loss bce(y, x) + kl(z); batch 4; epochs 1 }",
        "sample z ~ normal(mu, lv)", "'z' \\(sample\\) cannot be part of a recurrent model"),
    "a recurrent gan generator": (
        "model g { noise z[4] normal; layer a[8] tanh; output o[2] identity; z -> a -> o; a -> a delay 1 }\n"
        "model d { input x[2]; layer b[8] relu; output real[1] sigmoid; x -> b -> real }\n"
        "train { method gan(generator=g, discriminator=d); data ring(n=40); batch 8; epochs 1 }",
        "noise z[4] normal", "'z' \\(noise\\) cannot be part of a recurrent model"),
    "visible and hidden units under backprop": (
        "model m { visible v[9] bernoulli; hidden h[4]; output y[9] sigmoid; v -> h -> y }\n"
        f"train {{ model m; {BARS}; loss bce(y, v) }}",
        "visible v[9] bernoulli", "'v' is a visible unit of a Boltzmann machine; backprop"),
    "nesterov without momentum": (
        "model m { input x[2]; output y[2] softmax; x -> y }\n"
        "train { model m; data xor; loss cross_entropy(y); optimizer sgd(lr=0.1, nesterov=true) }",
        "sgd(lr=0.1, nesterov=true)", "nesterov needs a momentum above 0"),
    "nesterov without momentum in a gan's own optimizer": (
        "model g { noise z[4] normal; output o[2] identity; z -> o }\n"
        "model d { input x[2]; output real[1] sigmoid; x -> real }\n"
        "train { method gan(generator=g, discriminator=d, g_optimizer=sgd(nesterov=true)); data ring(n=40) }",
        "sgd(nesterov=true)", "nesterov needs a momentum above 0"),
    "early stopping on a validation metric without a validation split": (
        "model m { input x[2]; output y[2] softmax; x -> y }\n"
        "train { model m; data xor; loss cross_entropy(y); early_stopping monitor=val_loss }",
        "early_stopping monitor=val_loss", "monitors 'val_loss' but there is no validation split"),
}


def position(text: str, fragment: str) -> tuple[int, int]:
    """Line and column (from 1) of the one place `fragment` is written."""
    assert text.count(fragment) == 1, fragment
    before = text[: text.index(fragment)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_check_refuses_what_a_run_would(case):
    text, fragment, message = REFUSALS[case]
    errors = errors_of(text)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert isinstance(error, ValidationError) and error.hint
    assert re.search(message, error.message), error.message
    assert (error.span.path, error.span.line, error.span.column) == (PATH, *position(text, fragment)), str(error)


def test_a_directed_twin_of_a_symmetric_link_is_named_redundant():
    (error,) = errors_of(REFUSALS["a directed connection in a Boltzmann machine"][0])
    assert error.hint == "remove it: `v <-> h` links them already, both ways"
    (error,) = errors_of(REFUSALS["a delayed connection in a Boltzmann machine"][0])
    assert "joined by symmetric links only: `h <-> h`" in error.hint


def test_what_runs_is_still_accepted():
    """The issue's `layer h1[48] lstm dropout=0.2` and a gaussian visible group beside a bernoulli one."""
    check("model m { input x[2] sequence; layer h1[48] lstm dropout=0.2; output y[1] identity; x -> h1 -> y }\n"
          f"train {{ model m; {RECURRENT_DATA} }}")
    check(f"model m {{ visible a[2] gaussian; hidden h[2]; a <-> h; h <-> h }}\ntrain {{ model m; {MOONS} }}")
    check("model m { input x[2]; output y[2] softmax; x -> y }\n"
          "train { model m; data xor; loss cross_entropy(y); early_stopping monitor=val_loss; validation 0.25 }")
