"""Shapes, parameter and FLOP counts of every spec in specs/, against numbers worked out by hand.

FLOPs are 2 x multiply-adds per example (per time step for recurrent models); pooling counts one
operation per window element. Biases: one per unit (per gate for lstm x4, gru x3), one per channel for conv.
"""

from pathlib import Path

import pytest

from nngraph.api import load
from nngraph.graph.shapes import total_parameters, unit_flops, unit_parameters

SPECS = Path(__file__).resolve().parents[2] / "specs"

# spec file -> {model: (total parameters, total forward FLOPs)}
TOTALS = {
    "adding_lstm.nn": {"adding_lstm": (2 * 64 * 4 + 64 * 64 * 4 + 64 * 4 + 64 + 1,
                                       2 * (2 * 64 * 4 + 64 * 64 * 4 + 64))},
    # links a-h, b-h; laterals h-h, a-a, b-b (symmetric, zero diagonal: n(n-1)/2); biases
    "bm_encoder424.nn": {"encoder424": (4 * 2 + 4 * 2 + 1 + 6 + 6 + 4 + 4 + 2,
                                        2 * (4 * 2 + 4 * 2 + 2 * 2 + 4 * 4 + 4 * 4))},
    # x->h, h->h at delays 1 and 2, y->h at delay 2, bias; h->y and its bias
    "delay2_elman.nn": {"delay2_elman": (24 + 2 * 24 * 24 + 24 + 24 + 24 + 1,
                                         2 * (24 + 2 * 24 * 24 + 24 + 24))},
    "parity_gru.nn": {"parity_gru": ((1 + 16 + 1) * 16 * 3 + 16 + 1, 2 * (16 * 3 + 16 * 16 * 3 + 16))},
    "parity_mgu.nn": {"parity_mgu": ((1 + 16 + 1) * 16 * 2 + 16 + 1, 2 * (16 * 2 + 16 * 16 * 2 + 16))},
    "stacked_elman.nn": {"stacked_elman": (2 * 32 + 32 * 32 + 32 * 32 + 32 + 32 * 32 + 32 * 32 + 32 + 32 + 1,
                                           2 * (2 * 32 + 4 * 32 * 32 + 32))},
    "multilabel_balls.nn": {"balls": (8 * 64 + 64 + 64 * 5 + 5, 2 * (8 * 64 + 64 * 5))},
    "rbm_bars4.nn": {"rbm_bars4": (16 * 32 + 16 + 32, 2 * 16 * 32)},
    "rbm_gaussian.nn": {"rbm_gaussian": (64 * 100 + 64 + 100, 2 * 64 * 100)},
    "char_rnn.nn": {"char_rnn": ((64 + 128 + 1) * 128 * 3 + (128 + 128 + 1) * 128 * 3 + 128 * 64 + 64,
                                 2 * (64 * 128 * 3 + 3 * 128 * 128 * 3 + 128 * 64))},
    "digits_cnn.nn": {"digits_cnn": (16 * 9 + 16 + 256 * 64 + 64 + 64 * 10 + 10,
                                     2 * 16 * 64 * 9 + 16 * 16 * 4 + 2 * 256 * 64 + 2 * 64 * 10)},
    # conv 1->6 and 6->16 (3x3, padding 1, a bias per channel), two 2x2 average poolings, 64 -> 64 -> 10
    "digits_subsampling.nn": {"digits_subsampling": (6 * 9 + 6 + 16 * 6 * 9 + 16 + 64 * 64 + 64 + 64 * 10 + 10,
                                                     2 * 6 * 64 * 9 + 6 * 16 * 4 + 2 * 16 * 16 * 6 * 9 + 16 * 4 * 4
                                                     + 2 * 64 * 64 + 2 * 64 * 10)},
    # x->h, three residual blocks of two 64x64 layers (the identity skips carry nothing), y
    "digits_residual.nn": {"digits_residual": (65 * 64 + 6 * 65 * 64 + 65 * 10, 2 * (7 * 64 * 64 + 64 * 10))},
    # x->h and h->h into 4 gates, the gates' bias, h.initial and h.initial_cell; h->y and its bias
    "sine_lstm_dropout.nn": {"sine_lstm_dropout": (1 * 128 + 32 * 128 + 128 + 2 * 32 + 33,
                                                   2 * (1 * 128 + 32 * 128 + 32))},
    "sine_gaps.nn": {"sine_gaps": (1 * 256 + 64 * 256 + 256 + 65, 2 * (1 * 256 + 64 * 256 + 64))},
    # conv without a bias plus batchnorm's scale and shift (8 each); h's bias and layernorm's (64 each); y
    "digits_norm.nn": {"digits_norm": (8 * 9 + 2 * 8 + 128 * 64 + 64 + 2 * 64 + 65 * 10,
                                       2 * 8 * 64 * 9 + 8 * 16 * 4 + 2 * 128 * 64 + 2 * 64 * 10)},
    # x->h and h's bias; r borrows x->h.weight (nothing of its own but its bias)
    "digits_tied_ae.nn": {"digits_tied_ae": (64 * 32 + 32 + 64, 2 * (64 * 32 + 32 * 64))},
    # per direction: x->h and h->h into 3 gates, the gates' bias; h->y reads both directions' 2 x 32
    "adding_bigru.nn": {"adding_bigru": (2 * (2 * 96 + 32 * 96 + 96) + 65, 2 * (2 * 64 * 3 + 2 * 32 * 32 * 3 + 64))},
    "digits_logreg.nn": {"digits_logreg": (64 * 10 + 10, 2 * 64 * 10)},
    "digits_mlp.nn": {"digits_mlp": (65 * 128 + 129 * 128 + 129 * 10, 2 * (64 * 128 + 128 * 128 + 128 * 10))},
    # PacGAN's ring setup: noise 2 -> 4 x 400 relu -> 2; discriminator packs 2 points: 4 -> 3 x 200 -> 1
    "gan_ring.nn": {"generator": (3 * 400 + 3 * 401 * 400 + 401 * 2, 2 * (2 * 400 + 3 * 400 * 400 + 400 * 2)),
                    "discriminator": (5 * 200 + 2 * 201 * 200 + 201, 2 * (4 * 200 + 2 * 200 * 200 + 200))},
    "gan_grid.nn": {"generator": (3 * 128 + 3 * 129 * 128 + 129 * 2, 2 * (2 * 128 + 3 * 128 * 128 + 128 * 2)),
                    # s: d's 128 values and their minibatch spread, no weights
                    "discriminator": (3 * 128 + 2 * 129 * 128 + 130, 2 * (2 * 128 + 2 * 128 * 128 + 129))},
    "gan_digits.nn": {"generator": (33 * 256 + 257 * 256 + 257 * 64, 2 * (32 * 256 + 256 * 256 + 256 * 64)),
                      "discriminator": (65 * 256 + 257, 2 * (64 * 256 + 256))},
    # deep belief nets: two sigmoid layers and a softmax, each with its bias (the generative biases that
    # pretraining keeps are a method's state, not the model's parameters)
    "dbn_digits.nn": {"dbn_digits": (65 * 128 + 129 * 128 + 129 * 10, 2 * (64 * 128 + 128 * 128 + 128 * 10))},
    "dbn_digits_labels.nn": {"dbn_labels": (65 * 128 + 129 * 256 + 257 * 10, 2 * (64 * 128 + 128 * 256 + 256 * 10))},
    "mnist_dbn.nn": {"mnist_dbn": (785 * 500 + 501 * 500 + 501 * 10, 2 * (784 * 500 + 500 * 500 + 500 * 10))},
    "linear_regression.nn": {"linreg": (4, 6)},
    "logistic_xor.nn": {"logistic_xor": (3, 4)},
    "mnist_lenet.nn": {"lenet": (44_426, 2 * 6 * 576 * 25 + 6 * 144 * 4 + 2 * 16 * 64 * 150 + 16 * 16 * 4
                                 + 2 * (256 * 120 + 120 * 84 + 84 * 10))},
    "mnist_lenet_augment.nn": {"lenet": (44_426, 2 * 6 * 576 * 25 + 6 * 144 * 4 + 2 * 16 * 64 * 150 + 16 * 16 * 4
                                         + 2 * (256 * 120 + 120 * 84 + 84 * 10))},
    # 1 -> 32 channels at 8x8, pool to 4x4, 32 -> 64 at 4x4, pool to 2x2; 256 -> 128 -> 10 (dropout counts nothing)
    "digits_cnn_deep.nn": {"digits_cnn_deep": (32 * 9 + 32 + 64 * 32 * 9 + 64 + 256 * 128 + 128 + 128 * 10 + 10,
                                               2 * 32 * 64 * 9 + 32 * 16 * 4 + 2 * 64 * 16 * 32 * 9 + 64 * 4 * 4
                                               + 2 * (256 * 128 + 128 * 10))},
    # 1 -> 32 -> 32 -> 4 channels, 3x3 convs at 4x4 with a bias per channel; y: a pixel shuffle and a bicubic
    # upsampling (16 taps per output pixel), no weights and so no bias
    "digits_superres.nn": {"digits_superres": (32 * 9 + 32 + 32 * 32 * 9 + 32 + 4 * 32 * 9 + 4,
                                               2 * 16 * 9 * (32 + 32 * 32 + 4 * 32) + 2 * 64 * 16)},
    # convs at 14x14; the deconv multiplies each of its 32 x 196 inputs by a 16 x 4 x 4 kernel; y: a conv and
    # a bicubic upsampling
    "mnist_superres.nn": {"mnist_superres": (32 * 25 + 32 + 32 * 32 * 9 + 32 + 32 * 16 * 16 + 16 + 16 * 9 + 1,
                                             2 * 196 * 32 * (25 + 32 * 9) + 2 * 32 * 196 * 16 * 16
                                             + 2 * 784 * 16 * 9 + 2 * 784 * 16)},
    "rbm_bars.nn": {"rbm_bars": (9 * 16 + 9 + 16, 2 * 9 * 16)},
    "rbm_digits.nn": {"rbm_digits": (64 * 100 + 64 + 100, 2 * 64 * 100)},
    "sine_elman.nn": {"sine_elman": (32 + 32 * 32 + 32 + 33, 2 * (32 + 32 * 32 + 32))},
    "vae_digits_2d.nn": {"vae2d": (65 * 128 + 2 * 129 * 2 + 3 * 128 + 129 * 64,
                              2 * (64 * 128 + 2 * 128 * 2 + 2 * 128 + 128 * 64))},
    "vae_digits.nn": {"vae": (65 * 512 + 2 * 513 * 8 + 9 * 512 + 513 * 64,
                              2 * (64 * 512 + 2 * 512 * 8 + 8 * 512 + 512 * 64))},
    # autoregressive links: the 64 * 63 / 2 weights above the diagonal are free, the matmul is a full 64 x 64;
    # x_hat reads d, x and h1..h4 through five of them, each h_k reads d and x; z's mixture prior: 200 means and
    # 200 log-variances of 8 values
    "vae_digits_ar.nn": {"vae": (65 * 512 + 2 * 513 * 8 + 9 * 512 + 513 * 64 + 5 * (64 * 63 // 2)
                                 + 4 * (513 * 64 + 64 * 63 // 2) + 2 * 200 * 8,
                                 2 * (64 * 512 + 2 * 512 * 8 + 8 * 512 + 512 * 64 + 5 * 64 * 64
                                      + 4 * (512 * 64 + 64 * 64)))},
    "fvsbn_digits.nn": {"fvsbn": (64 * 63 // 2 + 64, 2 * 64 * 64)},
    "xor.nn": {"xor": (17, 2 * (2 * 4 + 4 * 1))},
    # actor 4 -> 64 -> 64 -> 2 and critic 4 -> 64 -> 64 -> 1, each layer with its bias
    "cartpole_ppo.nn": {"agent": (5 * 64 + 65 * 64 + 65 * 2 + 5 * 64 + 65 * 64 + 65,
                                  2 * (4 * 64 + 64 * 64 + 64 * 2) + 2 * (4 * 64 + 64 * 64 + 64))},
    "cartpole_dqn.nn": {"qnet": (5 * 256 + 257 * 256 + 257 * 2, 2 * (4 * 256 + 256 * 256 + 256 * 2))},
    "cartpole_reinforce.nn": {"agent": (5 * 64 + 65 * 2 + 5 * 64 + 65, 2 * (4 * 64 + 64 * 2) + 2 * (4 * 64 + 64))},
    "pendulum_ppo.nn": {"agent": (2 * (4 * 64 + 65 * 64 + 65), 2 * 2 * (3 * 64 + 64 * 64 + 64))},
    # pendulum_ppo.nn and the log standard deviation unit a_2 -> s
    "pendulum_ppo_std.nn": {"agent": (2 * (4 * 64 + 65 * 64 + 65) + 65, 2 * 2 * (3 * 64 + 64 * 64 + 64) + 2 * 64)},
    "acrobot_ppo.nn": {"agent": (7 * 64 + 65 * 64 + 65 * 3 + 7 * 64 + 65 * 64 + 65,
                                 2 * (6 * 64 + 64 * 64 + 64 * 3) + 2 * (6 * 64 + 64 * 64 + 64))},
}

# spec file -> model -> unit -> (shape, parameters, FLOPs)
UNITS = {
    ("digits_cnn.nn", "digits_cnn"): {
        "x": ((1, 8, 8), 0, 0),
        "b1.in": ((1, 8, 8), 0, 0),
        "b1.c": ((16, 8, 8), 160, 18_432),  # 16 filters x 3x3 + 16 biases; padding 1 keeps 8x8
        "b1.p": ((16, 4, 4), 0, 1_024),
        "h": ((64,), 16_448, 32_768),
        "y": ((10,), 650, 1_280),
    },
    ("mnist_lenet.nn", "lenet"): {
        "x": ((1, 28, 28), 0, 0),
        "c1": ((6, 24, 24), 156, 172_800),
        "s2": ((6, 12, 12), 0, 3_456),
        "c3": ((16, 8, 8), 2_416, 307_200),
        "s4": ((16, 4, 4), 0, 1_024),
        "f5": ((120,), 30_840, 61_440),
        "f6": ((84,), 10_164, 20_160),
        "y": ((10,), 850, 1_680),
    },
    ("xor.nn", "xor"): {"x": ((2,), 0, 0), "h": ((4,), 12, 16), "y": ((1,), 5, 8)},
    ("adding_lstm.nn", "adding_lstm"): {
        "x": ((2,), 0, 0),
        "h": ((64,), 512 + 16_384 + 256, 1_024 + 32_768),  # input, recurrent and bias, x4 gates
        "y": ((1,), 65, 128),
    },
    ("vae_digits_2d.nn", "vae2d"): {
        "mu": ((2,), 258, 512), "logvar": ((2,), 258, 512), "z": ((2,), 0, 0), "d": ((128,), 384, 512),
    },
}


def test_every_spec_is_covered():
    assert sorted(p.name for p in SPECS.glob("*.nn")) == sorted(TOTALS)


@pytest.mark.parametrize("name", sorted(TOTALS))
def test_spec_totals(name):
    checked = load(SPECS / name)
    assert checked.warnings == []
    got = {m: (total_parameters(g), sum(unit_flops(g, u) for u in g.graph.nodes)) for m, g in checked.models.items()}
    assert got == TOTALS[name]


@pytest.mark.parametrize("name, model", sorted(UNITS))
def test_unit_shapes_parameters_and_flops(name, model):
    graph = load(SPECS / name).models[model]
    got = {u: (graph.shapes[u], unit_parameters(graph, u), unit_flops(graph, u)) for u in UNITS[name, model]}
    assert got == UNITS[name, model]
    if name != "vae_digits_2d.nn":  # the vae table lists only the units around its sample
        assert set(graph.shapes) == set(UNITS[name, model])

