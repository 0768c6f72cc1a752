"""CD-k and PCD: the update follows the statistics, bars 3x3 is learned, metrics are reported, resume is exact."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.data import load_dataset
from nngraph.data.dataset import unsupervised
from nngraph.errors import DataError
from nngraph.session import build_method
from nngraph.spec.parser import parse_fragment
from nngraph.train.loop import fit
from nngraph.compile.partition import log_z_exact
from tests.boltzmann.helpers import data, method_and_config, method_for

SPECS = Path(__file__).resolve().parents[2] / "specs"
RBM = """
model m { visible v[9] bernoulli; hidden h[16] bernoulli; v <-> h }
train { model m; data bars(size=3); method cd(k=1); optimizer sgd(lr=0.1, momentum=0.5); batch 16; epochs 1 }
"""


def bars3():
    return load_dataset(parse_fragment("bars(size=3)", "value_only", "<test>", 1, 1), ".")


def test_a_step_is_the_statistics_difference(backend):
    method = method_for(RBM, backend, optimizer="sgd(lr=1)")
    m = method.machine
    w, b, c = (backend.to_numpy(a).copy() for a in (m.weights, m.visible_bias, m.hidden_bias))
    batch = bars3()
    method.set_learning_rate(1.0)
    metrics = method.train_step(batch, np.random.default_rng(0))
    v, negative = batch.x, backend.to_numpy(method.buffers.v[len(batch):])  # the chain's visible samples

    def hidden(x):
        return 1 / (1 + np.exp(-(x @ w + c)))
    n = len(v)
    assert np.allclose(backend.to_numpy(m.weights) - w, (v.T @ hidden(v) - negative.T @ hidden(negative)) / n,
                       atol=1e-5)
    assert np.allclose(backend.to_numpy(m.visible_bias) - b, (v - negative).mean(axis=0), atol=1e-5)
    assert np.allclose(backend.to_numpy(m.hidden_bias) - c, (hidden(v) - hidden(negative)).mean(axis=0),
                       atol=1e-5)
    assert {"loss", "recon_error", "free_energy", "pseudo_ll", "log_likelihood"} <= set(metrics)


def test_the_bars_spec_learns_3x3_bars_to_near_the_optimum(backend):
    spec = nngraph.load(SPECS / "rbm_bars.nn")
    method = build_method(spec, spec.train(), backend)
    train = bars3()
    method.check_data(train, None)
    history = fit(method, train, None, spec.train(), rng=np.random.default_rng(0))
    exact = method.evaluate(train)["log_likelihood"]
    assert exact >= -2.75  # issue 15's floor; the optimum is -ln 14 = -2.639
    assert abs(-history.records[-1]["loss_running"] - exact) < 0.1  # the epoch's own measure, one update earlier


def test_pcd_learns_bars(backend):
    method, config = method_and_config(RBM, backend, method="pcd(k=1, chains=100)", epochs=300)
    train = bars3()
    method.check_data(train, None)
    start = method.evaluate(train)["log_likelihood"]
    fit(method, train, None, config, rng=np.random.default_rng(0))
    assert method.evaluate(train)["log_likelihood"] > start + 0.4


def test_pcd_resume_is_exact(backend, tmp_path):
    from nngraph.train.loop import resume
    from nngraph.train.outputs import make_run_dir

    text = RBM.replace("cd(k=1)", "pcd(k=2, chains=8)")
    train = bars3()

    def run(epochs, out, again=False):
        method, config = method_and_config(text, backend, epochs=epochs, checkpoint=1)
        method.check_data(train, None)
        folder = make_run_dir(None, out, spec_text=text, resume=again)
        go = resume if again else fit
        args = (folder.checkpoint,) if again else ()
        go(method, *args, train, None, config, folder, np.random.default_rng(0))
        return method

    whole = run(4, tmp_path / "whole")
    run(2, tmp_path / "part")
    resumed = run(4, tmp_path / "part", again=True)
    for name, value in whole.params.items():
        assert np.array_equal(backend.to_numpy(value), backend.to_numpy(resumed.params[name]))
    assert np.array_equal(backend.to_numpy(whole.chains), backend.to_numpy(resumed.chains))
    assert np.load(tmp_path / "part" / "checkpoint.npz")["sampler.chains"].shape == (8, 9)


def test_non_binary_data_is_refused_with_a_binarize_hint(backend):
    method = method_for(RBM, backend)
    with pytest.raises(DataError, match="values other than 0 and 1") as caught:
        method.check_data(data(np.full((4, 9), 0.3)), None)
    assert "binarize=0.5" in caught.value.hint


def test_gaussian_visible_units_take_real_data(backend):
    text = ("model m { visible v[4] gaussian; hidden h[8] bernoulli; v <-> h }\n"
            "train { model m; data bars(size=2); method cd(k=1); optimizer sgd(lr=0.01); batch 4; epochs 1 }")
    method = method_for(text, backend)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    method.check_data(data(x), None)
    metrics = method.train_step(data(x), np.random.default_rng(0))
    assert "pseudo_ll" not in metrics and np.isfinite(metrics["log_likelihood"])
    assert metrics["log_likelihood"] == pytest.approx(
        float(-method.machine.free_energy(method.rows(data(x))).mean()) - log_z_exact(method.machine), abs=0.5)


def test_predict_gives_hidden_probabilities(backend):
    method = method_for(RBM, backend)
    hidden = method.predict(bars3().x, None)
    recon = method.predict(bars3().x, "v")
    assert hidden.shape == (16, 16) and ((hidden > 0) & (hidden < 1)).all() and recon.shape == (16, 9)


@pytest.mark.parametrize(("spec", "overrides"), [("rbm_digits.nn", ["test=0.5"]),
                                                 ("rbm_gaussian.nn", ["test=0.5", "validation=0.2"])])
def test_fit_starts_the_visible_biases_from_the_training_splits_marginals(spec, overrides):
    """From the training split as the machine sees it (scaled), not from the held-out examples nor from the
    data before scaling; a seeded run starts the same every time."""
    from nngraph.session import prepare

    def started():
        session = prepare(nngraph.load(Path(__file__).resolve().parents[2] / "specs" / spec,
                                       overrides + ["epochs=0"]))
        fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(0))
        return session, session.method.machine

    session, machine = started()
    train = session.splits.train.x.reshape(len(session.splits.train), -1).astype(np.float64)
    p = train.mean(axis=0)
    gaussian = machine.gaussian[:machine.n_visible]
    clipped = np.clip(p, 1e-3, 1 - 1e-3)
    expected = np.where(gaussian, p, np.log(clipped / (1 - clipped)))
    np.testing.assert_allclose(machine.visible_bias, expected, rtol=1e-5, atol=1e-6)
    held_out = session.splits.test.x.reshape(len(session.splits.test), -1).mean(axis=0)
    assert np.abs(held_out - p).max() > 1e-3  # the held-out examples would have given other biases
    np.testing.assert_array_equal(started()[1].visible_bias, machine.visible_bias)


def test_visible_biases_can_start_at_zero():
    from nngraph.session import prepare

    session = prepare(nngraph.load(Path(__file__).resolve().parents[2] / "specs" / "rbm_digits.nn", ["epochs=0"]))
    session.method.start_bias_from_data = False
    fit(session.method, session.splits.train, None, session.config, rng=np.random.default_rng(0))
    assert not session.method.machine.visible_bias.any()


@pytest.mark.parametrize("method_call", ["cd(k=1)", "pcd(k=1, chains=6)"])
def test_as_many_visible_states_on_as_in_the_data_leave_the_visible_bias_exactly(backend, method_call):
    """Found by the PyTorch twin (benchmarks/twin/rbm_steps.py, --dtype float32): when the chain's visible states
    are on as often as the data's, the visible bias's gradient is 0 exactly, so Adam (a step of about lr for any
    gradient well above its eps, 1e-8) leaves the bias where it is. A signed sum over the data and chain rows at
    once left float32 rounding of about 1e-8 there, which Adam turned into steps of 0.3 to 0.8 lr."""
    text = RBM.replace("method cd(k=1)", f"method {method_call}").replace("v[9]", "v[3]")
    method = method_for(text, backend, optimizer="adam(lr=0.01)", batch="6")
    m = method.machine
    m.params["v.bias"][...] = 40.0  # every visible unit of the chain on, as in the data
    m.sync()
    before = backend.to_numpy(m.params["v.bias"]).copy()
    method.set_learning_rate(0.01)
    for seed in range(3):
        method.train_step(unsupervised(np.ones((6, 3), np.float32), "ones"), np.random.default_rng(seed))
    assert np.array_equal(backend.to_numpy(m.params["v.bias"]), before)


def test_a_cd_chain_that_reproduces_the_data_leaves_the_hidden_bias_exactly(backend):
    """Found by the PyTorch twin (benchmarks/twin/dbn_steps.py, --dtype float32): when CD's chain ends on the
    data's own rows, the hidden probabilities of both sides are the same numbers and the hidden bias's gradient
    is 0 exactly, so Adam leaves the bias where it is. The signed sum over both sides' rows at once left float32
    rounding there, which Adam turned into steps of up to lr (a DBN's tiny layers moved 3e-2 off)."""
    text = RBM.replace("v[9]", "v[3]")
    method = method_for(text, backend, optimizer="adam(lr=0.01)", batch="6")
    m = method.machine
    m.params["v.bias"][...] = 40.0  # every visible unit of the chain on, as in the data
    rng = np.random.default_rng(1)
    m.params["v<->h.weight"][...] = backend.asarray(rng.normal(0, 0.7, (3, 16)).astype(np.float32))
    m.params["h.bias"][...] = backend.asarray(rng.normal(0, 0.7, 16).astype(np.float32))
    before = backend.to_numpy(m.params["h.bias"]).copy()
    method.set_learning_rate(0.01)
    x = np.ones((6, 3), np.float32)
    for seed in range(3):
        method.train_step(unsupervised(x, "ones"), np.random.default_rng(seed))
    assert np.array_equal(backend.to_numpy(m.params["h.bias"]), before)
