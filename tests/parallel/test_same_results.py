"""Data-parallel training on 2 MPI ranks gives what one process gives with the same global batch and seed:
the same per-epoch metrics and final parameters, up to float32 summation order."""

from __future__ import annotations

import numpy as np
import pytest

from tests.parallel.helpers import mpiexec, train

MLP = """\
model m {
  input  x[2]
  layer  h[16] tanh dropout=0.2
  output y[1] sigmoid
  x -> h -> y
}
train {
  model m
  data moons(n=200)
  validation 0.2
  loss bce(y)
  optimizer sgd(lr=0.3, momentum=0.9)
  l2 1e-4
  clip 5.0
  batch 16
  epochs 3
}
"""

# per-sequence dropout masks and a learned initial state, truncated into two BPTT windows; 154 training
# sequences: the last batch of every epoch (10) is split 5 and 5
LSTM = """\
model s {
  input  x[1] sequence
  layer  h[8] lstm dropout=0.2 initial=learned
  output y[1] identity
  x -> h -> y
}
train {
  model s
  data sine(n=192, length=12, frequencies=[0.01, 0.05])
  test 0.2
  loss mse(y)
  optimizer adam(lr=1e-2)
  clip 1.0
  bptt 6
  batch 16
  epochs 2
}
"""

# the reparameterised sample's noise and dropout, both drawn for the global batch
VAE = """\
model v {
  input  x[4]
  layer  e[8] relu dropout=0.1
  layer  mu[2] identity
  layer  logvar[2] identity
  sample z ~ normal(mu, logvar)
  layer  d[8] relu
  output x_hat[4] sigmoid
  x -> e
  e -> mu
  e -> logvar
  z -> d -> x_hat
}
train {
  model v
  data bars(size=2)
  method vae(samples=1, warmup=2)
  loss bce(x_hat, x) + kl(z)
  optimizer adam(lr=3e-3)
  batch 8
  epochs 3
}
"""

GAN = """\
model generator {
  noise  z[2] normal
  layer  g[16] relu
  output p[2] identity
  z -> g -> p
}
model discriminator {
  input  p[2]
  layer  d[16] leaky_relu(slope=0.2)
  output real[1] sigmoid
  p -> d -> real
}
train {
  data ring(n=256, modes=4, radius=2, std=0.02)
  method gan(generator=generator, discriminator=discriminator, k=1)
  optimizer adam(lr=1e-3, beta1=0.5)
  batch 32
  epochs 2
}
"""


def assert_same_training(one, two) -> None:
    records_one, records_two = one.records(), two.records()
    assert len(records_one) == len(records_two)
    for a, b in zip(records_one, records_two):
        assert a.keys() == b.keys()
        for key in a.keys() - {"time"}:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    params_one, params_two = one.params(), two.params()
    assert params_one.keys() == params_two.keys()
    for name, value in params_one.items():
        np.testing.assert_allclose(params_two[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("spec", [MLP, LSTM, VAE, GAN], ids=["mlp", "lstm", "vae", "gan"])
def test_two_ranks_train_as_one_process(tmp_path, spec):
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(spec)
    one = train(1, path, tmp_path / "one")
    two = train(2, path, tmp_path / "two")
    assert_same_training(one, two)
    # rank 0 alone prints the summary
    assert two.out.count("run folder:") == 1
