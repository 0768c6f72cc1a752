"""What a user sees for a wrong `augment`: `path:line:col: error: ...`, the line, a caret, a hint; exit 1; nothing
written."""

import pytest

from .helpers import SPECS, run_cli, write
from .test_error_output import assert_rendered, diagnostics

IMAGES = ("model m {\n  input x[1, 8, 8]\n  output y[10] softmax\n  x -> y\n}\n"
          "train {\n  data digits(shape=[1, 8, 8])\n  loss cross_entropy(y)\n  AUGMENT\n}\n")
FLAT = IMAGES.replace("x[1, 8, 8]", "x[64]").replace("(shape=[1, 8, 8])", "")

# name -> (spec text, line, column, message, hint)
BAD_SPECS = {
    "option.nn": (IMAGES.replace("AUGMENT", "augment shift=2 rotat=10"), 9, 19, "augment has no option 'rotat'",
                  "did you mean 'rotate'?"),
    "flat.nn": (FLAT.replace("AUGMENT", "augment shift=1"), 9, 3,
                "augment transforms images shaped [channels, rows, columns]; model 'm' takes x[64]",
                "give the model one input shaped like `x[1, 28, 28]`, or leave augment out"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_check_shows_position_line_caret_and_hint(tmp_path, name):
    text, line, column, message, hint = BAD_SPECS[name]
    path = write(tmp_path, name, text)
    result = run_cli("check", path)
    assert result.code == 1 and "Traceback" not in result.both
    (block,) = diagnostics(result.err)
    assert_rendered(block, path, text, line, column, message, hint)


def test_a_gan_fed_flat_examples_is_refused_before_the_run_folder_is_made(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", SPECS / "gan_digits.nn", "--set", "augment shift=1", "--out", out, "-q")
    assert result.code == 1 and "Traceback" not in result.both
    (block,) = diagnostics(result.err)
    assert block[0] == ("<--set>:1:1: error: augment transforms images shaped [channels, rows, columns]; "
                        "the examples of 'digits' have shape [64]")
    assert not out.exists()
