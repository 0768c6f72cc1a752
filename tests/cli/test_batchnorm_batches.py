"""A batchnorm whose channel holds one value per example (a vector) has no variance in a training batch of one row
(PyTorch raises there): `batch 1` is refused by `check`, a training split that leaves a last batch of one row when
`train` loads the data; `path:line:col: error`, the line, a caret, a hint; exit 1; nothing written. Found widening
the PyTorch twin's specs to batch 1 and last partial batches (benchmarks/twin): nngraph trained on, normalising
the row to the shift and pulling the running variance towards 0."""

from .helpers import run_cli, write
from .test_error_output import assert_rendered, diagnostics

SPEC = ("model m {\n  input x[2]\n  layer h[3] relu batchnorm\n  output y[1] sigmoid\n  x -> h -> y\n}\n"
        "train {\n  data xor\n  loss bce(y)\n  BATCH\n  epochs 1\n}\n")


def test_batch_1_is_refused_by_check(tmp_path):
    text = SPEC.replace("BATCH", "batch 1")
    path = write(tmp_path, "one.nn", text)
    result = run_cli("check", path)
    assert result.code == 1 and "Traceback" not in result.both
    (block,) = diagnostics(result.err)
    assert_rendered(block, path, text, 10, 3, "batch 1: batchnorm on 'h' normalises each of its values over the "
                    "batch's rows, and one row has no variance",
                    "use a batch of at least 2, or `layernorm` (each example on its own)")


def test_a_last_batch_of_one_row_is_refused_before_the_run_folder_is_made(tmp_path):
    text = SPEC.replace("BATCH", "batch 3")  # xor's 4 examples: batches of 3 and 1
    path, out = write(tmp_path, "three.nn", text), tmp_path / "run"
    assert run_cli("check", path).code == 0  # the data's size is known when it loads
    result = run_cli("train", path, "--out", out, "-q")
    assert result.code == 1 and "Traceback" not in result.both
    (block,) = diagnostics(result.err)
    assert_rendered(block, path, text, 10, 3, "the training split's 4 examples leave a last batch of one row "
                    "(batch 3), and batchnorm on 'h' normalises each of its values over the batch's rows: one row "
                    "has no variance", "use batch 2 or 4, or `layernorm` (each example on its own)")
    assert not out.exists()


def test_an_image_batchnorm_may_take_batch_1(tmp_path):
    """Its channels hold an image's values: one example has a variance."""
    text = ("model m {\n  input x[1, 2, 2]\n  layer c relu batchnorm\n  output y[1] sigmoid\n"
            "  x -> c conv(filters=2, kernel=1) -> y\n}\n"
            "train {\n  data npz(\"d.npz\")\n  loss bce(y)\n  batch 1\n  epochs 1\n}\n")
    assert run_cli("check", write(tmp_path, "image.nn", text)).code == 0
