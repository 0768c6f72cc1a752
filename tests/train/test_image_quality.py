"""PSNR and SSIM (scikit-image's formula and constants) and the bicubic baseline of super-resolution."""

import numpy as np
import pytest

from nngraph.data.dataset import regression
from nngraph.train.image_quality import bicubic, image_quality, psnr, ssim

rng = np.random.default_rng(7)


def test_ssim_of_an_image_with_itself_is_one():
    x = rng.random((4, 2, 9, 11))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_scikit_image():
    # skimage.metrics.structural_similarity(y, x, data_range=1.0) with its defaults, scikit-image 0.24
    x = (np.arange(64).reshape(8, 8) % 7) / 6.0
    assert ssim(np.sqrt(x)[None], x[None]) == pytest.approx(0.928791456670868, abs=1e-12)


def test_ssim_of_a_brightened_image_is_its_luminance_term():
    # y = x + c keeps every variance and covariance: each window's index is (2 mx my + C1) / (mx^2 + my^2 + C1)
    x = rng.random((1, 7, 7))
    mx, my, c1 = x.mean(), x.mean() + 0.2, 0.01 ** 2
    assert ssim(x + 0.2, x) == pytest.approx((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1), rel=1e-12)


def test_psnr_known_values():
    truth = np.zeros((2, 1, 4, 4))
    off = truth + np.array([0.1, 0.01])[:, None, None, None]  # MSEs 1e-2 and 1e-4: 20 and 40 dB
    assert psnr(off, truth) == pytest.approx(30.0)
    assert psnr(truth, truth) == pytest.approx(100.0)  # capped, not infinite


def test_bicubic_is_clipped_to_the_pixel_range():
    low = np.array([[[[0.0, 1.0], [1.0, 0.0]]]])
    up = bicubic(low, 2)
    assert up.shape == (1, 1, 4, 4) and up.min() == 0.0 and up.max() == 1.0


def test_image_quality_only_for_super_resolution_data():
    high = rng.random((3, 1, 8, 8)).astype(np.float32)
    low = high.reshape(3, 1, 4, 2, 4, 2).mean(axis=(3, 5))
    plain = regression(low, high, "pairs")
    assert image_quality(high, plain) == {}
    pairs = regression(low, high, "pairs", superres=2)
    figures = image_quality(high, pairs)
    assert figures["psnr"] == pytest.approx(100.0) and figures["ssim"] == pytest.approx(1.0)
    assert figures["bicubic_psnr"] == pytest.approx(psnr(bicubic(low, 2), high))
    assert figures["bicubic_ssim"] == pytest.approx(ssim(bicubic(low, 2), high))
