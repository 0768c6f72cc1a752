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

# convolution and max pooling over 8x8 digits, dropout on the feature maps; 351 training examples: the last batch
# of every epoch (15) is split 8 and 7, and the validation (359) and test (1087) splits are evaluated in two
# uneven shares
CNN = """\
model c {
  input  x[1, 8, 8]
  layer  k[4, 8, 8] relu dropout=0.1
  layer  p
  layer  h[16] relu
  output y[10] softmax
  x -> k conv(filters=4, kernel=3, padding=1) -> p maxpool(2) -> h -> y
}
train {
  model c
  data digits(shape=[1, 8, 8])
  test 0.605
  validation 0.2
  loss cross_entropy(y)
  optimizer adam(lr=3e-3)
  batch 16
  epochs 2
}
"""

# sync batch normalisation: per channel over the conv feature maps (and their rows and columns) and over a dense
# layer, the moments and the vjp's sums all-reduced; the uneven last batch (15: 8 and 7) checks that each rank's
# sums count for its share; the running moments (buffers) are compared with the parameters
BATCHNORM = (CNN.replace("  layer  k[4, 8, 8] relu dropout=0.1\n", "  layer  k relu batchnorm(momentum=0.3)\n")
             .replace("  layer  h[16] relu\n", "  layer  h[16] relu batchnorm dropout=0.1\n"))

# the reparameterised sample's noise and dropout, both drawn for the global batch; a learned mixture prior
VAE = """\
model v {
  input  x[4]
  layer  e[8] relu dropout=0.1
  layer  mu[2] identity
  layer  logvar[2] identity
  sample z ~ normal(mu, logvar) prior=mixture(3)
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
  data ring(n=320, modes=4, radius=2, std=0.02)
  validation 0.2
  method gan(generator=generator, discriminator=discriminator, k=1)
  optimizer adam(lr=1e-3, beta1=0.5)
  batch 32
  epochs 2
}
"""

# batch normalisation in the encoder (with dropout) and the decoder
VAE_BATCHNORM = (VAE.replace("  layer  e[8] relu dropout=0.1\n", "  layer  e[8] relu batchnorm dropout=0.1\n")
                 .replace("  layer  d[8] relu\n", "  layer  d[8] relu batchnorm\n"))

# batch normalisation in both models: the discriminator's moments over the real and generated halves of every
# rank, its vjp also on the way to the generator (backward_to_inputs). SGD, not Adam: the gradient of the
# generator's output bias through a batch-normalised discriminator is zero but for rounding (the normalisation's
# input gradients sum to zero over the batch), and Adam turns that noise into steps of lr (measured with the GAN's
# Adam: 0.0034 apart in p.bias after one epoch, every other parameter within 4e-5; with SGD 2.4e-7)
GAN_BATCHNORM = (GAN.replace("  layer  g[16] relu\n", "  layer  g[16] relu batchnorm\n")
                 .replace("leaky_relu(slope=0.2)\n", "leaky_relu(slope=0.2) batchnorm\n")
                 .replace("adam(lr=1e-3, beta1=0.5)", "sgd(lr=0.05, momentum=0.5)"))

# CD-2 on bars and stripes: every Gibbs draw on the global batch's rows; 25 training examples, the last batch of
# every epoch (5) split 3 and 2. SGD, not Adam: Adam's step m / (sqrt(v) + 1e-8) magnifies the
# rounding difference of a gradient near 0 to a sizeable step (measured: Adam(lr=0.05) parts 1 and 2 ranks by 0.02
# in the weights within 3 epochs; with eps=1e-4, 1e-5; SGD 6e-9), and the sampler's thresholds amplify it further
RBM = """\
model r {
  visible v[9] bernoulli
  hidden  h[6] bernoulli
  v <-> h
}
train {
  model r
  data bars(size=3, repeat=2)
  validation 0.22
  method cd(k=2)
  optimizer sgd(lr=0.1, momentum=0.5)
  batch 10
  epochs 3
}
"""

# digits, whose pixels are on at different rates: the visible biases start from the training split's marginals,
# the same on every rank (each holds the whole split); held-out figures reduced over the ranks would differ if not
RBM_DIGITS = RBM.replace("v[9]", "v[64]").replace("bars(size=3, repeat=2)", "digits(binarize=0.5, limit=120)")

# persistent chains (9: stepped 5 and 4), global batches over FULL_METRICS (every 5th row measured): 205 training
# examples, batches of 70, 70 and 65 (split 33 and 32; its measured rows 7 and 6)
PCD = """\
model r {
  visible v[16] bernoulli
  hidden  h[10] bernoulli
  v <-> h
}
train {
  model r
  data bars(size=4, repeat=8)
  validation 0.2
  method pcd(k=1, chains=9)
  optimizer sgd(lr=0.05, momentum=0.5)
  batch 70
  epochs 2
}
"""

# a general machine: annealing, noisy clamping, lateral links, 5 persistent chains stepped 3 and 2
BOLTZMANN = """\
model b {
  visible v[8] bernoulli
  hidden  h[3] bernoulli
  v <-> h
  v <-> v
}
train {
  model b
  data encoder(size=4, repeat=2)
  method boltzmann(anneal=[[4, 2], [1, 2]], sweeps=2, chains=5, noisy_clamp=0.05)
  optimizer sgd(lr=0.5)
  batch 4
  epochs 3
}
"""


# greedy pretraining (two RBMs by CD-1 on the global batch's rows, their layers' data pushed up whole on every
# rank), then backprop fine-tuning with dropout; 359 training examples: the last batch (7) split 4 and 3, every
# RBM's too
DBN = """\
model d {
  input  x[64]
  layer  h1[16] sigmoid dropout=0.1
  layer  h2[8] sigmoid
  output y[10] softmax
  x -> h1 -> h2 -> y
}
train {
  model d
  data digits
  test 0.8
  loss cross_entropy(y)
  method dbn(k=1, pretrain=2, pretrain_optimizer=sgd(lr=0.1, momentum=0.5))
  optimizer sgd(lr=0.3, momentum=0.9)
  batch 16
  epochs 2
}
"""


def test_the_vae_and_gan_cases_normalise_both_their_parts():
    assert BATCHNORM.count("batchnorm") == 2 and VAE_BATCHNORM.count("batchnorm") == 2
    assert GAN_BATCHNORM.count("batchnorm") == 2 and "sgd(" in GAN_BATCHNORM


def assert_same_training(one, two) -> None:
    records_one, records_two = one.records(), two.records()
    assert len(records_one) == len(records_two)
    for a, b in zip(records_one, records_two):
        assert a.keys() == b.keys()
        for key in a.keys() - {"time"}:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["epoch"], key)
    final_one, final_two = one.final(), two.final()  # evaluations split across the ranks, metrics reduced
    assert final_one.keys() == final_two.keys()
    for key, value in final_one.items():
        assert final_two[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    layers_one, layers_two = one.summary().get("pretraining", []), two.summary().get("pretraining", [])
    assert len(layers_one) == len(layers_two)  # a DBN's: each RBM's measures before and after pretraining
    for a, b in zip(layers_one, layers_two):
        assert a["layer"] == b["layer"]
        for key in a.keys() - {"layer"}:
            # the pseudo-likelihood flips a bit chosen from the row's values (rbm.fixed_bits); an upper layer's
            # rows are the layer below's probabilities, whose float32 rounding can choose another bit
            # (measured: 8e-5 relative on the second layer; the first layer's data is the same on every rank)
            assert b[key] == pytest.approx(a[key], rel=1e-3 if key.startswith("pseudo_ll") else 1e-5), key
    params_one, params_two = one.params(), two.params()
    assert params_one.keys() == params_two.keys()
    for name, value in params_one.items():
        np.testing.assert_allclose(params_two[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("spec", [MLP, CNN, BATCHNORM, LSTM, VAE, VAE_BATCHNORM, GAN, GAN_BATCHNORM, RBM,
                                  RBM_DIGITS, PCD, BOLTZMANN, DBN],
                         ids=["mlp", "cnn", "batchnorm", "lstm", "vae", "vae_batchnorm", "gan", "gan_batchnorm", "cd",
                              "cd_digits", "pcd", "boltzmann", "dbn"])
def test_two_ranks_train_as_one_process(tmp_path, spec):
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(spec)
    one = train(1, path, tmp_path / "one")
    two = train(2, path, tmp_path / "two")
    assert_same_training(one, two)
    # rank 0 alone prints the summary
    assert two.out.count("run folder:") == 1
