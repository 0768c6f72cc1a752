"""`scale=` on a file of sequences that feeds a recurrent model (docs/language.md, section 11: per feature, over
the examples and their steps). An npz of sequences had its statistics per step and feature ((T, d) of them: each
step scaled alone, and new data of another length could not be scaled at all), and a ragged set's padding entered
them (20 ragged sequences of 4 steps padded with 0, then with 100: the third step's means were 2.58 and 12.58, the
valid steps' 2.87). Now: one statistic per feature over the valid steps, whatever the padding holds; the
fill-in's start values likewise."""

from pathlib import Path

import numpy as np
import pytest

from nngraph.data import load_dataset, split_dataset
from nngraph.train.fill_in import start_values
from tests.data.helpers import data_setting

N, T, D = 20, 4, 2


def ragged(tmp_path: Path, pad: float) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D)) * [1.0, 3.0] + [3.0, -2.0]
    lengths = rng.integers(1, T + 1, size=N)
    for i, length in enumerate(lengths):
        x[i, length:] = pad
    path = tmp_path / f"pad{pad:g}.npz"
    np.savez(path, x=x, y=rng.normal(size=(N, T, 1)), len=lengths)
    return path


def valid(path: Path) -> np.ndarray:
    with np.load(path) as z:
        return np.concatenate([z["x"][i, :n] for i, n in enumerate(z["len"])])


def train_split(path: Path, scale: str):
    data = load_dataset(data_setting(f'npz("{path.name}", lengths="len", scale={scale})'), path.parent,
                        dtype="float64", sequences=True)
    return split_dataset(data, 0.0, 0.0, 0)


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_statistics_per_feature_over_the_valid_steps_whatever_pads(tmp_path, scale):
    steps = valid(ragged(tmp_path, 0.0))
    offset = steps.mean(axis=0) if scale == "standard" else steps.min(axis=0)
    factor = steps.std(axis=0) if scale == "standard" else steps.max(axis=0) - steps.min(axis=0)
    for pad in (0.0, 100.0):
        scaler = train_split(ragged(tmp_path, pad), scale).scaler
        assert np.shape(scaler.offset) == (D,)
        np.testing.assert_allclose(scaler.offset, offset, rtol=1e-12)
        np.testing.assert_allclose(scaler.factor, factor, rtol=1e-12)


def test_scaled_valid_steps_have_mean_0_and_std_1(tmp_path):
    train = train_split(ragged(tmp_path, 100.0), "standard").train
    steps = np.concatenate([train.x[i, :n] for i, n in enumerate(train.lengths)])
    np.testing.assert_allclose(steps.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(steps.std(axis=0), 1, rtol=1e-12)


def test_the_scaler_scales_sequences_of_another_length(tmp_path):
    scaler = train_split(ragged(tmp_path, 0.0), "standard").scaler
    longer = np.ones((3, T + 5, D))
    assert np.asarray((longer - scaler.offset) / scaler.factor).shape == (3, T + 5, D)


def test_fill_in_starts_from_the_valid_steps_mean(tmp_path):
    path = ragged(tmp_path, 100.0)
    train = train_split(path, "none").train
    np.testing.assert_allclose(start_values(train, True, (D,)), valid(path).mean(axis=0), rtol=1e-12)
