"""Which metrics backprop reports (a multi-label task's label_accuracy and exact_match, or not) is decided once
from the whole data set, not from each minibatch or each MPI rank's shard: targets that are 0s and 1s but for
a few rows make some shards all 0/1 and others not, and every step, epoch record and evaluation share must
still report the same metrics."""

from __future__ import annotations

import numpy as np

from tests.parallel.helpers import mpiexec, train
from tests.parallel.test_same_results import assert_same_training

MOSTLY_LABELS = """\
model m {
  input  x[3]
  layer  h[8] tanh
  output y[2] sigmoid
  x -> h -> y
}
train {
  model m
  data npz(path="mostly.npz", task="regression")
  validation 0.25
  loss bce(y)
  optimizer adam(lr=1e-2)
  batch 8
  epochs 2
}
"""


def mostly_labels(path, soft_rows: int) -> None:
    """0/1 targets of a rule on x, `soft_rows` of them 0.5 instead (rare enough that most shards of 4 rows
    have none)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((80, 3)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0], axis=1).astype(np.float32)
    y[rng.choice(len(y), soft_rows, replace=False), 0] = 0.5
    np.savez(path, x=x, y=y)


def labelled_spec(folder, soft_rows: int):
    """MOSTLY_LABELS written beside its data (`mostly_labels`), its path (after `mpiexec()`, as every case here)."""
    mpiexec()
    mostly_labels(folder / "mostly.npz", soft_rows)
    path = folder / "spec.nn"
    path.write_text(MOSTLY_LABELS)
    return path


def test_a_shard_of_0_1_targets_reports_what_the_others_report(tmp_path):
    path = labelled_spec(tmp_path, soft_rows=4)
    one = train(1, path, tmp_path / "one")
    two = train(2, path, tmp_path / "two")
    assert_same_training(one, two)  # the same keys in every record and evaluation
    assert not any("label_accuracy" in key for record in one.records() for key in record)
    assert "val_mse" in one.final() and "val_mse" in one.records()[-1]


def test_0_1_targets_throughout_report_label_accuracy(tmp_path):
    path = labelled_spec(tmp_path, soft_rows=0)
    two = train(2, path, tmp_path / "two")
    assert all("label_accuracy_running" in record and "val_exact_match" in record for record in two.records())
