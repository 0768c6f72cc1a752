"""compile/fuse.py: on the CUDA path a dense layer's bias and activation are one instruction with both outputs.
Every slot the unfused plan fills and every gradient come out the same (float64, the CUDA kernels on their CPU
emulator), and what a method reads or sets by hand is left alone. On the CPU, where the compiled convolution runs,
a convolution and its rectifier are one instruction: the same bits, the pre-activation gone."""

import re
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend import accel
from nngraph.backend.twins import RECTIFIERS
from nngraph.compile import program as program_module
from nngraph.compile.fuse import fuse_bias_activation
from nngraph.ops.fused import FUSED_OPS
from tests.backend.paths import WITH_GEMMS, force_path
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


def training_passes(programs, inputs, target) -> list:
    """(slot values, gradients) of one training pass of each program on the same batch and draws."""
    runs = []
    for program in programs:
        values = program.feeds(inputs, target, rng=np.random.default_rng(1), training=True)
        ctxs = program.run(values, training=True)
        runs.append((dict(values), program.backward(values, ctxs)))
    return runs


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
    (plain_values, plain_grads), (fused_values, fused_grads) = training_passes((plain, fused), inputs, target)
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


# ---- the CPU's plans: a convolution with its rectifier (for_host) ------------------------------------------

# (spec, model, how many conv2d + rectifier pairs its float32 plans fuse where the compiled convolution runs): a
# batchnorm between them (digits_norm) or a unit without one (digits_superres' s) is not fused
RECTIFIED = [("digits_cnn", None, 1), ("digits_cnn_deep", None, 2), ("mnist_lenet", None, 2),
             ("digits_superres", None, 2), ("digits_norm", None, 0)]


def rectified_count(plan) -> int:
    return sum(ins.op.name == "conv2d_rectified" for ins in plan.instrs)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_superres"])
def test_a_rectified_program_exports_as_the_plain_one(name, monkeypatch, tmp_path):
    """An export splits conv2d_rectified back into conv2d and its rectifier, the pre-activation named as the
    plain plan names it: the same ONNX file."""
    pytest.importorskip("onnxruntime")
    from nngraph.export import export_onnx
    if not WITH_GEMMS:
        pytest.skip("no vector path on this CPU: nothing is rectified")
    (tmp_path / "m.nn").write_text(re.sub(r"epochs \d+", "epochs 1", (SPECS / f"{name}.nn").read_text()))
    run = tmp_path / "run"
    nngraph.fit(nngraph.load(tmp_path / "m.nn"), out=run, quiet=True, overwrite=True)
    files = {}
    for path in (accel.TWINS, WITH_GEMMS[0]):
        force_path(monkeypatch, path)
        files[path] = tmp_path / f"{path}.onnx"
        export_onnx(nngraph.load(tmp_path / "m.nn"), None, run / "checkpoint.npz", files[path])
    assert files[accel.TWINS].read_bytes() == files[WITH_GEMMS[0]].read_bytes()


@pytest.mark.parametrize("path", WITH_GEMMS)
@pytest.mark.parametrize("name, model, expected", RECTIFIED)
def test_rectified_plans_give_the_same_bits(name, model, expected, path, monkeypatch):
    """float32 on a vector path: the plan made for the compiled convolution fills every slot the plain plan
    does but the fused pre-activations, with the same bits, and gives the same gradients."""
    checked = nngraph.load(SPECS / f"{name}.nn")
    force_path(monkeypatch, path)
    fused = nngraph.program(checked, model, seed=1)
    with monkeypatch.context() as patch:
        patch.setattr(program_module, "for_host", lambda plan: plan)
        plain = nngraph.program(checked, model, seed=1)
    assert rectified_count(plain.train_plan) == 0
    assert rectified_count(fused.train_plan) == rectified_count(fused.eval_plan) == expected
    assert len(fused.train_plan.instrs) == len(plain.train_plan.instrs) - expected
    inputs, target = _batch(plain, checked, np.random.default_rng(0), n=5)
    inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
    (plain_values, plain_grads), (fused_values, fused_grads) = training_passes((plain, fused), inputs, target)
    gone = {ins.inputs[0] for ins in plain.train_plan.instrs if ins.op.name in RECTIFIERS} - set(fused_values)
    assert len(gone) == expected and set(fused_values) == set(plain_values) - gone
    for slot, value in fused_values.items():
        np.testing.assert_array_equal(value, plain_values[slot], err_msg=slot)
    assert plain_grads.keys() == fused_grads.keys()
    for slot, grad in plain_grads.items():
        np.testing.assert_array_equal(fused_grads[slot], grad, err_msg=slot)


@pytest.mark.parametrize("path, dtype", [(accel.TWINS, "float32"), ("avx2", "float64"), ("generic", "float32")])
def test_plans_without_the_compiled_convolution_keep_their_rectifiers(path, dtype, monkeypatch):
    if path not in (accel.TWINS, *accel.runnable()):
        pytest.skip(f"this CPU does not run the {path} path")
    force_path(monkeypatch, path)
    program = nngraph.program(nngraph.load(SPECS / "mnist_lenet.nn"), dtype=dtype)
    assert rectified_count(program.train_plan) == rectified_count(program.eval_plan) == 0


SMALL_CNN = """model m {{
  input  x[1, 8, 8]
  {role} c {activation}
  output y[10] softmax
  x -> c conv(filters=2, kernel=3, padding=1) -> y
}}
"""


@pytest.mark.parametrize("role, activation, fused", [
    ("layer ", "relu", True), ("layer ", "leaky_relu(slope=0.5)", True),
    ("output", "relu", False),  # an output unit's pre-activation: a method may read it by name
    ("layer ", "leaky_relu(slope=-0.5)", False),  # a > 0 where z < 0: the vjp needs z
])
@pytest.mark.parametrize("path", WITH_GEMMS[:1])
def test_only_a_pre_activation_nothing_else_may_read_is_fused(role, activation, fused, path, monkeypatch):
    force_path(monkeypatch, path)
    program = nngraph.program(nngraph.loads(SMALL_CNN.format(role=role, activation=activation), path="small.nn"))
    assert [ins.op.name for ins in program.train_plan.instrs][:2] == (
        ["conv2d_rectified", "dense"] if fused else ["conv2d", activation.split("(")[0]])
