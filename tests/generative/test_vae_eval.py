"""`nngraph eval --likelihood K --refine N`: a VAE's importance-sampled log-likelihood and its figures under refined
posteriors from the command line; other methods refuse the options at their method."""

import json

import pytest

from tests.cli.helpers import SPECS, run_cli

VAE = """
model vae { input x[64]; layer e[32] relu; layer mu[2] identity; layer logvar[2] identity
  sample z ~ normal(mu, logvar) prior=mixture(4); layer d[32] relu; output x_hat[64] sigmoid
  x -> e; e -> mu; e -> logvar; z -> d -> x_hat }
train { model vae; data digits(binarize=0.5); test 0.2; method vae; loss bce(x_hat, x) + kl(z)
        optimizer adam(lr=3e-3); batch 64; epochs 3 }
"""


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae")
    spec = folder / "vae.nn"
    spec.write_text(VAE)
    assert run_cli("train", spec, "--out", folder / "run", "-q", "--threads", "1").code == 0
    return spec, folder / "run" / "checkpoint.npz"


def test_eval_reports_the_likelihood_and_the_refined_figures(trained_vae):
    spec, checkpoint = trained_vae
    result = run_cli("eval", spec, "--checkpoint", checkpoint, "--json", "--likelihood", "50", "--refine", "30")
    assert result.code == 0, result.both
    test = json.loads(result.out)["test"]
    assert {"log_likelihood", "refined_loss", "refined_recon", "refined_kl", "refined_log_likelihood"} <= set(test)
    assert -test["log_likelihood"] < test["loss"]  # the estimate lies above the ELBO
    assert test["refined_loss"] < test["loss"]  # refinement tightens the bound
    plain = json.loads(run_cli("eval", spec, "--checkpoint", checkpoint, "--json").out)["test"]
    assert "log_likelihood" not in plain and plain["loss"] == test["loss"]


def test_the_vae_options_are_refused_for_another_method(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", SPECS / "xor.nn", "--out", out, "-q").code == 0
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--likelihood", "10")
    assert result.code == 1
    assert "--likelihood and --refine apply to a VAE (method vae); this run trains by method backprop" in result.err
    assert "xor.nn:" in result.err and "Traceback" not in result.err
