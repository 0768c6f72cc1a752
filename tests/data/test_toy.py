import numpy as np
import pytest

from tests.data.helpers import load


def test_xor_is_the_truth_table_repeated():
    data = load("xor(repeat=3)")
    assert data.x.shape == (12, 2) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and data.n_classes == 2 and data.task == "classification"
    expected = np.logical_xor(data.x[:, 0], data.x[:, 1]).astype(np.int64)
    np.testing.assert_array_equal(data.y, expected)
    assert {tuple(row) for row in data.x} == {(0, 0), (0, 1), (1, 0), (1, 1)}


@pytest.mark.parametrize("text", ["moons(n=101)", "spirals(n=101, classes=3, noise=0.1)"])
def test_generated_classification_shapes_and_balance(text):
    data = load(text)
    assert data.x.shape == (101, 2) and data.x.dtype == np.float32
    counts = np.bincount(data.y)
    assert len(counts) == data.n_classes and counts.max() - counts.min() <= 1


@pytest.mark.parametrize(
    "name", ["moons", "spirals", "linear", "balls", "ring", "grid", "sine", "adding", "parity"]
)
def test_generated_sets_are_deterministic_by_seed(name):
    same_a, same_b, other = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    np.testing.assert_array_equal(same_a.x, same_b.x)
    assert not np.array_equal(same_a.x, other.x)
    assert np.array_equal(load(f"{name}(seed=4)", seed=3).x, other.x)  # the call's seed wins


def test_moons_without_noise_lie_on_their_half_circles():
    data = load("moons(n=50, noise=0)")
    upper = data.x[data.y == 0]
    lower = data.x[data.y == 1] - np.array([1.0, 0.5])
    np.testing.assert_allclose(np.hypot(*upper.T), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(*lower.T), 1, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 1e-6).all()


def test_spiral_arms_turn_with_radius():
    data = load("spirals(n=40, turns=1, classes=2, noise=0)")
    for label, offset in ((0, 0.0), (1, 0.5)):
        arm = data.x[data.y == label].astype(np.float64)
        radius = np.hypot(*arm.T)
        expected = 2 * np.pi * (radius + offset)
        np.testing.assert_allclose(
            np.cos(np.arctan2(arm[:, 1], arm[:, 0]) - expected), 1, atol=1e-5
        )


def test_linear_weights_are_recoverable_by_least_squares():
    data = load("linear(n=500, features=4, noise=0.01)")
    w, b = data.info["weights"], data.info["bias"]
    assert data.y.shape == (500, 1) and data.task == "regression"
    design = np.hstack([data.x, np.ones((500, 1), np.float32)])
    fit = np.linalg.lstsq(design, data.y[:, 0], rcond=None)[0]
    np.testing.assert_allclose(fit[:4], w, atol=0.01)
    assert abs(fit[4] - b) < 0.01


def test_linear_takes_given_weights_and_bias():
    data = load("linear(n=20, weights=[2, -3], bias=0.5, noise=0)")
    np.testing.assert_allclose(data.y[:, 0], data.x @ np.array([2, -3]) + 0.5, atol=1e-5)


def test_balls_are_multi_label_targets_of_the_balls_each_point_lies_in():
    data = load("balls(n=400, features=3, labels=4)")
    assert data.x.shape == (400, 3) and data.y.shape == (400, 4) and data.y.dtype == np.float32
    distances = np.linalg.norm(data.x[:, None, :] - data.info["centres"][None], axis=2)
    np.testing.assert_array_equal(data.y, distances < np.median(distances, axis=0))
    assert np.allclose(data.y.mean(axis=0), 0.5) and len({tuple(row) for row in data.y}) > 8
