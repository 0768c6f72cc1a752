import numpy as np
import pytest

from nngraph.data import Dataset, fit_scaler, iterate_minibatches, split_dataset
from nngraph.errors import DataError, Span
from tests.data.helpers import load


def unbalanced() -> Dataset:
    """90 of class 0, 30 of class 1, 10 of class 2; inputs that identify each example."""
    y = np.repeat([0, 1, 2], [90, 30, 10])
    x = np.arange(len(y), dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    return Dataset(x, y.astype(np.int64), "classification", 3)


def test_stratified_split_keeps_class_proportions():
    splits = split_dataset(unbalanced(), test=0.2, validation=0.1, seed=0)
    assert np.bincount(splits.test.y).tolist() == [18, 6, 2]
    assert np.bincount(splits.validation.y).tolist() == [9, 3, 1]
    assert np.bincount(splits.train.y).tolist() == [63, 21, 7]


def test_leftover_examples_go_to_the_largest_remainders():
    y = np.repeat([0, 1, 2], [7, 2, 1]).astype(np.int64)  # test=0.3: quotas 2.1, 0.6, 0.3
    data = Dataset(np.zeros((10, 1), np.float32), y, "classification", 3)
    for seed in range(5):
        assert np.bincount(split_dataset(data, 0.3, 0, seed).test.y, minlength=3).tolist() == [
            2,
            1,
            0,
        ]


def test_parts_are_disjoint_and_cover_everything():
    splits = split_dataset(unbalanced(), test=0.25, validation=0.15, seed=1)
    ids = [part.x[:, 0] for part in (splits.train, splits.validation, splits.test)]
    together = np.concatenate(ids)
    assert len(together) == 130 and len(np.unique(together)) == 130


def test_split_is_deterministic_by_seed():
    data = load("moons(n=200)")
    first, again = split_dataset(data, 0.2, 0.1, seed=5), split_dataset(data, 0.2, 0.1, seed=5)
    other = split_dataset(data, 0.2, 0.1, seed=6)
    np.testing.assert_array_equal(first.test.x, again.test.x)
    assert not np.array_equal(first.test.x, other.test.x)


def test_tiny_sets_still_get_a_test_example():
    splits = split_dataset(load("xor"), test=0.25, validation=0, seed=0)
    assert len(splits.test) == 1 and len(splits.train) == 3 and splits.validation is None


def test_unstratified_and_regression_splits_take_the_rounded_counts():
    splits = split_dataset(load("linear(n=50)"), test=0.3, validation=0.1, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (30, 5, 15)
    plain = split_dataset(unbalanced(), test=0.5, validation=0, seed=0, stratify=False)
    assert len(plain.test) == 65


def tagged(scale: str) -> Dataset:
    """Skewed inputs; y carries each row's index (targets are never scaled) to find it later."""
    rng = np.random.default_rng(0)
    x = (rng.exponential(1.0, (100, 2)) * [1, 10]).astype(np.float32)
    return Dataset(
        x, np.arange(100, dtype=np.float32)[:, None], "regression", info={"scale": scale}
    )


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaler_statistics_come_from_train_only(scale):
    data = tagged(scale)
    splits = split_dataset(data, test=0.3, validation=0.2, seed=0)
    rows = {name: getattr(splits, name).y[:, 0].astype(int) for name in ("train", "test")}
    train_x = data.x[rows["train"]]
    if scale == "standard":
        np.testing.assert_allclose(splits.scaler.offset, train_x.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(splits.train.x.std(axis=0), 1, atol=1e-4)
    else:
        np.testing.assert_allclose(splits.scaler.offset, train_x.min(axis=0))
        assert splits.train.x.min() == 0 and np.isclose(splits.train.x.max(), 1)
    assert not np.allclose(splits.scaler.offset, data.x.mean(axis=0))
    expected = (data.x[rows["test"]] - splits.scaler.offset) / splits.scaler.factor
    np.testing.assert_allclose(splits.test.x, expected, rtol=1e-5)


def test_no_scale_requested_leaves_inputs_alone():
    data = load("moons(n=20)")
    splits = split_dataset(data, test=0, validation=0, seed=0)
    assert splits.test is None and splits.scaler.method == "none"
    np.testing.assert_array_equal(splits.train.x, data.x)


def test_constant_features_are_not_divided_by_zero():
    data = Dataset(np.ones((5, 2), np.float32), None, "unsupervised")
    scaled = fit_scaler(data, "standard").apply(data)
    np.testing.assert_array_equal(scaled.x, 0)


def test_sequences_scale_per_feature_over_time():
    scaler = fit_scaler(load("sine(n=20, length=30)"), "standard")
    assert np.shape(scaler.offset) == (1,)


@pytest.mark.parametrize("test, validation", [(0.6, 0.5), (1.0, 0.0), (-0.1, 0.0)])
def test_impossible_fractions(test, validation):
    where = Span("spec.nn", 4, 3)
    with pytest.raises(DataError, match="fraction|no training examples") as info:
        split_dataset(load("xor"), test=test, validation=validation, seed=0, span=where)
    assert info.value.span == where


def test_minibatches_cover_every_index_once_and_keep_the_tail():
    rng = np.random.default_rng(0)
    batches = list(iterate_minibatches(10, 4, rng))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = list(iterate_minibatches(10, 4, rng))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, again))  # a new order each epoch


def test_minibatches_in_order_without_shuffle():
    batches = list(iterate_minibatches(5, 2, None, shuffle=False))
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    with pytest.raises(DataError, match="batch size"):
        next(iterate_minibatches(5, 0, None, shuffle=False))


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_a_constant_feature_whose_mean_rounds_is_only_shifted(method):
    """0.7 six times sums to a mean 1.1e-16 off 0.7, so its population std is 1.1e-16, not 0: divided by it the
    feature became -1 in every row (found by benchmarks/twin_check.py's fit family, scale=standard). Every value
    equal is what makes a feature constant."""
    from nngraph.data.dataset import regression
    from nngraph.data.scaling import fit_scaler

    x = np.full((6, 2), 0.7)
    x[:, 1] = np.arange(6)
    assert np.std(x[:, 0]) > 0  # the rounding this test is about
    data = regression(x, np.zeros(6), "d", dtype=np.float64, scale=method)
    scaled = fit_scaler(data).apply(data).x
    np.testing.assert_allclose(scaled[:, 0], 0.0, atol=1e-15)
