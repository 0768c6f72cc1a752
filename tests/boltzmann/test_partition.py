"""Exact partition functions agree however they are enumerated; AIS agrees with them; big machines are refused."""

import math

import numpy as np
import pytest

from nngraph.errors import TrainingError
from nngraph.compile.partition import (
    MAX_ENUMERATED,
    ais_log_z,
    binary_states,
    log_likelihood,
    log_z_exact,
    most_probable,
)
from tests.boltzmann.helpers import GENERAL, RESTRICTED, machine


def brute_log_z(m, backend, temperature=1.0) -> float:
    states = binary_states(backend.xp, m.size, 0, 1 << m.size, m.weights.dtype)
    return float(np.logaddexp.reduce(backend.to_numpy(-m.energy(states, temperature)).astype(np.float64)))


def test_restricted_log_z_sums_either_side_out(backend):
    m = machine(RESTRICTED, backend, scale=0.8)  # 5 visible, 4 hidden: enumerates the hidden side
    assert log_z_exact(m) == pytest.approx(brute_log_z(m, backend), abs=1e-3)
    wide = machine("model m { visible v[3]; hidden h[6]; v <-> h }", backend, scale=0.8)
    assert log_z_exact(wide) == pytest.approx(brute_log_z(wide, backend), abs=1e-3)


def test_general_log_z_and_likelihood_at_a_temperature(backend):
    m = machine(GENERAL, backend, scale=1.5)
    log_z = log_z_exact(m, temperature=2.0)
    assert log_z == pytest.approx(brute_log_z(m, backend, 2.0), abs=1e-3)
    visible = binary_states(backend.xp, 3, 0, 8, m.weights.dtype)
    probabilities = np.exp(backend.to_numpy(log_likelihood(m, visible, log_z, 2.0)))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_restricted_log_z_and_likelihood_at_a_temperature(backend):
    """Found by the PyTorch twin (benchmarks/twin/boltzmann_steps.py): `method boltzmann` on a restricted machine
    with an `anneal` schedule reported its log-likelihood at T = 1, not at the last temperature; the restricted
    formulas ignored the temperature. Either side enumerated, gaussian visible units integrated at T."""
    for text in (RESTRICTED, "model m { visible v[3]; hidden h[6]; v <-> h }"):
        m = machine(text, backend, scale=0.8)
        log_z = log_z_exact(m, temperature=2.0)
        assert log_z == pytest.approx(brute_log_z(m, backend, 2.0), abs=1e-3)
        visible = binary_states(backend.xp, m.n_visible, 0, 1 << m.n_visible, m.weights.dtype)
        probabilities = np.exp(backend.to_numpy(log_likelihood(m, visible, log_z, 2.0)).astype(np.float64))
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    m = machine("model m { visible v[1] gaussian; hidden h[2]; v <-> h }", backend, scale=0.5)
    w, b, c = (backend.to_numpy(a).astype(np.float64) for a in (m.weights, m.visible_bias, m.hidden_bias))
    grid, T = np.linspace(-12, 12, 2401)[:, None], 2.0
    free = (0.5 * grid[:, 0] ** 2 - grid @ b) / T - np.logaddexp(0, (grid @ w + c) / T).sum(1)
    assert log_z_exact(m, T) == pytest.approx(np.log(np.exp(-free).sum() * (grid[1, 0] - grid[0, 0])), abs=1e-3)


def test_gaussian_visible_log_z_integrates_the_visible_side(backend):
    m = machine("model m { visible v[2] gaussian; hidden h[3]; v <-> h }", backend, scale=0.3)
    w, b, c = (backend.to_numpy(a).astype(np.float64) for a in (m.weights, m.visible_bias, m.hidden_bias))
    grid = np.linspace(-8, 8, 401)
    vs = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    free = 0.5 * (vs**2).sum(1) - vs @ b - np.logaddexp(0, vs @ w + c).sum(1)
    numeric = np.log(np.exp(-free).sum() * (grid[1] - grid[0]) ** 2)
    assert log_z_exact(m) == pytest.approx(numeric, abs=1e-3)


def test_too_large_a_machine_is_refused_with_a_pointer_to_ais(backend):
    m = machine(f"model m {{ visible v[{MAX_ENUMERATED + 1}]; hidden h[{MAX_ENUMERATED + 1}]; v <-> h }}", backend)
    with pytest.raises(TrainingError, match="enumeration") as caught:
        log_z_exact(m)
    assert "annealed importance sampling" in caught.value.hint


def test_ais_agrees_with_the_exact_log_z_of_a_20_hidden_unit_rbm(backend):
    m = machine("model m { visible v[36]; hidden h[20]; v <-> h }", backend, scale=0.5, seed=3)
    exact = log_z_exact(m)
    estimate = ais_log_z(m, np.random.default_rng(0), runs=100, betas=np.linspace(0, 1, 3000))
    assert abs(estimate.log_z - exact) < 0.2 and estimate.stderr < 0.2
    assert math.isfinite(estimate.log_z)


def test_most_probable_completion_is_the_lowest_energy_state(backend):
    m = machine(GENERAL, backend, scale=2.0, seed=5)
    observed = np.array([True, True, True, False, False, False])
    values = np.array([[1, 0, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0]], dtype=np.float64)
    best = most_probable(m, values, observed)
    for row, start in zip(best, values):
        candidates = np.array([np.concatenate([start[:3], code]) for code in (np.arange(8)[:, None] >> np.arange(3)) & 1])
        energies = backend.to_numpy(m.energy(backend.asarray(candidates.astype(np.float32))))
        assert np.array_equal(row, candidates[np.argmin(energies)])
