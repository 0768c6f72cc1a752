"""Super-resolution end to end: specs/digits_superres.nn (4x4 -> 8x8) beats bicubic interpolation after a short
run, `predict` gives high-resolution images, `sample` draws low / bicubic / model / truth side by side."""

import numpy as np
import pytest

import nngraph
from tests.cli.helpers import run_cli

from .helpers import SPECS

SPEC = SPECS / "digits_superres.nn"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("superres") / "run"
    summary = nngraph.fit(nngraph.load(SPEC, ["epochs=8"]), out=out)
    return out, summary


def test_the_digits_model_beats_bicubic_after_a_short_run(run):
    test = run[1]["test"]
    # after 40 epochs: 19.3 dB against bicubic's 13.4, SSIM 0.94 against 0.73
    assert test["psnr"] >= test["bicubic_psnr"] + 2.0
    assert test["ssim"] > test["bicubic_ssim"]


def test_eval_reports_psnr_and_ssim_beside_bicubic(run):
    result = run_cli("eval", SPEC, "--checkpoint", run[0] / "checkpoint.npz")
    assert result.code == 0, result.both
    test = next(line for line in result.out.splitlines() if line.startswith("test:"))
    for word in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim"):
        assert f" {word} " in test


def test_predict_gives_high_resolution_images(run, tmp_path):
    low = np.random.default_rng(0).random((5, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "low.npy", low)
    result = run_cli("predict", SPEC, "--checkpoint", run[0] / "checkpoint.npz", "--input", tmp_path / "low.npy",
                     "-o", tmp_path / "high.npy")
    assert result.code == 0, result.both
    assert np.load(tmp_path / "high.npy").shape == (5, 1, 8, 8)


def test_sample_draws_four_columns(run, tmp_path):
    result = run_cli("sample", SPEC, "--checkpoint", run[0] / "checkpoint.npz", "-n", "6", "-o", tmp_path / "s.png")
    assert result.code == 0, result.both
    assert "low / bicubic / model / truth for 6 test images" in result.out
    header = (tmp_path / "s.png").read_bytes()[16:24]  # IHDR: width, height
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    assert abs(width / height - 4 / 6) < 0.1  # 4 pictures a row, 6 rows
    array = run_cli("sample", SPEC, "--checkpoint", run[0] / "checkpoint.npz", "-n", "3", "-o", tmp_path / "s.npy")
    assert array.code == 0 and np.load(tmp_path / "s.npy").shape == (3, 1, 8, 8)


def test_sample_input_gives_high_resolution_images_of_the_given_low_ones(run, tmp_path):
    checkpoint = run[0] / "checkpoint.npz"
    low = np.random.default_rng(1).random((3, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "low.npy", low)
    array = run_cli("sample", SPEC, "--checkpoint", checkpoint, "--input", tmp_path / "low.npy",
                    "-o", tmp_path / "h.npy")
    assert array.code == 0 and "3 high-resolution images" in array.out, array.both
    predicted = run_cli("predict", SPEC, "--checkpoint", checkpoint, "--input", tmp_path / "low.npy",
                        "-o", tmp_path / "p.npy")
    assert predicted.code == 0, predicted.both
    np.testing.assert_array_equal(np.load(tmp_path / "h.npy"), np.load(tmp_path / "p.npy"))
    picture = run_cli("sample", SPEC, "--checkpoint", checkpoint, "--input", tmp_path / "low.npy",
                      "-o", tmp_path / "h.png")
    assert picture.code == 0 and "low / bicubic / model for 3 images of" in picture.out, picture.both
    header = (tmp_path / "h.png").read_bytes()[16:24]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    assert abs(width / height - 3 / 3) < 0.1  # 3 pictures a row (no truth), 3 rows


def test_sample_input_of_the_wrong_size_is_a_clear_error(run, tmp_path):
    np.save(tmp_path / "big.npy", np.zeros((2, 1, 8, 8), np.float32))
    result = run_cli("sample", SPEC, "--checkpoint", run[0] / "checkpoint.npz", "--input", tmp_path / "big.npy",
                     "-o", tmp_path / "h.png")
    assert result.code == 1 and "Traceback" not in result.both and not (tmp_path / "h.png").exists()
    assert "big.npy" in result.err, result.err
