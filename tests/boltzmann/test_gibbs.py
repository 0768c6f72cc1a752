"""Gibbs samplers reach the machine's own distribution; colour classes hold no linked pair; draws are uniform."""

import numpy as np
import pytest

from nngraph.compile.gibbs import BlockGibbs, Sweeper, colour_classes, uniform
from nngraph.compile.partition import binary_states
from tests.boltzmann.helpers import GENERAL, RESTRICTED, machine


def exact_pair_statistics(m, backend, temperature):
    states = backend.to_numpy(binary_states(backend.xp, m.size, 0, 1 << m.size, m.weights.dtype))
    p = np.exp(-backend.to_numpy(m.energy(backend.asarray(states), temperature)).astype(np.float64))
    p /= p.sum()
    return (states * p[:, None]).T @ states


@pytest.mark.parametrize("order", ["random", "sequential", "parallel"])
def test_sweeps_sample_the_boltzmann_distribution(backend, order):
    m = machine(GENERAL, backend, scale=1.0, seed=1)
    rng = np.random.default_rng(0) if backend.name == "numpy" else backend.rng(0)
    sweeper = Sweeper(m, order)
    states = backend.asarray((np.random.default_rng(1).random((2000, m.size)) < 0.5).astype(np.float32))
    units = np.arange(m.size)
    sweeper.run(states, units, [(4.0, 3), (2.0, 10)], rng)
    pairs, _ = sweeper.statistics(states, units, 20, 2.0, rng)
    assert np.abs(backend.to_numpy(pairs) - exact_pair_statistics(m, backend, 2.0)).max() < 0.02


class CupyLikeGenerator:
    """Only the draws cupy.random.Generator offers (it has no `permutation`, `choice` or `shuffle`)."""

    def __init__(self, seed: int):
        self._numpy = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return self._numpy.random(size, dtype=dtype)

    def standard_normal(self, size=None, dtype=np.float64):
        return self._numpy.standard_normal(size, dtype=dtype)

    def integers(self, low, high=None, size=None):
        return self._numpy.integers(low, high, size)


@pytest.mark.parametrize("order", ["random", "sequential", "parallel"])
def test_sweeps_need_only_the_draws_a_gpu_generator_offers(backend, order):
    m = machine(GENERAL, backend, scale=1.0, seed=1)
    sweeper = Sweeper(m, order)
    states = backend.asarray((np.random.default_rng(1).random((2000, m.size)) < 0.5).astype(np.float32))
    units = np.arange(m.size)
    sweeper.run(states, units, [(4.0, 3), (2.0, 10)], CupyLikeGenerator(0))
    pairs, _ = sweeper.statistics(states, units, 20, 2.0, CupyLikeGenerator(1))
    assert np.abs(backend.to_numpy(pairs) - exact_pair_statistics(m, backend, 2.0)).max() < 0.02


def test_clamped_units_are_never_touched(backend):
    m = machine(GENERAL, backend, scale=1.0)
    states = backend.asarray(np.tile([1, 0, 1, 0, 0, 0], (50, 1)).astype(np.float32))
    Sweeper(m, "random").run(states, np.arange(3, 6), [(1.0, 5)], np.random.default_rng(0)
                             if backend.name == "numpy" else backend.rng(0))
    assert (backend.to_numpy(states[:, :3]) == [1, 0, 1]).all()


def test_colour_classes_hold_no_linked_pair(backend):
    m = machine("model m { visible a[4]; visible b[4]; hidden h[2]; a <-> h; b <-> h; h <-> h }", backend)
    classes = colour_classes(m.structure(), np.arange(m.size))
    assert [len(c) for c in classes] == [8, 1, 1]  # a and b together, then each hidden unit alone
    for members in classes:
        assert not m.structure()[np.ix_(members, members)].any()


def test_block_gibbs_conditionals_are_the_sigmoids(backend):
    m = machine(RESTRICTED, backend, scale=1.0)
    gibbs = BlockGibbs(m)
    v = backend.asarray(np.array([[1, 0, 1, 1, 0]], np.float32))
    w, c = backend.to_numpy(m.weights), backend.to_numpy(m.hidden_bias)
    expected = 1 / (1 + np.exp(-(np.array([1, 0, 1, 1, 0]) @ w + c)))
    assert np.allclose(backend.to_numpy(gibbs.hidden_probs(v)), expected, atol=1e-5)


def test_mixed_visible_groups_get_their_own_means(backend):
    m = machine("model m { visible g[2] gaussian; visible b[3] bernoulli; hidden h[4]; g <-> h; b <-> h }",
                backend, scale=1.0)
    h = np.array([[1, 0, 1, 1]], np.float32)
    z = h @ backend.to_numpy(m.weights).T + backend.to_numpy(m.visible_bias)
    means = backend.to_numpy(BlockGibbs(m).visible_means(backend.asarray(h)))
    assert np.allclose(means[:, :2], z[:, :2], atol=1e-5)
    assert np.allclose(means[:, 2:], 1 / (1 + np.exp(-z[:, 2:])), atol=1e-5)


def test_float32_uniform_draws_cover_the_unit_interval():
    draws = uniform(np.random.default_rng(0), np.empty(100_000, np.float32))
    assert draws.min() >= 0 and draws.max() < 1
    assert abs(draws.mean() - 0.5) < 0.005 and abs(draws.var() - 1 / 12) < 0.002


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_samplers_sigmoid_is_the_ops_one_in_place(dtype):
    """One sigmoid for the whole code base: the samplers update their buffers in place through the op's."""
    from nngraph.ops.activations import stable_sigmoid

    z = (np.random.default_rng(0).standard_normal(10_000) * 30).astype(dtype)
    exact = 1 / (1 + np.exp(-z.astype(np.float64)))
    expected = stable_sigmoid(np, z)
    assert stable_sigmoid(np, z, z) is z and z.tobytes() == expected.tobytes()
    np.testing.assert_allclose(z, exact, rtol=0, atol=2e-7 if dtype == np.float32 else 1e-15)
