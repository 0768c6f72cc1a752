"""`superres(IMAGES, factor=2)`: (low, high) pairs from any image set, the low images block averages."""

import numpy as np

from nngraph.data.superres import block_average

from .helpers import load, load_fails


def test_block_average_is_the_mean_of_each_block():
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(block_average(image, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_digits_pairs():
    data = load("superres(digits, factor=2)")
    digits = load("digits")
    assert data.x.shape == (1797, 1, 4, 4) and data.y.shape == (1797, 1, 8, 8)
    assert data.x.dtype == data.y.dtype == np.float32
    assert data.task == "regression" and data.info["superres"] == 2
    np.testing.assert_array_equal(data.y.reshape(1797, 64), digits.x)
    np.testing.assert_allclose(data.x[5, 0, 1, 2], digits.x[5].reshape(8, 8)[2:4, 4:6].mean(), rtol=1e-6)


def test_images_with_their_own_shape_and_a_limit(tmp_path):
    images = np.random.default_rng(0).random((5, 3, 6, 9)).astype(np.float32)
    np.save(tmp_path / "pictures.npy", images)
    data = load('superres(npy("pictures.npy"), factor=3, limit=4)', tmp_path)
    assert data.x.shape == (4, 3, 2, 3) and data.y.shape == (4, 3, 6, 9)
    np.testing.assert_allclose(data.x, block_average(images[:4], 3), rtol=1e-6)


def test_the_factor_must_divide_the_image():
    load_fails("superres(digits, factor=3)", r"\[8, 8\] images do not split into 3 x 3 blocks", at="3")


def test_the_inner_set_must_hold_images(tmp_path):
    np.save(tmp_path / "rows.npy", np.zeros((4, 10), np.float32))
    load_fails('superres(npy("rows.npy"))', "are not images", at='npy', base_dir=tmp_path)


def test_a_factor_below_two_is_refused_at_the_option():
    load_fails("superres(digits, factor=1)", "factor", at="1")


def test_the_inner_call_is_required_and_checked():
    load_fails("superres(factor=2)", "superres needs an image set")
    load_fails("superres(digitz)", "unknown data set 'digitz'", at="digitz")


def test_the_inner_set_keeps_its_pixel_range():
    load_fails("superres(digits(scale=standard))", "scale=standard does not apply", at="digits")
