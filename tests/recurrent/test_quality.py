"""Quality floors of issue 4, in seconds with fixed seeds (one BLAS thread: small GEMMs on a loaded
2-core machine are many times slower with two)."""

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.session import prepare
from nngraph.train.loop import fit

SPECS = Path(__file__).resolve().parents[2] / "specs"


def one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1)


def train(name, overrides=()):
    session = prepare(nngraph.load(SPECS / name, list(overrides)))
    with one_thread():
        fit(session.method, session.splits.train, session.splits.validation, session.config)
    return session


def test_sine_elman_next_step_mse_below_1e3():
    session = train("sine_elman.nn")
    assert session.method.evaluate(session.splits.test)["mse"] < 1e-3


def test_adding_problem_t10_is_solved():
    session = train("adding_lstm.nn", ["data=adding(n=2048, length=10)", "epochs=10", "batch=32"])
    test = session.splits.test
    assert test.y.var() > 0.15  # predicting the mean would score about 0.167
    assert session.method.evaluate(test)["mse"] < 0.01


def unigram_loss(train, validation, size):
    counts = np.bincount(train.y.ravel(), minlength=size) + 1.0  # add-one: no character has probability 0
    return float(-np.log(counts / counts.sum())[validation.y.ravel()].mean())


def test_char_model_beats_unigram_by_30_percent():
    session = train("char_rnn.nn")
    val = session.splits.validation
    baseline = unigram_loss(session.splits.train, val, len(val.vocabulary))
    assert session.method.evaluate(val)["loss"] < 0.7 * baseline


@pytest.mark.parametrize("name", ["parity_gru.nn", "parity_mgu.nn", "delay2_elman.nn"])
def test_small_specs_learn(name):
    session = train(name)
    data = session.splits.validation or session.splits.train
    assert session.method.evaluate(data)["loss"] < 0.01
