"""Data augmentation (data/augment.py): what each transform does to a batch, measured against its draws."""

import numpy as np
import pytest

from nngraph.data.augment import augment_batch, augment_images, check_images, sample_bilinear, source_coordinates
from nngraph.data.dataset import classification
from nngraph.errors import DataError, Span

NONE = {"shift": 0, "rotate": 0.0, "noise": 0.0}


def images(n=32, channels=2, rows=9, columns=7, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, channels, rows, columns)).astype(dtype)


def shifted(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """The reference: one image moved by whole pixels, what moves in is 0."""
    out = np.zeros_like(image)
    rows, columns = image.shape[-2:]
    out[:, max(down, 0):rows + min(down, 0), max(right, 0):columns + min(right, 0)] = \
        image[:, max(-down, 0):rows - max(down, 0), max(-right, 0):columns - max(right, 0)]
    return out


def test_a_shift_moves_every_image_by_its_drawn_offsets():
    x = images()
    out = augment_images(x, {**NONE, "shift": 3}, np.random.default_rng(5))
    offsets = np.random.default_rng(5).integers(-3, 4, (len(x), 2))  # the draw augment_images makes
    assert len({tuple(o) for o in offsets}) > 10 and np.abs(offsets).max() == 3
    for image, moved, (down, right) in zip(x, out, offsets, strict=True):
        np.testing.assert_array_equal(moved, shifted(image, down, right))


def test_a_quarter_turn_is_an_exact_rotation_of_the_pixels():
    x = images(n=2, rows=6, columns=6)
    rows, columns = source_coordinates(6, 6, np.array([np.pi / 2, -np.pi / 2]), None, 2)
    out = sample_bilinear(x, rows, columns)
    np.testing.assert_allclose(out[0], np.rot90(x[0], k=-1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(out[1], np.rot90(x[1], k=1, axes=(1, 2)), atol=1e-5)


def _blob(rows: int, columns: int, at: tuple[float, float]) -> np.ndarray:
    r, c = np.mgrid[:rows, :columns]
    return np.exp(-((r - at[0]) ** 2 + (c - at[1]) ** 2) / 2.0).astype(np.float32)


def test_rotations_turn_images_about_their_centre_within_the_asked_angle():
    x = np.broadcast_to(_blob(21, 21, (10, 17)), (200, 1, 21, 21)).copy()  # 7 pixels right of the centre
    out = augment_images(x, {**NONE, "rotate": 12.0}, np.random.default_rng(1))
    mass = out.sum(axis=(1, 2, 3))
    r, c = np.mgrid[:21, :21]
    centroid_r = (out[:, 0] * r).sum(axis=(1, 2)) / mass - 10
    centroid_c = (out[:, 0] * c).sum(axis=(1, 2)) / mass - 10
    angles = np.degrees(np.arctan2(centroid_r, centroid_c))
    drawn = np.random.default_rng(1).uniform(-12, 12, 200)
    np.testing.assert_allclose(np.abs(angles), np.abs(drawn), atol=0.3)  # the drawn angle, either sense
    np.testing.assert_allclose(np.hypot(centroid_r, centroid_c), 7, atol=0.05)  # turned, not moved
    np.testing.assert_allclose(mass, x[0].sum(), rtol=0.01)  # bilinear sampling keeps the ink


def test_noise_has_the_asked_scale_and_no_bias():
    x = images(n=64, rows=16, columns=16)
    added = augment_images(x, {**NONE, "noise": 0.05}, np.random.default_rng(2)) - x
    assert added.std() == pytest.approx(0.05, rel=0.02)
    assert abs(added.mean()) < 0.05 * 4 / np.sqrt(added.size)


def test_transforms_left_out_draw_nothing_and_change_nothing():
    x, rng = images(), np.random.default_rng(3)
    before = rng.bit_generator.state
    np.testing.assert_array_equal(augment_images(x, NONE, rng), x)
    assert rng.bit_generator.state == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_images_keep_their_dtype_and_shape(dtype):
    x = images(dtype=dtype)
    out = augment_images(x, {"shift": 1, "rotate": 5.0, "noise": 0.1}, np.random.default_rng(0))
    assert out.dtype == dtype and out.shape == x.shape


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    x, options = images(), {"shift": 2, "rotate": 10.0, "noise": 0.05}
    first, again, other = (augment_images(x, options, np.random.default_rng(s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.05


def test_a_batch_keeps_its_labels_and_the_original_stays_as_it_was():
    x = images(n=10, channels=1)
    batch = classification(x.copy(), np.arange(10) % 3, "t")
    out = augment_batch(batch, {**NONE, "shift": 2, "noise": 0.1}, np.random.default_rng(0))
    np.testing.assert_array_equal(out.y, batch.y)
    np.testing.assert_array_equal(batch.x, x)
    assert not np.array_equal(out.x, x)


def test_examples_that_are_not_images_are_refused_at_the_setting():
    span = Span("t.nn", 12, 3)
    with pytest.raises(DataError, match=r"images shaped \[channels, rows, columns\]; the examples of 'xor' have "
                                        r"shape \[2\]") as info:
        check_images((2,), "xor", span)
    assert info.value.span == span and "shape=" in info.value.hint
    check_images((1, 8, 8), "digits", span)
