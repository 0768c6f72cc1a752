"""One test per kind of train-block error: settings, optimizers, methods, losses."""

import pytest

from nngraph.errors import ValidationError

from .helpers import assert_error, check, errors_of, source, the_only_error, with_train

# (setting written on line 10 of helpers.XOR's train block, message, column, hint)
SETTING_ERRORS = {
    "lr of 0": ("optimizer sgd(lr=0)", "sgd: lr: 0 is out of range \\(0, inf\\)", 20, None),
    "negative lr": ("optimizer adam(lr=-1e-3)", "adam: lr: -0.001 is out of range \\(0, inf\\)", 21, None),
    "momentum of 1": ("optimizer sgd(momentum=1)", "sgd: momentum: 1 is out of range \\[0, 1\\)", 26, None),
    "batch of 0": ("batch 0", "batch: 0 is out of range \\[1, inf\\)", 9, None),
    "fractional batch": ("batch 2.5", "batch: expected a whole number, got 2.5", 9, None),
    "validation of 1": ("validation 1", "validation: 1 is out of range \\[0, 1\\)", 14, None),
    "unknown optimizer": ("optimizer adma(lr=0.1)", "unknown optimizer 'adma'", 13, "did you mean 'adam'\\?"),
    "unknown optimizer option": ("optimizer sgd(lr=0.1, moment=0.9)", "optimizer 'sgd' has no option 'moment'",
                                 25, "did you mean 'momentum'\\?"),
    "unknown method": ("method backprp", "unknown method 'backprp'", 10, "did you mean 'backprop'\\?"),
    "unknown schedule": ("schedule cosin", "unknown schedule 'cosin'", 12, "did you mean 'cosine'\\?"),
    "unknown train setting": ("epoch 5", "unknown train setting 'epoch'", 3, "did you mean 'epochs'\\?"),
    "unknown monitor": ("early_stopping monitor=val_los", "early_stopping can monitor", 3,
                        "did you mean 'val_loss'\\?"),
    "cd on deterministic units": ("method cd(k=1)", "cd trains restricted Boltzmann machines; 'x' is deterministic",
                                  10, "`visible` or `hidden`"),
}


@pytest.mark.parametrize("case", sorted(SETTING_ERRORS))
def test_setting_error(case):
    setting, match, column, hint = SETTING_ERRORS[case]
    the_only_error(with_train(setting), match, 10, column, hint, ValidationError)


def test_setting_written_twice():
    the_only_error(with_train("epochs 5", "epochs 6"), "'epochs' is set twice", 11, 3, "first set at line 10")


def test_xor_base_is_valid():
    assert check(with_train("epochs 5")).trains[0].epochs == 5


RBM = """
    model r {
      visible v[4]
      hidden h[2]
      v <-> h
    }
    train {
      data bars
      method METHOD
    }"""


def _rbm(method: str) -> str:
    return RBM.replace("METHOD", method)


RBM_CD0 = _rbm("cd(k=0)")


def test_cd_with_k_below_1():
    errors = errors_of(RBM_CD0)
    assert_error(errors[0], "cd: k: 0 is out of range \\[1, 10000\\]", 8, 15)


def test_cd_with_k_below_1_is_the_only_error():
    the_only_error(RBM_CD0, "cd: k: 0 is out of range", 8, 15)


def _loss(expression: str) -> str:
    return source(with_train()).replace("loss bce(y)", f"loss {expression}")


@pytest.mark.parametrize("expression, match, column, hint", [
    ("bce(yy)", "loss names unknown unit 'yy'", 8, "did you mean 'y'\\?"),
    ("bce(y) + kl(y)", "kl\\(\\.\\.\\.\\) applies to a sample unit; 'y' is a", 17, None),
    ("cross_entropy(y)", "cross_entropy expects a softmax unit; 'y' uses sigmoid", 8,
     "declare it `output y\\[1\\] softmax`, or score its independent probabilities with bce"),
])
def test_loss_error(expression, match, column, hint):
    the_only_error(_loss(expression), match, 9, column, hint, ValidationError)


REFUSED_LOSSES = [
    ("bec(y)", "unknown loss 'bec'", "did you mean 'bce'\\?"),
    ("bce(y) - kl(y)", "a loss is a sum of weighted terms", None),
]


@pytest.mark.parametrize("expression, match, hint", REFUSED_LOSSES)
def test_refused_loss(expression, match, hint):
    assert_error(errors_of(_loss(expression))[0], match, 9, 8, hint)


@pytest.mark.parametrize("expression, match, hint", REFUSED_LOSSES)
def test_refused_loss_is_the_only_error(expression, match, hint):
    the_only_error(_loss(expression), match, 9, 8, hint)


GAN_HALF = """
    model g {
      noise z[4] normal
      output p[2]
      z -> p
    }
    train {
      data ring
      method gan(generator=g{more})
    }"""


def test_gan_naming_an_unknown_discriminator():
    the_only_error(GAN_HALF.replace("{more}", ", discriminator=d"), "no model named 'd'", 8, 10)


def test_gan_without_a_discriminator():
    the_only_error(GAN_HALF.replace("{more}", ""), "gan needs discriminator=MODEL", 8, 10,
                   "discriminator=d")


def test_backprop_without_a_loss():
    text = source(with_train()).replace("  loss bce(y)\n", "")
    the_only_error(text, "backprop needs a loss", 7, 1, "loss cross_entropy")


# ---- method options: declared once with their types and ranges (graph/methods.py: METHODS) ----------------

@pytest.mark.parametrize("method, match, at", [
    ("pcd(k=1, chains=0)", "pcd: chains: 0 is out of range \\[1, inf\\)", "0)"),  # was refused at run time
    ("boltzmann(anneal=[[hot, 2]])", "anneal: expected a list of \\[temperature, sweeps\\] pairs", "[["),
    ("boltzmann(anneal=[[2, 1.5]])", "anneal: expected a list of \\[temperature, sweeps\\] pairs", "[["),
    ("boltzmann(order=randm)", "boltzmann: order expects one of random, sequential, parallel", "randm"),
    ("boltzmann(noisy_clamp=0.7)", "boltzmann: noisy_clamp: 0.7 is out of range \\[0, 0.5\\]", "0.7"),
    ("cd(k=1, k=2)", "cd: option 'k' is given twice", "k=2"),
    ("vae(samples=two)", "vae: samples expects a whole number, got the name `two`", "two"),
])
def test_a_bad_method_option_is_refused_where_it_is_written(method, match, at):
    text = _rbm(method)
    line = source(text).splitlines()[7]
    the_only_error(text, match, 8, line.index(at) + 1, kind=ValidationError)


def test_a_misspelt_method_option_choice_gets_a_hint():
    error = the_only_error(_rbm("boltzmann(order=randm)"), "order", 8, 26)
    assert "did you mean 'random'" in error.hint


def test_a_gan_optimizer_option_must_be_an_optimizer_call():
    text = source(GAN_HALF.replace("{more}", ", discriminator=d, g_optimizer=3"))
    the_only_error(text, "gan: g_optimizer expects a name or a call, like adam\\(lr=1e-3\\), got 3", 8,
                   text.splitlines()[7].index("3") + 1)


def test_every_declared_lower_bound_is_enforced_by_check():
    """Whatever a method declares, check reads: each whole-number option one below its minimum is refused."""
    from nngraph.graph.methods import METHODS

    cases = [(name, option, declared.minimum) for name, spec in METHODS.items()
             for option, declared in spec.options.items() if declared.kind == "int" and declared.minimum is not None]
    assert len(cases) >= 8
    for name, option, minimum in cases:
        text = _rbm(f"{name}({option}={minimum - 1})")
        errors = errors_of(text)
        assert any(f"{name}: {option}: {minimum - 1} is out of range" in e.message for e in errors), \
            [e.message for e in errors]


def test_a_gan_generator_with_data_inputs_is_refused_by_check():
    """It was refused only when a run built the method."""
    text = """
    model g {
      noise z[4] normal
      input c[2]
      output p[2]
      z -> p
      c -> p
    }
    model d {
      input p[2]
      output real[1] sigmoid
      p -> real
    }
    train {
      data ring
      method gan(generator=g, discriminator=d)
    }"""
    error = the_only_error(text, "generator 'g' has data inputs", 3, 3)
    assert "noise z[16] normal" in error.hint
