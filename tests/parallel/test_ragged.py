"""Sequences of different lengths on 2 MPI ranks train as in one process: a BPTT window's loss is the mean over
its valid steps, so each rank's gradients are weighed by its share of the window's loss rows (none in a window
where only the other rank's sequences go on), and the metrics by the valid steps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.parallel.helpers import mpiexec, train
from tests.parallel.test_same_results import assert_same_training

# 3 windows of 3 steps; most sequences end in the first window, so a shard of 4 often has no loss row in a later
# window where the other shard has (measured: in most steps of an epoch); dropout draws per step on the global
# batch's rows; 61 training sequences: the last batch (5) split 3 and 2; validation split in uneven shares
RAGGED = """\
model s {
  input  x[2] sequence
  layer  h[6] tanh dropout=0.1
  output y[1] identity
  x -> h -> y
  h -> h delay 1
}
train {
  model s
  data npz(path="ragged.npz", lengths="lengths")
  validation 0.25
  loss mse(y)
  optimizer adam(lr=1e-2)
  l2 1e-4
  bptt 3
  batch 8
  epochs 2
}
"""


def ragged_data(path, per_step: bool) -> None:
    rng = np.random.default_rng(5)
    n, steps = 81, 9
    long = rng.random(n) < 0.3
    lengths = np.where(long, rng.integers(7, steps + 1, n), rng.integers(1, 4, n))
    x = rng.standard_normal((n, steps, 2)).astype(np.float32)
    for i, length in enumerate(lengths):
        x[i, length:] = 0  # padding
    running = np.cumsum(x[:, :, 0], axis=1)[:, :, None]  # a target that needs the past
    y = running if per_step else running[np.arange(n), lengths - 1]
    np.savez(path, x=x, y=y.astype(np.float32), lengths=lengths)


@pytest.mark.parametrize("per_step", [True, False], ids=["per_step", "per_sequence"])
def test_two_ranks_train_sequences_of_different_lengths_as_one_process(tmp_path, per_step):
    mpiexec()
    ragged_data(tmp_path / "ragged.npz", per_step)
    path = tmp_path / "spec.nn"
    path.write_text(RAGGED)
    one = train(1, path, tmp_path / "one")
    two = train(2, path, tmp_path / "two")
    assert_same_training(one, two)
