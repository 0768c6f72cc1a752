"""Bad generative specs: positioned errors from `nngraph check`, exit code 1."""

import pytest

from tests.cli.helpers import SPECS, run_cli


def _variant(tmp_path, spec: str, old: str, new: str):
    text = (SPECS / spec).read_text()
    assert old in text
    path = tmp_path / spec
    path.write_text(text.replace(old, new))
    return path


# (spec, text replaced, replacement, the text on the reported line, message, hint)
CASES = [
    ("gan_ring.nn", "input  p[4]", "input  p[5]", "output p[2]",
     "error: generator output 'p' has shape [2] (2 packed: 4 values)", "[5]"),
    ("gan_ring.nn", "real[1] sigmoid", "real[1] tanh", "real[1] tanh", "error: discriminator", "sigmoid"),
    ("gan_ring.nn", "pack=2", "pack=0", "method gan", "error: gan: pack", ">= 1"),
    ("gan_ring.nn", "method gan(", "method gan(g_optimizer=adamw(lr=1e-4), ", "method gan",
     "error: expected an optimizer, got adamw", "did you mean 'adam'"),
    ("gan_grid.nn", "instance_noise=0.3", "instance_noise=-0.3", "method gan", "error: gan: instance_noise",
     ">= 0"),
    ("gan_grid.nn", "minibatch_std(group=4)", "minibatch_std(group=0)", "minibatch_std(group=0)",
     "error: minibatch_std group: expected a whole number >= 1", "ProGAN"),
    ("gan_grid.nn", "  z -> g -> p\n", "  layer  h\n  z -> g -> h minibatch_std -> p\n", "h minibatch_std",
     "error: minibatch_std link g_4 -> h in model 'generator', which method gan trains", "discriminator"),
    ("vae_digits.nn", "x_hat[64] sigmoid", "x_hat[32] sigmoid", "x_hat[32]",
     "error: decoder output 'x_hat' has shape [32], but the data unit 'x'", "x_hat[64]"),
    ("vae_digits.nn", "normal(mu, logvar)", "normal(mu)", "normal(mu)", "error: normal(...) needs the logvar unit",
     "normal(mu, logvar)"),
    ("vae_digits.nn", "  e -> logvar\n", "", "layer  logvar", "error: unit 'logvar' is not reachable",
     "connect it"),
    ("vae_digits_ar.nn", "x -> x_hat autoregressive", "x -> x_hat", "x -> x_hat",
     "error: the decoder output 'x_hat' reads the data 'x' it reconstructs through dense link x -> x_hat",
     "only through `autoregressive` links"),
    ("vae_digits_ar.nn", "  x -> x_hat autoregressive\n",
     "  layer  h[64] relu layernorm\n  d -> h\n  x -> h autoregressive -> x_hat autoregressive\n", "h[64] relu",
     "error: unit 'h' carries the data 'x' in order to 'x_hat', but its layernorm mixes the values", "value i"),
    ("vae_digits_ar.nn", "  x -> x_hat autoregressive\n", "  layer  h[64] relu\n  x -> h -> x_hat autoregressive\n",
     "x -> h ->", "error: the decoder output 'x_hat' reads the data 'x' it reconstructs through dense link x -> h",
     "autoregressive"),
    ("fvsbn_digits.nn", "output p[64]", "output p[32]", "x -> p autoregressive",
     "error: an autoregressive link needs as many values at both ends: 'x' has 64, 'p' 32", "dense link"),
]


@pytest.mark.parametrize("spec, old, new, where, message, hint", CASES)
def test_bad_generative_spec_is_a_positioned_error(tmp_path, spec, old, new, where, message, hint):
    path = _variant(tmp_path, spec, old, new)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if where in text)
    result = run_cli("check", path)
    assert result.code == 1
    assert f"{path.name}:{line}:" in result.err and message in result.err and hint in result.err
    assert "Traceback" not in result.both
