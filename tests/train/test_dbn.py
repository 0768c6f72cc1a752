"""Method `dbn` (train/dbn.py): greedy pretraining lowers each layer's reconstruction error, fine-tuning
starts from the pretrained weights, top-down samples have the data's shape, and a data or sampling request
it cannot serve is a clear error."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.ops.activations import stable_sigmoid
from nngraph.session import prepare
from nngraph.train.provenance import CheckpointWarning
from tests.cli.helpers import run_cli

SPEC = Path(__file__).resolve().parents[2] / "specs" / "dbn_digits.nn"


def _session(*overrides: str):
    return prepare(nngraph.load(SPEC, list(overrides)))


def _pretrained(*overrides: str):
    """The spec's session, its parameters before pretraining, and the method after (with one BLAS thread, as
    a run has on a busy machine: the default spins idle threads)."""
    session = _session(*overrides)
    method = session.method
    initial = {k: v.copy() for k, v in method.params.items()}
    with compute_threads(1):
        method.pretrain(session.splits.train, np.random.default_rng(0))
    return session, method, initial


@pytest.fixture(scope="module")
def pretrained():
    return _pretrained()


def test_pretraining_lowers_each_layers_reconstruction_error(pretrained):
    _, method, _ = pretrained
    assert [r["layer"] for r in method.pretraining] == ["h1", "h2"]
    for record in method.pretraining:
        assert record["recon_error_after"] < 0.7 * record["recon_error_before"], record
        assert record["pseudo_ll_after"] > record["pseudo_ll_before"], record


def test_the_network_holds_the_rbms_weights_and_reconstructs_as_they_did(pretrained):
    session, method, initial = pretrained
    params, x = method.params, session.splits.train.x
    for name in ("x->h1.weight", "h1.bias", "h1->h2.weight", "h2.bias"):
        assert not np.allclose(params[name], initial[name]), name
    np.testing.assert_array_equal(params["h2->y.weight"], initial["h2->y.weight"])  # not pretrained
    # the bottom RBM's reconstruction error, recomputed from the network's weights and the generative biases
    hidden = stable_sigmoid(np, x @ params["x->h1.weight"] + params["h1.bias"])
    recon = stable_sigmoid(np, hidden @ params["x->h1.weight"].T + method.generative["x"])
    assert float(((recon - x) ** 2).mean()) == pytest.approx(method.pretraining[0]["recon_error_after"], rel=1e-4)
    np.testing.assert_allclose(method.predict(x[:5], "h1"), hidden[:5], rtol=1e-5, atol=1e-6)


def test_fine_tuning_starts_from_the_pretrained_weights_and_pretrains_once(tmp_path):
    checked = nngraph.load(SPEC, ["epochs=0", "method=dbn(pretrain=2)"])
    nngraph.fit(checked, out=tmp_path / "run")
    with np.load(tmp_path / "run" / "checkpoint.npz") as saved:
        pretrained = saved["params.x->h1.weight"].copy()
        assert bool(saved["dbn.pretrained"])
    seen = []
    from nngraph.train import dbn

    original = dbn.DeepBeliefNet.train_step

    def first_step(self, batch, rng):
        seen.append(self.params["x->h1.weight"].copy())
        return original(self, batch, rng)

    dbn.DeepBeliefNet.train_step = first_step
    try:
        with pytest.warns(CheckpointWarning, match=r"epochs 0 \(now 1\)"):
            summary = nngraph.fit(nngraph.load(SPEC, ["epochs=1", "method=dbn(pretrain=2)"]),
                                  resume=tmp_path / "run")
    finally:
        dbn.DeepBeliefNet.train_step = original
    np.testing.assert_array_equal(seen[0], pretrained)  # resumed: no second pretraining
    assert summary["epochs_run"] == 1 and "pretraining" not in summary


def test_pretraining_then_fine_tuning_classifies_digits(tmp_path):
    summary = nngraph.fit(nngraph.load(SPEC, ["epochs=5"]), out=tmp_path / "run")
    assert summary["test"]["accuracy"] >= 0.9, summary["test"]  # measured: 0.933
    assert [r["layer"] for r in summary["pretraining"]] == ["h1", "h2"]


def test_chains_pretrain_each_layer_by_persistent_cd():
    _, method, _ = _pretrained("method=dbn(chains=50, pretrain=20, pretrain_optimizer=sgd(lr=0.05, momentum=0.5))")
    assert method.rbm_config.method.name == "pcd" and method.rbm_config.method.options["chains"] == 50
    for record in method.pretraining:  # measured: +4.3 and +3.2 nats
        assert record["pseudo_ll_after"] > record["pseudo_ll_before"] + 1, record


def test_top_down_samples_have_the_datas_shape(pretrained):
    _, method, _ = pretrained
    rng = np.random.default_rng(3)
    states = method.top_down(7, 20, rng)
    means = method.top_down(7, 20, rng, means=True)
    assert states.shape == means.shape == (7, 64)
    assert np.isin(states, (0, 1)).all() and ((means > 0) & (means < 1)).all()


def test_sample_command_writes_top_down_draws(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", SPEC, "--set", "epochs=0", "--set", "method=dbn(pretrain=1)", "--out", run, "-q").code == 0
    result = run_cli("sample", SPEC, "--checkpoint", run / "checkpoint.npz", "-n", "5", "--steps", "10",
                     "-o", tmp_path / "s.npy")
    assert result.code == 0 and "wrote 5 top-down samples" in result.out, result.both
    assert np.load(tmp_path / "s.npy").shape == (5, 64)
    refused = run_cli("sample", SPEC, "--checkpoint", run / "checkpoint.npz", "--fill", "bottom")
    assert refused.code == 1 and "does not fill in" in refused.err and "Traceback" not in refused.both


def test_data_outside_0_1_is_refused_at_the_data_setting(tmp_path):
    text = SPEC.read_text().replace("data digits", "data digits(scale=standard)")
    spec = tmp_path / "d.nn"
    spec.write_text(text)
    result = run_cli("train", spec, "--out", tmp_path / "run", "-q")
    line = text.splitlines().index("  data digits(scale=standard)") + 1
    assert result.code == 1 and f"d.nn:{line}:" in result.err and "in [0, 1]" in result.err, result.both
    assert "Traceback" not in result.both and not (tmp_path / "run").exists()
