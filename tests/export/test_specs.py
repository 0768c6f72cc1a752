"""Every spec under specs/ exports its forward pass, and ONNX Runtime computes what nngraph does on the spec's
own data (the test split, else the validation or training split), to 1e-5 in float32; a general Boltzmann
machine is refused, naming the links that make it one."""

import numpy as np
import pytest

import nngraph
from nngraph.export.products import PARTS
from nngraph.session import load_trained
from tests.cli.helpers import run_cli
from tests.session.test_specs import _brief  # the same brief runs (MNIST where it is found)

from .helpers import (
    ROWS,
    SPECS,
    assert_matches,
    compared_rows,
    export,
    feeds_of,
    float64_rounding,
    onnx_rounding,
    run_onnx,
    train_briefly,
)

NAMES = sorted(p.name for p in SPECS.glob("*.nn"))
REFUSED = ("bm_encoder424.nn",)
BATCH_DEPENDENT = (("gan_grid.nn", "discriminator"),)  # a minibatch_std link: refused, tested below


def _method(name: str) -> str:
    return nngraph.load(SPECS / name).train(None).method.name


CASES = [(name, part) for name in NAMES if name not in REFUSED for part in PARTS.get(_method(name), (None,))
         if (name, part) not in BATCH_DEPENDENT]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint, the session restored from it) of a brief run of a spec, once per spec."""
    runs = {}

    def run(name: str):
        if name not in runs:
            checked, checkpoint = train_briefly(SPECS / name, tmp_path_factory.mktemp(name), _brief(name))
            runs[name] = checkpoint, load_trained(checked, None, checkpoint)
        return runs[name]
    return run


@pytest.mark.parametrize(("name", "part"), CASES)
def test_every_spec_exports_what_nngraph_computes(name, part, trained, tmp_path):
    checkpoint, session = trained(name)
    path = tmp_path / "model.onnx"
    export(SPECS / name, checkpoint, path, part)
    feeds, want, rounding = REFERENCES[session.config.method.name](session, part)
    got = run_onnx(path, feeds)
    theirs = onnx_rounding(path, feeds, got)
    assert_matches(got, want, {unit: (rounding or {}).get(unit, 0.0) + theirs[unit] for unit in want})


def _backprop(session, part):
    """`predict` of every output unit; recurrent models read (batch, steps, ...) and text one-hot."""
    method = session.method
    x = compared_rows(session)
    feeds = feeds_of(method, x)
    want = {unit: method.predict(x, unit) for unit in method.program.eval_plan.outputs}
    return feeds, want, float64_rounding(method, feeds, want)


def _hidden_features(session, part):
    """`predict` of each hidden group: its probabilities given the visible groups."""
    method, machine = session.method, session.method.machine
    x = compared_rows(session)
    flat = x.reshape(len(x), -1).astype(np.float32)
    feeds = {g.name: flat[:, g.span].reshape((len(x),) + g.shape) for g in machine.visible_groups}
    return feeds, {g.name: method.predict(x, g.name) for g in machine.groups if not g.visible}, None


def _vae(session, part):
    """The latent at its mean: the encoder's mean and log-variance, the decoder from those means, the whole."""
    method = session.method
    x = compared_rows(session)
    outputs, samples = method.program.eval_plan.outputs, method.model.units_with_role("sample")
    if part == "encoder":
        return feeds_of(method, x), {p: method.predict(x, p) for s in samples for p in s.sample_params}, None
    decoded = {unit: method.predict(x, unit) for unit in outputs}
    if part == "decoder":  # an autoregressive decoder reads the data too: each pixel's mean given those before it
        latents = {s.name: method.predict(x, s.name) for s in samples}
        return {**latents, **(feeds_of(method, x) if method.ordered else {})}, decoded, None
    return feeds_of(method, x), decoded, None


def _gan(session, part):
    """The discriminator as `predict` runs it (packed examples); the generator on noise drawn here."""
    method = session.method
    if part == "discriminator":
        x = compared_rows(session, method.pack)
        plan = method.disc.eval_plan
        return {method.real_input: method.packed(x)}, {u: method.predict(x, u) for u in plan.outputs}, None
    plan, rng = method.gen.eval_plan, np.random.default_rng(0)
    noise = {r.slot: rng.standard_normal((ROWS, *r.shape), dtype=np.float32) for r in plan.random
             if r.slot in plan.shapes}
    values = method.gen.forward({"batch": np.empty((ROWS, 0), np.float32)}, given=noise)
    return noise, {unit: values[unit] for unit in plan.outputs}, None


def _agent(session, part):
    """An agent's network on observations drawn here (its data is an environment): every output unit."""
    method = session.method
    x = np.random.default_rng(0).standard_normal((ROWS, *method.plan.shapes[method.feed])).astype(np.float32)
    want = {unit: method.predict(x, unit) for unit in method.program.eval_plan.outputs}
    return {method.feed: x}, want, float64_rounding(method, {method.feed: x}, want)


REFERENCES = {"ppo": _agent, "a2c": _agent, "reinforce": _agent, "dqn": _agent, "backprop": _backprop, "dbn": _backprop, "cd": _hidden_features, "pcd": _hidden_features, "vae": _vae, "gan": _gan}


@pytest.mark.parametrize("name", REFUSED)
def test_a_general_boltzmann_machine_is_refused_naming_its_links(name, tmp_path):
    checkpoint = train_briefly(SPECS / name, tmp_path / "run")[1]
    output = tmp_path / "model.onnx"
    result = run_cli("export", SPECS / name, "--checkpoint", checkpoint, "-o", output)
    assert result.code == 1, result.both
    assert f"{name}:15:5: error: model 'encoder424' is a general Boltzmann machine" in result.err
    assert "(a <-> a, b <-> b, h <-> h)" in result.err and "hint: ONNX export covers restricted machines" in result.err
    assert "Traceback" not in result.both and not output.exists()


@pytest.mark.parametrize(("name", "part"), BATCH_DEPENDENT)
def test_a_discriminator_with_minibatch_std_is_refused_at_the_link(name, part, trained, tmp_path):
    checkpoint, _ = trained(name)
    output = tmp_path / "model.onnx"
    result = run_cli("export", SPECS / name, "--checkpoint", checkpoint, "-o", output, "--part", part)
    line = next(i for i, text in enumerate((SPECS / name).read_text().splitlines(), 1) if "minibatch_std(" in text)
    assert result.code == 1, result.both
    assert f"{name}:{line}:" in result.err
    assert "has a minibatch_std link (d_3 -> s), which has no ONNX export" in result.err
    assert "--part generator" in result.err and "Traceback" not in result.both and not output.exists()
