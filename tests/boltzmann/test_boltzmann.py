"""Method `boltzmann`: the 4-2-4 encoder learns; mean field, persistent chains and every order train; noisy clamping."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.data import load_dataset
from nngraph.session import build_method
from nngraph.compile.partition import most_probable
from tests.boltzmann.helpers import data, method_and_config

SPECS = Path(__file__).resolve().parents[2] / "specs"
PATTERNS = np.concatenate([np.eye(4), np.eye(4)], axis=1)
TINY = """
model m { visible a[3] bernoulli; hidden h[2] bernoulli; a <-> h; h <-> h; a <-> a }
train { model m; data bars(size=2); method boltzmann(sweeps=5); optimizer sgd(lr=0.5); batch 8; epochs 1 }
"""


def encoder_learned(machine) -> bool:
    states = np.zeros((4, machine.size))
    states[:, :8] = PATTERNS
    codes = most_probable(machine, states, np.arange(machine.size) < 8)[:, 8:]
    completions = [most_probable(machine, states, np.isin(np.arange(machine.size), group))[:, :8]
                   for group in (range(4), range(4, 8))]
    return len({tuple(c) for c in codes}) == 4 and all(np.array_equal(c, PATTERNS) for c in completions)


def test_the_424_encoder_learns_a_code(backend):
    spec = nngraph.load(SPECS / "bm_encoder424.nn", ["seed=5"])
    config = spec.train()
    method = build_method(spec, config, backend)
    patterns = load_dataset(config.data, SPECS, seed=5)
    method.check_data(patterns, None)
    rng = np.random.default_rng(5)
    method.set_learning_rate(2.0)
    cycles = next((c for c in range(1, 301) if method.train_step(patterns, rng) and encoder_learned(method.machine)),
                  None)
    assert cycles is not None and cycles <= 300


@pytest.mark.parametrize("options", ["order=parallel, mean_field=true", "order=sequential, chains=16",
                                     "anneal=[[4, 2], [1, 2]], noisy_clamp=0.1"])
def test_every_variant_raises_the_likelihood(backend, options):
    method, _config = method_and_config(TINY, backend, method=f"boltzmann(sweeps=5, {options})")
    x = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [1, 1, 0]] * 2, np.float32)
    method.check_data(data(x), None)
    start = method.evaluate(data(x))["log_likelihood"]
    rng = np.random.default_rng(0)
    for _ in range(60):
        method.set_learning_rate(0.5)
        metrics = method.train_step(data(x), rng)
    assert method.evaluate(data(x))["log_likelihood"] > start + 0.3
    assert {"loss", "recon_error", "log_likelihood"} <= set(metrics)
    if "chains" in options:
        assert method.state()["sampler.chains"].shape == (16, 5)


def test_noisy_clamping_flips_ones_and_zeros_at_the_papers_rates(backend):
    method, _ = method_and_config(TINY, backend, method="boltzmann(noisy_clamp=0.15)")
    v = backend.asarray(np.tile([1.0, 0.0, 0.0], (20000, 1)).astype(np.float32))
    noisy = backend.to_numpy(method.clamped(v, np.random.default_rng(0)))
    assert noisy[:, 0].mean() == pytest.approx(0.85, abs=0.01)
    assert noisy[:, 1:].mean() == pytest.approx(0.05, abs=0.01)


def test_predict_gives_hidden_means(backend):
    method, _ = method_and_config(TINY, backend)
    hidden = method.predict(np.array([[1, 0, 1]], np.float32), None)
    assert hidden.shape == (1, 2) and ((hidden > 0) & (hidden < 1)).all()


def test_mean_field_without_annealing_reaches_the_fixed_point(backend):
    """Found writing the PyTorch twin of `boltzmann` (benchmarks/twin/boltzmann_steps.py): with `mean_field=true`
    and no `anneal`, the positive phase read its starting states (random bits) as the statistics. Now it runs
    `sweeps` mean-field sweeps first: on a restricted machine one sweep is the exact fixed point,
    p(h = 1 | v) = sigmoid(v W + c)."""
    method, _ = method_and_config("model m { visible v[3] bernoulli; hidden h[2] bernoulli; v <-> h }\n"
                                  "train { model m; data bars(size=2); method boltzmann(sweeps=1, mean_field=true);"
                                  " optimizer sgd(lr=0.5); batch 8 }", backend)
    m, xp = method.machine, backend.xp
    x = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]], np.float32)
    states = backend.asarray(np.concatenate([x, [[1, 0], [0, 1], [1, 1]]], axis=1).astype(np.float32))
    _, singles = method.sweeper.statistics(states, method.hidden_units, 1, 1.0, np.random.default_rng(0), True)
    want = 1 / (1 + np.exp(-(x @ backend.to_numpy(m.weights) + backend.to_numpy(m.hidden_bias))))
    np.testing.assert_allclose(backend.to_numpy(singles)[3:], want.mean(axis=0), rtol=1e-5)


def test_a_steps_metrics_measure_the_machine_before_its_update(backend):
    """Found writing the PyTorch twin of `boltzmann`: the step's log-likelihood and reconstruction were measured
    after the update (the positive phase's states with the new weights), unlike every other method's. Now they
    are the machine's that ran the phases: the step's log-likelihood is the one `evaluate` gives before it."""
    method, _ = method_and_config(TINY, backend)
    x = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
    method.check_data(data(x), None)
    method.set_learning_rate(0.5)
    before = method.evaluate(data(x))["log_likelihood"]
    metrics = method.train_step(data(x), np.random.default_rng(0))
    assert float(metrics["log_likelihood"]) == pytest.approx(before, rel=1e-5)
    assert method.evaluate(data(x))["log_likelihood"] != pytest.approx(before, rel=1e-5)


def test_evaluation_in_chunks_gives_the_whole_splits_figures(backend, monkeypatch):
    """A split is evaluated EVAL_ROWS rows at a time (each row's mean field is its own), each chunk weighed by
    its rows: the figures of the whole split at once, up to rounding."""
    import nngraph.train.boltzmann as boltzmann

    method, _ = method_and_config(TINY, backend)
    rows = data(np.random.default_rng(0).random((11, 3)) < 0.5)
    whole = method.evaluate(rows)
    monkeypatch.setattr(boltzmann, "EVAL_ROWS", 4)
    chunked = method.evaluate(rows)
    assert set(chunked) == set(whole) == {"recon_error", "log_likelihood", "loss"}
    assert chunked == pytest.approx(whole, rel=1e-5)
