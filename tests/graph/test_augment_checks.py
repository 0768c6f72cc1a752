"""The `augment` setting: its options typed and bounded, and refused where there are no images to move."""

import pytest

from nngraph.errors import ValidationError

from .helpers import assert_error, check, errors_of, source, the_only_error, with_train

# A model of 8x8 images on lines 1-5; the train block's settings from line 9.
IMAGES = """
model m {
  input x[1, 8, 8]
  output y[10] softmax
  x -> y
}
train {
  data digits(shape=[1, 8, 8])
  loss cross_entropy(y)
"""


def with_images(*settings: str) -> str:
    return source(IMAGES) + "".join(f"  {s}\n" for s in settings) + "}\n"


def test_options_are_read_and_the_rest_filled_in():
    config = check(with_images("augment shift=2 rotate=10")).trains[0]
    assert config.augment == {"shift": 2, "rotate": 10.0, "noise": 0.0}
    assert check(with_images("epochs 1")).trains[0].augment is None


# (setting written on line 9, message, column, hint)
AUGMENT_ERRORS = {
    "misspelt option": ("augment shfit=2", "augment has no option 'shfit'", 11, "did you mean 'shift'\\?"),
    "fractional shift": ("augment shift=1.5", "augment: shift expects a whole number, got 1.5", 17, None),
    "negative noise": ("augment noise=-0.1", "augment: noise: -0.1 is out of range \\[0, inf\\)", 17, None),
    "rotation over a half turn": ("augment rotate=200", "augment: rotate: 200 is out of range \\[0, 180\\]", 18,
                                  None),
    "a value instead of options": ("augment shift(2)", "augment takes options written name=value", 11,
                                   "augment shift=2 rotate=10 noise=0.05"),
    "no option at all": ("augment", "augment needs at least one of shift, rotate, noise", 3, None),
}


@pytest.mark.parametrize("case", sorted(AUGMENT_ERRORS))
def test_augment_error(case):
    setting, match, column, hint = AUGMENT_ERRORS[case]
    the_only_error(with_images(setting), match, 9, column, hint, ValidationError)


def test_a_model_without_an_image_input_is_refused_at_the_setting():
    the_only_error(with_train("augment noise=0.1"), r"augment transforms images shaped \[channels, rows, "
                   r"columns\]; model 'm' takes x\[2\]", 10, 3, "x\\[1, 28, 28\\]", ValidationError)


def test_an_environment_is_refused():
    text = source("""
        model policy {
          input obs[4]
          output pi[2] softmax
          obs -> pi
        }
        train {
          env cartpole
          method reinforce
          steps 100
          augment shift=1
        }""")
    refusals = [e for e in errors_of(text) if "augment" in e.message]  # the model is not a whole policy either
    assert len(refusals) == 1
    assert_error(refusals[0], "augment transforms data examples; an environment has none", 10, 3)
