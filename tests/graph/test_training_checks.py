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


RBM_CD0 = """
    model r {
      visible v[4]
      hidden h[2]
      v <-> h
    }
    train {
      data bars
      method cd(k=0)
    }"""


def test_cd_with_k_below_1():
    errors = errors_of(RBM_CD0)
    assert_error(errors[0], "cd: k: 0 is out of range \\[1, inf\\)", 8, 15)


def test_cd_with_k_below_1_is_the_only_error():
    the_only_error(RBM_CD0, "cd: k: 0 is out of range", 8, 15)


def _loss(expression: str) -> str:
    return source(with_train()).replace("loss bce(y)", f"loss {expression}")


@pytest.mark.parametrize("expression, match, column, hint", [
    ("bce(yy)", "loss names unknown unit 'yy'", 8, "did you mean 'y'\\?"),
    ("bce(y) + kl(y)", "kl\\(\\.\\.\\.\\) applies to a sample unit; 'y' is a", 17, None),
    ("cross_entropy(y)", "cross_entropy expects a softmax unit; 'y' uses sigmoid", 8, "softmax"),
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
