"""With `bptt`, each window is a pass of its own (docs/language.md, section 8): it draws its own dropout masks,
a loop unit's one mask per sequence included, and a window without loss rows draws them too though it makes no
update. (That each window's loss is the mean over its own loss rows, benchmarks/twin's bptt_fit family compares.)"""

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.data.dataset import Dataset
from nngraph.train.backprop import build
from tests.recording import Recording

SPEC = """
model m {
  input  x[2] sequence
  layer  h[3] tanh dropout=0.5
  layer  o[4] tanh dropout=0.5
  output y[1]
  x -> h -> o -> y
  h -> h delay 1
}
train { model m; data xor; loss mse(y); bptt BPTT; batch 2 }
"""


def step_draws(bptt, y):
    checked = nngraph.loads(SPEC.replace("BPTT", str(bptt)))
    method = build(checked, checked.train(None), get_backend("numpy", "float64"))
    rng = Recording()
    method.train_step(Dataset(np.ones((2, 5, 2)), y, "regression"), rng)
    return rng.shapes


def test_each_window_draws_its_masks_the_loop_unit_s_one_per_sequence():
    shapes = step_draws(2, np.zeros((2, 5, 1)))  # windows of 2, 2 and 1 steps, a target at every step
    assert shapes == [(2, 3), (4, 4), (2, 3), (4, 4), (2, 3), (2, 4)]  # h per sequence; o per step and row


def test_a_window_without_loss_rows_draws_its_masks_too():
    shapes = step_draws(3, np.zeros((2, 1)))  # one target per sequence, read in the second window only
    assert shapes == [(2, 3), (6, 4), (2, 3), (4, 4)]
