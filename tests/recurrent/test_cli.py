"""`nngraph train` and `nngraph sample` on character models; bad input gives exit 1 and no traceback."""

import pytest

from tests.cli.helpers import SPECS, run_cli

CHAR = SPECS / "char_rnn.nn"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("char") / "run"
    result = run_cli("train", CHAR, "--out", out, "-q", "--set", "epochs=1")
    assert result.code == 0, result.both
    return out / "checkpoint.npz"


def test_sample_continues_the_prime(checkpoint, tmp_path):
    result = run_cli("sample", CHAR, "--checkpoint", checkpoint, "--prime", "A network", "--length", "40",
                     "--temperature", "0.5")
    assert result.code == 0, result.both
    assert result.out.startswith("A network") and len(result.out.rstrip("\n")) >= len("A network") + 30
    target = tmp_path / "out.txt"
    result = run_cli("sample", CHAR, "--checkpoint", checkpoint, "--length", "25", "-o", target)
    assert result.code == 0 and "wrote" in result.out
    assert len(target.read_text(encoding="utf-8")) == 25


def test_same_seed_same_text(checkpoint):
    args = ("sample", CHAR, "--checkpoint", checkpoint, "--prime", "The", "--length", "30", "--seed", "3")
    assert run_cli(*args).out == run_cli(*args).out


def test_prime_with_unseen_characters_is_a_clear_error(checkpoint):
    result = run_cli("sample", CHAR, "--checkpoint", checkpoint, "--prime", "Zürich%")
    assert result.code == 1 and "never saw" in result.err and "'ü'" in result.err
    assert "Traceback" not in result.both


def write_spec(tmp_path, body: str, data: str) -> str:
    spec = tmp_path / "m.nn"
    spec.write_text(body + "\ntrain { model m; data " + data + "; loss mse(y); epochs 1 }\n", encoding="utf-8")
    return spec


def test_sequences_longer_than_max_length(tmp_path):
    spec = write_spec(tmp_path, "model m { input x[1] sequence max_length=20; layer h[4] tanh; output y[1]\n"
                      "x -> h -> y; h -> h delay 1 }", "sine(n=8, length=50)")
    result = run_cli("train", spec, "--out", tmp_path / "run", "-q")
    assert result.code == 1 and "max_length=20" in result.err and "Traceback" not in result.both


def test_text_that_is_not_utf8(tmp_path):
    (tmp_path / "t.txt").write_bytes(b"abc\xff\xfedef" * 20)
    spec = tmp_path / "m.nn"
    spec.write_text(CHAR.read_text(encoding="utf-8").replace("text/networks.txt", "t.txt"), encoding="utf-8")
    result = run_cli("train", spec, "--out", tmp_path / "run", "-q")
    assert result.code == 1 and "not UTF-8" in result.err


def test_alphabet_wider_than_the_input(tmp_path):
    spec = tmp_path / "m.nn"
    text = CHAR.read_text(encoding="utf-8").replace("x[64]", "x[16]")
    spec.write_text(text.replace("text/networks.txt", str(SPECS / "text" / "networks.txt")), encoding="utf-8")
    result = run_cli("train", spec, "--out", tmp_path / "run", "-q")
    assert result.code == 1 and "45 distinct characters" in result.err and "x[45]" in result.err


def test_sample_on_a_model_not_trained_on_text(tmp_path):
    spec = SPECS / "parity_gru.nn"
    assert run_cli("train", spec, "--out", tmp_path / "run", "-q", "--set", "epochs=1").code == 0
    result = run_cli("sample", spec, "--checkpoint", tmp_path / "run" / "checkpoint.npz")
    assert result.code == 1 and "character models" in result.err


def test_viz_unrolls_a_recurrent_spec(tmp_path):
    result = run_cli("viz", SPECS / "delay2_elman.nn", "--unroll", "4", "-o", tmp_path / "u.svg")
    assert result.code == 0 and (tmp_path / "u.svg").stat().st_size > 0


def test_predict_gives_every_step(tmp_path):
    import numpy as np

    spec = SPECS / "parity_gru.nn"
    assert run_cli("train", spec, "--out", tmp_path / "run", "-q", "--set", "epochs=1").code == 0
    np.save(tmp_path / "x.npy", np.ones((2, 5, 1), np.float32))
    result = run_cli("predict", spec, "--checkpoint", tmp_path / "run" / "checkpoint.npz", "--input",
                     tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.code == 0, result.both
    assert np.load(tmp_path / "y.npy").shape == (2, 5, 1)
