"""Data sets: built-in generated sets, files, splits, scaling and minibatches.

How a trainer uses them::

    data = load_dataset(train_block.get("data"), spec_dir, seed)
    splits = split_dataset(data, test=0.2, validation=0.1, seed=seed)  # scales from train only
    for index in iterate_minibatches(len(splits.train), 32, rng):
        batch = splits.train.take(index)
"""

from nngraph.data.catalog import LOADERS
from nngraph.data.dataset import TASKS, Dataset
from nngraph.data.loading import data_call, known_datasets, load_dataset
from nngraph.data.scaling import Scaler, fit_scaler
from nngraph.data.splitting import Splits, iterate_minibatches, split_dataset

__all__ = [
    "LOADERS",
    "TASKS",
    "Dataset",
    "Scaler",
    "Splits",
    "data_call",
    "fit_scaler",
    "iterate_minibatches",
    "known_datasets",
    "load_dataset",
    "split_dataset",
]
