"""`augment` under MPI: every rank draws the global batch's transforms from the shared generator and keeps its
shard, so two ranks train as one process does."""

from __future__ import annotations

from tests.parallel.helpers import mpiexec, train
from tests.parallel.test_same_results import assert_same_training

CNN = """\
model c {
  input  x[1, 8, 8]
  layer  k[4, 8, 8] relu
  output y[10] softmax
  x -> k conv(kernel=3, padding=1) -> y
}
train {
  model c
  data digits(shape=[1, 8, 8], limit=300)
  validation 0.2
  loss cross_entropy(y)
  optimizer adam(lr=1e-2)
  augment shift=1 rotate=10 noise=0.05
  batch 16
  epochs 2
}
"""


def test_two_ranks_augment_as_one_process(tmp_path):
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(CNN)
    assert_same_training(train(1, path, tmp_path / "one"), train(2, path, tmp_path / "two"))
