"""Restricted Boltzmann machines export their hidden features, sigmoid((v W + c) / T): several visible and
hidden groups of any shape, links written either way round, and the final temperature of a `boltzmann` run."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.export import build_model
from nngraph.export.products import product
from nngraph.session import build_method

from .helpers import assert_matches, run_onnx

MACHINE = """model m {
  visible a[3] bernoulli
  visible b[2, 2] gaussian
  hidden  h[4] bernoulli
  hidden  k[2, 3] bernoulli
  a <-> h
  b <-> h
  k <-> b
  k <-> a
}
train {
  model m
  data xor
  method %s
}
"""


@pytest.mark.parametrize("method", ["cd(k=1)", "pcd(k=1, chains=4)", "boltzmann(anneal=[[4, 2], [2.5, 3]])"])
def test_hidden_features_of_every_group(method, tmp_path):
    checked = nngraph.loads(MACHINE % method)
    trained = build_method(checked, checked.train(None), get_backend("numpy", "float32"))
    rng = np.random.default_rng(0)
    machine = trained.machine
    for view in machine.params.values():
        view[...] = rng.normal(0.0, 0.5, view.shape)
    machine.sync()
    path = tmp_path / "m.onnx"
    path.write_bytes(build_model(product(checked.train(None).method.name, trained, None)).SerializeToString())
    x = rng.normal(size=(16, machine.n_visible)).astype(np.float32)
    feeds = {g.name: x[:, g.span].reshape((16,) + g.shape) for g in machine.visible_groups}
    want = {g.name: trained.predict(x, g.name) for g in machine.groups if not g.visible}
    assert_matches(run_onnx(path, feeds), want)  # the boltzmann run's hidden units at T = 2.5
