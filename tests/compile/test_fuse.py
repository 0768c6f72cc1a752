"""compile/fuse.py: on the CUDA path a dense layer's bias and activation are one instruction with both outputs.
Every slot the unfused plan fills and every gradient come out the same (float64, the CUDA kernels on their CPU
emulator), and what a method reads or sets by hand is left alone."""

import re
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend import accel
from nngraph.compile.fuse import fuse_bias_activation
from nngraph.ops.fused import FUSED_OPS
from tests.backend.paths import force_path
from tests.compile.test_model_gradients import _batch

SPECS = Path(__file__).resolve().parents[2] / "specs"
# (spec, model, how many dense or conv2d + activation pairs its training plan fuses): a softmax is not fused, nor
# a dense link's sum with others (a residual's add), nor a tied link
FUSED = [("digits_mlp", None, 2), ("logistic_xor", None, 1), ("xor", None, 2), ("vae_digits", None, 3),
         ("digits_residual", None, 4), ("multilabel_balls", None, 2), ("digits_tied_ae", None, 1),
         ("gan_digits", "discriminator", 2), ("digits_cnn", None, 2), ("mnist_lenet", None, 4),
         ("digits_superres", None, 2)]


def programs(name, model, monkeypatch):
    """(unfused, fused) float64 programs of spec `name` with the same parameters."""
    checked = nngraph.load(SPECS / f"{name}.nn")
    made = []
    for path in (accel.TWINS, accel.CUDA):
        force_path(monkeypatch, path)
        made.append((checked, nngraph.program(checked, model, dtype="float64", seed=1)))
    return made


def fused_count(plan) -> int:
    return sum(ins.op.name in FUSED_OPS.values() for ins in plan.instrs)


@pytest.mark.parametrize("name, model, expected", FUSED)
def test_fused_plans_give_every_slot_and_gradient(name, model, expected, monkeypatch):
    (checked, plain), (_, fused) = programs(name, model, monkeypatch)
    assert fused_count(plain.train_plan) == 0
    count = fused_count(fused.train_plan)
    assert count == expected
    assert len(fused.train_plan.instrs) == len(plain.train_plan.instrs) - count
    assert fused.train_plan.body == plain.train_plan.body - count
    inputs, target = _batch(plain, checked, np.random.default_rng(0))
    runs = []
    for program in (plain, fused):
        values = program.feeds(inputs, target, rng=np.random.default_rng(1), training=True)
        ctxs = program.run(values, training=True)
        runs.append((dict(values), program.backward(values, ctxs)))
    (plain_values, plain_grads), (fused_values, fused_grads) = runs
    assert plain_values.keys() == fused_values.keys()
    for slot, value in plain_values.items():
        np.testing.assert_allclose(fused_values[slot], value, rtol=1e-12, atol=1e-14, err_msg=slot)
    assert plain_grads.keys() == fused_grads.keys()
    for slot, grad in plain_grads.items():
        np.testing.assert_allclose(fused_grads[slot], grad, rtol=1e-10, atol=1e-13, err_msg=slot)


def test_numpy_plans_are_never_fused(monkeypatch):
    force_path(monkeypatch, accel.TWINS)
    program = nngraph.program(nngraph.load(SPECS / "digits_mlp.nn"))
    assert fused_count(program.train_plan) == fused_count(program.eval_plan) == 0


def test_a_vae_keeps_its_posterior_moments_unfused(monkeypatch):
    """A VAE's mean and log-variance units may be set by hand (refined posteriors): their activations stay
    instructions of their own, whatever they are."""
    spec = (SPECS / "vae_digits.nn").read_text().replace("layer  mu[8] identity", "layer  mu[8] tanh").replace(
        "layer  logvar[8] identity", "layer  logvar[8] elu")
    checked = nngraph.loads(spec, path="vae_tanh.nn")
    force_path(monkeypatch, accel.CUDA)
    plan = nngraph.program(checked).train_plan
    fused_outputs = {ins.output[1] for ins in plan.instrs if ins.op.name in FUSED_OPS.values()}
    moments = {slot for ins in plan.instrs if ins.op.name == "gaussian_sample" for slot in ins.inputs[:2]}
    assert moments and not fused_outputs & moments
    assert fuse_bias_activation(plan) is plan  # nothing further to fuse: the pass is idempotent


def test_the_cuda_path_marks_the_ops_with_kernels_of_their_own(monkeypatch):
    force_path(monkeypatch, accel.CUDA)
    plan = nngraph.program(nngraph.load(SPECS / "digits_mlp.nn")).train_plan
    (loss,) = [ins for ins in plan.instrs if ins.op.name == "softmax_cross_entropy"]
    assert loss.attrs["on_device"]
    force_path(monkeypatch, accel.TWINS)
    plan = nngraph.program(nngraph.load(SPECS / "digits_mlp.nn")).train_plan
    assert not any(ins.attrs.get("on_device") for ins in plan.instrs)


@pytest.mark.parametrize("name, activation", [("digits_mlp", "relu"), ("digits_mlp", "leaky_relu(0.2)"),
                                              ("digits_mlp", "elu"), ("digits_cnn", "relu")])
def test_a_program_fused_on_the_cuda_path_exports_as_the_plain_one(name, activation, monkeypatch, tmp_path):
    """Exports split a fused instruction back into its two nodes: the same ONNX file."""
    pytest.importorskip("onnxruntime")
    from nngraph.export import export_onnx
    spec = re.sub(r"epochs \d+", "epochs 1", (SPECS / f"{name}.nn").read_text()).replace(
        "relu dropout=0.1", f"{activation} dropout=0.1")
    (tmp_path / "m.nn").write_text(spec)
    run = tmp_path / "run"
    nngraph.fit(nngraph.load(tmp_path / "m.nn"), out=run, quiet=True, overwrite=True)
    files = {}
    for path in (accel.TWINS, accel.CUDA):
        force_path(monkeypatch, path)
        files[path] = tmp_path / f"{path}.onnx"
        export_onnx(nngraph.load(tmp_path / "m.nn"), None, run / "checkpoint.npz", files[path])
    assert files[accel.TWINS].read_bytes() == files[accel.CUDA].read_bytes()
