"""`dtype tf32` / `dtype bfloat16`: float32 values whose matrix products run at that precision on a GPU. Elsewhere
training refuses them where they were asked for (the spec's setting, or --dtype), exit 1, before any run folder;
evaluation and sampling of such a spec compute in float32. tests/backend/test_gpu_products.py trains with them
on a GPU where there is one."""

import pytest

from tests.cli.helpers import run_cli, write

SPEC = """model m {
  input x[2]
  layer h[8] relu
  output y[3] softmax
  x -> h -> y
}
train t {
  model m
  data spirals(n=60)
  loss cross_entropy(y)
  dtype DTYPE
  epochs 1
}
"""


@pytest.mark.parametrize("mode", ["tf32", "bfloat16"])
def test_the_spec_may_ask_for_them_and_check_accepts_it(mode, tmp_path):
    result = run_cli("check", write(tmp_path, "m.nn", SPEC.replace("DTYPE", mode)))
    assert result.code == 0, result.both


@pytest.mark.parametrize("mode", ["tf32", "bfloat16"])
def test_training_on_numpy_is_refused_at_the_spec_setting(mode, tmp_path):
    spec = write(tmp_path, "m.nn", SPEC.replace("DTYPE", mode))
    result = run_cli("train", spec, "--out", tmp_path / "run")
    assert result.code == 1
    assert f"m.nn:11:3: error: dtype {mode} is a GPU mode" in result.err and "Traceback" not in result.both
    assert "--backend cupy" in result.err
    assert not (tmp_path / "run").exists()


def test_the_command_line_option_is_refused_on_numpy_too(tmp_path):
    spec = write(tmp_path, "m.nn", SPEC.replace("DTYPE", "float32"))
    result = run_cli("train", spec, "--dtype", "bfloat16", "--out", tmp_path / "run")
    assert result.code == 1 and "dtype bfloat16 is a GPU mode" in result.err and "Traceback" not in result.both
    assert not (tmp_path / "run").exists()


def test_a_misspelt_mode_is_refused_with_a_suggestion(tmp_path):
    result = run_cli("check", write(tmp_path, "m.nn", SPEC.replace("DTYPE", "tf3")))
    assert result.code == 1 and "m.nn:11:9: error: dtype: expected one of float32, float64, tf32, bfloat16" in \
        result.err and "did you mean 'tf32'" in result.err


def test_evaluation_of_such_a_spec_runs_in_float32(tmp_path):
    trained = write(tmp_path, "f.nn", SPEC.replace("DTYPE", "float32"))
    assert run_cli("train", trained, "--out", tmp_path / "run", "--quiet").code == 0
    spec = write(tmp_path, "m.nn", SPEC.replace("DTYPE", "tf32"))
    result = run_cli("eval", spec, "--checkpoint", tmp_path / "run" / "checkpoint.npz")
    assert result.code == 0, result.both
    assert "accuracy" in result.out
