"""The energy executor: layout, parameter names and views, symmetry, and the energy against its formula."""

from dataclasses import replace

import numpy as np
import pytest

import nngraph
from nngraph.compile.energy import EnergyModel
from nngraph.errors import NngraphError
from tests.boltzmann.helpers import GENERAL, RESTRICTED, machine


def test_parameters_are_named_per_link_and_shaped_source_by_target(backend):
    m = machine("model m { visible v[5]; hidden h[4]; visible w[2]; h <-> v; w <-> h }", backend)
    assert m.restricted and m.n_visible == 7 and m.n_hidden == 4
    assert {k: tuple(v.shape) for k, v in m.params.items()} == {
        "h<->v.weight": (4, 5), "w<->h.weight": (2, 4), "v.bias": (5,), "w.bias": (2,), "h.bias": (4,)}
    m.params["h<->v.weight"][...] = 1.0  # a view: the [visible, hidden] matrix changes with it
    assert float(m.weights[:5].sum()) == 20.0 and float(m.weights[5:].sum()) != 20.0


def test_general_machine_stays_symmetric_with_a_zero_diagonal(backend):
    m = machine(GENERAL, backend, scale=1.0)
    j = backend.to_numpy(m.weights)
    assert not m.restricted and np.allclose(j, j.T) and not np.diag(j).any()
    assert not j[:3, :3].diagonal().any() and j[:3, :3].any()  # a <-> a lateral, zero diagonal


def test_energy_is_the_formula(backend):
    m = machine(GENERAL, backend, scale=0.7)
    s = np.random.default_rng(0).integers(0, 2, (6, m.size)).astype(np.float32)
    j, b = backend.to_numpy(m.weights), backend.to_numpy(m.bias)
    expected = [-(x @ b) - sum(x[i] * x[k] * j[i, k] for i in range(m.size) for k in range(i + 1, m.size))
                for x in s]
    got = backend.to_numpy(m.energy(backend.asarray(s)))
    assert np.allclose(got, expected, atol=1e-4)


def test_free_energy_sums_the_hidden_units_out(backend):
    m = machine(RESTRICTED, backend, scale=0.5)
    v = np.random.default_rng(1).integers(0, 2, (3, 5)).astype(np.float32)
    hidden = (np.arange(16)[:, None] >> np.arange(4)) & 1
    full = [[np.concatenate([row, h]) for h in hidden] for row in v]
    energies = backend.to_numpy(m.energy(backend.asarray(np.array(full, np.float32).reshape(-1, 9))))
    expected = -np.log(np.exp(-energies.reshape(3, 16)).sum(axis=1))
    assert np.allclose(backend.to_numpy(m.free_energy(backend.asarray(v))), expected, atol=1e-4)


def test_visible_biases_start_from_the_logits_of_the_data_frequencies(backend):
    m = machine(RESTRICTED, backend)
    x = np.array([[1, 0, 0, 1, 1], [1, 0, 1, 0, 1], [1, 0, 0, 0, 0], [1, 0, 1, 1, 1]])
    m.set_visible_bias_from(x)
    p = np.clip([1.0, 0.0, 0.5, 0.5, 0.75], 1e-3, 1 - 1e-3)  # always on / off: clipped away from 0 and 1
    np.testing.assert_allclose(backend.to_numpy(m.visible_bias), np.log(p / (1 - p)), rtol=1e-5, atol=1e-6)
    assert not backend.to_numpy(m.hidden_bias).any()


def test_gaussian_visible_biases_start_at_the_data_mean(backend):
    m = machine("model m { visible g[2] gaussian; visible b[2]; hidden h[3]; g <-> h; b <-> h }", backend)
    x = np.array([[0.5, -2.0, 1, 0], [1.5, 4.0, 1, 1]])
    m.set_visible_bias_from(x)
    np.testing.assert_allclose(backend.to_numpy(m.visible_bias), [1.0, 1.0, np.log(999), 0.0], rtol=1e-5,
                               atol=1e-6)


def test_gaussian_hidden_units_are_refused_at_check_and_by_the_executor(backend):
    text = "model m { visible v[3] bernoulli; hidden h[2] gaussian; v <-> h }"
    with pytest.raises(NngraphError, match="hidden unit 'h' is gaussian") as caught:
        nngraph.loads(text)
    assert caught.value.hint and (caught.value.span.line, caught.value.span.column) == (1, 35)
    model = nngraph.loads(text.replace("gaussian", "bernoulli")).models["m"]
    model.graph.nodes["h"]["unit"] = replace(model.unit("h"), stochastic="gaussian")  # a graph made in Python
    with pytest.raises(NngraphError, match="hidden unit 'h' is gaussian"):
        EnergyModel(model, backend)


def test_symmetric_links_into_deterministic_units_are_refused_at_check():
    with pytest.raises(NngraphError, match="deterministic unit .x."):
        nngraph.loads("model m { input x[3]; hidden h[2]; x <-> h }")
