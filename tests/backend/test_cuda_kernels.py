"""The CUDA kernels (nngraph/backend/cuda/kernels.cu) without a GPU: NVRTC compiles them as the GPU machine
would (both dtypes), and the CPU emulator runs them, each block's threads as real threads meeting at
`__syncthreads`, under several launch shapes, against their twins. The recurrent tests run whole models on
this path too (tests/backend/paths.py puts "cuda" among every path); tests/backend/test_gpu.py runs them on a
GPU where there is one.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from nngraph.backend import accel, sequence_twins, to_host, twins
from nngraph.backend.cuda import entries
from nngraph.backend.cuda.emulator import EmulatedKernels
from nngraph.backend.cuda.launch import COMPILE_OPTIONS, kernels_for
from nngraph.backend.gpu import load_cupy
from nngraph.backend.cuda.source import SCALAR_TYPES, _param, kernel_source, signatures
from tests.backend import nvrtc
from tests.backend.paths import force_path

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
DTYPES = (np.float32, np.float64)
CLOSE = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
# (max_block, max_grid, reverse): one thread, blocks striding over sequences, threads striding over units, and
# the block's threads taking their turns last first (a race shows as a difference between the orders)
LAUNCH_SHAPES = [(1, 1, False), (2, 3, False), (3, 2, True), (4, 2, False), (4, 2, True)]


# ---- the source --------------------------------------------------------------------------------------


def test_every_kernel_signature_is_read():
    found = signatures()
    assert set(found) == {"sgd", "adam", "lstm_step_forward", "lstm_step_backward", "lstm_sequence_forward",
                          "lstm_sequence_backward", "elman_sequence_forward", "elman_sequence_backward",
                          "gru_sequence_forward", "gru_sequence_backward", "mgu_sequence_forward",
                          "mgu_sequence_backward", "maxpool_forward", "maxpool_backward",
                          "col2im_batch_last", "bias_activation", "add_activation_vjp", "gibbs_sweep",
                          "softmax_xent_forward", "softmax_xent_backward"}
    for signature in found.values():
        assert signature.params and all(p.kind in ("pointer", *SCALAR_TYPES) for p in signature.params)
    assert [p.kind for p in found["sgd"].params] == ["pointer"] * 3 + ["index_t", "real", "real", "int", "int"]
    assert [(p.kind, p.element) for p in found["maxpool_forward"].params[:3]] == [
        ("pointer", "real"), ("pointer", "real"), ("pointer", "int")]
    with pytest.raises(ValueError, match="not a pointer or one of"):
        _param("unsigned char flag")
    with pytest.raises(ValueError, match="real\\*, int\\* or index_t\\* only"):
        _param("const char* __restrict__ name")


@pytest.mark.skipif(not IN_CI and nvrtc.library_path() is None,
                    reason="NVRTC is not installed (pip install nvidia-cuda-nvrtc; a test dependency)")
@pytest.mark.parametrize("real", ["float", "double"])
@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_nvrtc_compiles_the_kernels(real, arch):
    """With the options cupy's RawModule passes (ours, -ftz=true, the device's -arch): the H200 is sm_90."""
    path = nvrtc.library_path()
    assert path is not None, "CI installs the test extra, which brings nvidia-cuda-nvrtc"
    compiled, log = nvrtc.compile_ptx(path, kernel_source(), [f"-Dreal={real}", *COMPILE_OPTIONS, "-ftz=true",
                                                              f"-arch={arch}"])
    assert compiled, log
    assert "warning" not in log.lower(), log


RACY = """
extern "C" __global__ void share(real* out, int meet) {
    NNG_SHARED(real, cell);
    if (threadIdx.x == 0) cell[0] = 1;
    if (meet) __syncthreads();
    out[threadIdx.x] = cell[0];
}
"""


def test_the_emulator_shows_a_race():
    """Thread 0 writes shared memory the others read: without a __syncthreads between, the result depends on
    the order the threads run in (a race on a GPU), and the two orders the tests use tell it; with one, not."""
    from nngraph.backend.cuda.emulator import EmulatedKernels
    kernels = EmulatedKernels(np.float32, RACY)
    results = {}
    for meet in (0, 1):
        for reverse in (False, True):
            kernels.reverse = reverse
            out = np.zeros(4, np.float32)
            kernels("share", 1, 4, out, meet, shared=4)
            results[meet, reverse] = out
    np.testing.assert_array_equal(results[1, False], np.ones(4))
    np.testing.assert_array_equal(results[1, True], np.ones(4))
    np.testing.assert_array_equal(results[0, False], np.ones(4))  # thread 0 ran first
    assert np.isnan(results[0, True][1:]).all()  # the others read the cell before thread 0 wrote it


def test_nvrtc_refuses_what_is_not_cuda():
    """The check above can fail: a kernel calling an undeclared function is refused, with its line."""
    path = nvrtc.library_path()
    if path is None:
        pytest.skip("NVRTC is not installed")
    compiled, log = nvrtc.compile_ptx(path, kernel_source() + '\nextern "C" __global__ void f(real* x) '
                                      '{ x[0] = undeclared(x[1]); }\n', ["-Dreal=float"])
    assert not compiled and "undeclared" in log


# ---- the entries against their twins, on the emulator -------------------------------------------------


@pytest.fixture(params=[*LAUNCH_SHAPES, "gpu"],
                ids=lambda shape: "gpu" if shape == "gpu" else
                f"emulator-block{shape[0]}-grid{shape[1]}" + ("-reversed" if shape[2] else ""))
def executor(request, monkeypatch):
    """The array module the CUDA versions run on: numpy (the emulator, in a few launch shapes) or cupy (the
    GPU, where there is one)."""
    if request.param == "gpu":
        cupy, why_not = load_cupy()
        if cupy is None:
            pytest.skip(why_not)
        return cupy
    for dtype in DTYPES:
        kernels = kernels_for(np, dtype)
        monkeypatch.setattr(kernels, "max_block", request.param[0])
        monkeypatch.setattr(kernels, "max_grid", request.param[1])
        monkeypatch.setattr(kernels, "reverse", request.param[2])
    return np


def run_both(xp, dtype, cuda_entry, twin, make_args):
    """[(the twin's argument, the CUDA version's, both numpy)] by position after each ran on its own copy of
    the same arguments (the twin on numpy, the CUDA version on `xp`), and the kernels' launches by name."""
    kernels = kernels_for(xp, dtype)
    kernels.launches.clear()
    twin_args = make_args()
    cuda_args = [xp.asarray(a) if isinstance(a, np.ndarray) else a for a in make_args()]
    twin(np, *twin_args)
    cuda_entry(kernels, xp, *cuda_args)
    cuda_args = [to_host(a) if hasattr(a, "dtype") and hasattr(a, "shape") else a for a in cuda_args]
    return list(zip(twin_args, cuda_args, strict=True)), dict(kernels.launches)


def assert_same(arrays, dtype, skip=()):
    """Every array argument alike, but those at the positions in `skip` (the twin's scratch)."""
    for at, (a, b) in enumerate(arrays):
        if isinstance(a, np.ndarray) and at not in skip:
            np.testing.assert_allclose(b, a, **CLOSE[dtype])


SEQUENCE_SHAPES = [(4, 5, 7, 3), (1, 1, 1, 2), (3, 2, 33, 4)]  # steps, sequences, hidden units, inputs


def lstm_args(rng, dtype, steps, n, hidden, inputs, dense):
    rows = steps * n
    pre = rng.standard_normal((rows, inputs if dense else 4 * hidden)).astype(dtype)
    x_weight = (rng.standard_normal((inputs, 4 * hidden)) * 0.5).astype(dtype) if dense else None
    weight = (rng.standard_normal((hidden, 4 * hidden)) * 0.5).astype(dtype)
    bias = rng.standard_normal(4 * hidden).astype(dtype) if dense else None
    h, c = (np.zeros(((steps + 1) * n, hidden), dtype) for _ in range(2))
    h[:n], c[:n] = rng.standard_normal((2, n, hidden))
    gates, tanh_c = np.empty((4, rows, hidden), dtype), np.empty((rows, hidden), dtype)
    return pre, x_weight, weight, h, c, gates, tanh_c, np.empty((n, 4 * hidden), dtype), bias


def dropout_mask(rng, dtype, n, hidden, masked: bool):
    """A dropout mask of rate 0.3 as the executor draws one (0 or 1 / 0.7, a row per sequence), or None."""
    return ((rng.random((n, hidden)) >= 0.3) / 0.7).astype(dtype) if masked else None


MASKED = pytest.mark.parametrize("masked", [False, True], ids=["", "dropout"])


def copied(argument):
    return argument.copy() if isinstance(argument, np.ndarray) else argument


def gradient_rows(rng, like, n, dtype):
    dh = np.zeros(like.shape, dtype)
    dh[n:] = rng.standard_normal(dh[n:].shape)
    return dh


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SEQUENCE_SHAPES)
@pytest.mark.parametrize("dense", [True, False], ids=["dense-input", "projected"])
@MASKED
def test_lstm_sequence(dtype, shape, dense, masked, executor):
    steps, n, hidden, inputs = shape
    forward = lstm_args(np.random.default_rng(1), dtype, steps, n, hidden, inputs, dense)
    mask = dropout_mask(np.random.default_rng(5), dtype, n, hidden, masked)
    arrays, launches = run_both(executor, dtype, entries.lstm_sequence_forward,
                                sequence_twins.lstm_sequence_forward,
                                lambda: [copied(a) for a in (*forward, 1, mask)])
    assert launches == {"lstm_sequence_forward": 1}
    assert_same(arrays, dtype, skip={7})
    h, c, gates, tanh_c = (arrays[at][1] for at in (3, 4, 5, 6))
    rng = np.random.default_rng(2)
    dh = gradient_rows(rng, h, n, dtype)
    backward = (gates, c, tanh_c, dh, rng.standard_normal((n, hidden)).astype(dtype),
                np.empty((steps * n, 4 * hidden), dtype), forward[2], np.empty(4 * hidden, dtype), 1, mask)
    arrays, launches = run_both(executor, dtype, entries.lstm_sequence_backward,
                                sequence_twins.lstm_sequence_backward,
                                lambda: [copied(a) for a in backward])
    assert launches == {"lstm_sequence_backward": 1}
    assert_same(arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SEQUENCE_SHAPES)
@MASKED
def test_elman_sequence(dtype, shape, masked, executor):
    steps, n, hidden, _ = shape
    rng = np.random.default_rng(3)
    mask = dropout_mask(rng, dtype, n, hidden, masked)
    raw = np.empty((steps * n, hidden), dtype) if masked else None
    pre = rng.standard_normal((steps * n, hidden)).astype(dtype)
    weight = (rng.standard_normal((hidden, hidden)) * 0.5).astype(dtype)
    h = np.zeros(((steps + 1) * n, hidden), dtype)
    h[:n] = rng.standard_normal((n, hidden))
    arrays, launches = run_both(executor, dtype, entries.elman_sequence_forward,
                                sequence_twins.elman_sequence_forward,
                                lambda: [copied(a) for a in (pre, weight, h, n, 1, mask, raw)])
    assert launches == {"elman_sequence_forward": 1}
    assert_same(arrays, dtype)
    h, raw = arrays[2][1], arrays[6][1]
    dh = gradient_rows(rng, h, n, dtype)
    arrays, launches = run_both(executor, dtype, entries.elman_sequence_backward,
                                sequence_twins.elman_sequence_backward,
                                lambda: [copied(a) for a in (h, dh, np.empty_like(pre), weight, n, 1, mask, raw)])
    assert launches == {"elman_sequence_backward": 1}
    assert_same(arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SEQUENCE_SHAPES)
@MASKED
@pytest.mark.parametrize("cell, blocks", [("gru", 3), ("mgu", 2)])
def test_gated_sequence(dtype, shape, masked, cell, blocks, executor):
    """A GRU (gate blocks r, z, n) or MGU (f, n)."""
    steps, n, hidden, _ = shape
    rows, rng = steps * n, np.random.default_rng(4)
    mask = dropout_mask(rng, dtype, n, hidden, masked)
    pre = rng.standard_normal((rows, blocks * hidden)).astype(dtype)
    weight = (rng.standard_normal((hidden, blocks * hidden)) * 0.5).astype(dtype)
    h = np.zeros(((steps + 1) * n, hidden), dtype)
    h[:n] = rng.standard_normal((n, hidden))

    def forward_args():
        return [pre.copy(), weight.copy(), h.copy(),
                *(np.empty((rows, k * hidden), dtype) for k in (blocks, blocks - 1, 1)), n, 1, mask]

    forward, backward = f"{cell}_sequence_forward", f"{cell}_sequence_backward"
    arrays, launches = run_both(executor, dtype, getattr(entries, forward), getattr(sequence_twins, forward),
                                forward_args)
    assert launches == {forward: 1}
    assert_same(arrays, dtype)
    saved = [cuda for _, cuda in arrays[2:6]]  # h, hu, rz, candidate
    dh = gradient_rows(rng, saved[0], n, dtype)
    arrays, launches = run_both(
        executor, dtype, getattr(entries, backward), getattr(sequence_twins, backward),
        lambda: [*(a.copy() for a in saved), dh.copy(), np.empty_like(saved[1]), np.empty_like(saved[1]),
                 weight.copy(), n, 1, mask])
    assert launches == {backward: 1}
    assert_same(arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_rec", [True, False])
def test_lstm_step(dtype, with_rec, executor):
    n, hidden, rng = 5, 6, np.random.default_rng(5)
    pre, rec = (rng.standard_normal((n, 4 * hidden)).astype(dtype) for _ in range(2))
    c_prev = rng.standard_normal((n, hidden)).astype(dtype)

    def forward_args():
        return [pre.copy(), rec.copy() if with_rec else None, c_prev.copy(), np.empty((4, n, hidden), dtype),
                *(np.empty((n, hidden), dtype) for _ in range(4))]

    arrays, launches = run_both(executor, dtype, entries.lstm_step_forward, twins.lstm_step_forward, forward_args)
    assert launches == {"lstm_step_forward": 1}
    assert_same(arrays, dtype, skip={7})
    gates, tanh_c = arrays[3][1], arrays[5][1]
    dh, dc = (rng.standard_normal((n, hidden)).astype(dtype) for _ in range(2))
    arrays, launches = run_both(executor, dtype, entries.lstm_step_backward, twins.lstm_step_backward,
                                lambda: [gates.copy(), c_prev.copy(), tanh_c.copy(), dh.copy(), dc.copy(),
                                         np.empty((n, 4 * hidden), dtype), np.empty((6, n, hidden), dtype)])
    assert launches == {"lstm_step_backward": 1}
    assert_same(arrays, dtype, skip={6})


# ---- the optimizers: the twins' bits -------------------------------------------------------------------


def optimizer_arrays(dtype, count=1001):
    rng = np.random.default_rng(6)
    signed = [rng.standard_normal(count).astype(dtype) for _ in range(3)]
    return [*signed, np.abs(rng.standard_normal(count)).astype(dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_gives_the_twins_bits(dtype, momentum, nesterov, executor):
    param, buf, grad, _ = optimizer_arrays(dtype)

    def args():
        return [param.copy(), buf.copy() if momentum else None, grad.copy(), np.empty_like(param), 0.05, momentum,
                nesterov]

    arrays, launches = run_both(executor, dtype, entries.sgd, twins.sgd, args)
    assert launches == {"sgd": 1}
    for twin, cuda in arrays[:3]:
        if twin is not None:
            np.testing.assert_array_equal(cuda, twin)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_gives_the_twins_bits(dtype, executor):
    param, exp_avg, grad, exp_avg_sq = optimizer_arrays(dtype)
    arrays, launches = run_both(executor, dtype, entries.adam, twins.adam, lambda: [
        param.copy(), exp_avg.copy(), exp_avg_sq.copy(), grad.copy(), np.empty_like(param), 0.9, 0.999,
        1e-3 / (1 - 0.9 ** 3), (1 - 0.999 ** 3) ** 0.5, 1e-8])
    assert launches == {"adam": 1}
    for twin, cuda in arrays[:4]:
        np.testing.assert_array_equal(cuda, twin)


# ---- where the kernels cannot take the arrays, the twins run ---------------------------------------------


def test_state_beyond_shared_memory_runs_the_twin(monkeypatch):
    kernels = kernels_for(np, np.float64)
    monkeypatch.setattr(kernels, "shared_bytes", 2 * 7 * 8 - 1)  # one value short of h_(t-1) and h_t
    rng = np.random.default_rng(7)
    pre, weight = rng.standard_normal((8, 7)), rng.standard_normal((7, 7))
    h = np.zeros((10, 7))
    arrays, launches = run_both(np, np.float64, entries.elman_sequence_forward, sequence_twins.elman_sequence_forward,
                                lambda: [pre.copy(), weight.copy(), h.copy(), 2])
    assert launches == {}
    assert_same(arrays, np.float64)


def test_strided_arrays_run_the_twin():
    rng = np.random.default_rng(8)
    param, grad = rng.standard_normal(20), rng.standard_normal(10)
    arrays, launches = run_both(np, np.float64, entries.sgd, twins.sgd,
                                lambda: [param.copy()[::2], None, grad.copy(), np.empty(10), 0.1, 0.0, False])
    assert launches == {}
    assert_same(arrays, np.float64, skip={3})


def test_a_launch_checks_its_arrays():
    kernels = kernels_for(np, np.float32)
    with pytest.raises(TypeError, match="must be a C-contiguous float32 array"):
        kernels("sgd", 1, 1, np.zeros(3), None, np.zeros(3, np.float32), 3, 0.1, 0.0, 0, 0)
    with pytest.raises(TypeError, match="takes 8 arguments, given 2"):
        kernels("sgd", 1, 1, np.zeros(3, np.float32), None)


# ---- the door: which arrays take the CUDA kernels --------------------------------------------------------


def test_forcing_cuda_sends_numpy_arrays_to_the_emulator(monkeypatch):
    force_path(monkeypatch, accel.CUDA)
    sgd = accel.get("sgd", np, dtype=np.float32, flat=True)
    assert sgd.func is entries.sgd and isinstance(sgd.args[0], EmulatedKernels)
    assert accel.get("small_gemm", np, dtype=np.float32, rows=4).func is twins.small_gemm  # no CUDA version
    assert accel.get("sgd", np, dtype=np.int64, flat=True).func is twins.sgd
    monkeypatch.setenv(accel.KERNELS_SWITCH, "0")
    assert accel.path(np) == accel.TWINS
    assert "NNGRAPH_ISA=cuda" in accel.status() or accel.status().startswith("compiled CPU kernels: off")


def test_a_mistyped_path_suggests_cuda(monkeypatch):
    monkeypatch.delenv(accel.KERNELS_SWITCH, raising=False)
    monkeypatch.setenv(accel.ISA_SWITCH, "cudaa")
    with pytest.raises(Exception, match="did you mean 'cuda'"):
        accel.path(np)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_training_run_on_the_cuda_path_gives_the_twins_numbers(activation, monkeypatch, tmp_path):
    """An MLP trained with Adam for 3 epochs: on the CUDA path its dense layers' bias and activation are fused
    (compile/fuse.py), the softmax cross-entropy is two row kernels, Adam one. The run is the twins' up to
    float32 rounding (the loss's log-sum-exp rounds differently; with tanh, libm's tanh against numpy's)."""
    import nngraph
    spec = (f"model m {{\n  input x[2]\n  layer h[8] {activation}\n  output y[3] softmax\n  x -> h -> y\n}}\n"
            "train t {\n  model m\n  data spirals(n=120)\n  loss cross_entropy(y)\n"
            "  optimizer adam(lr=0.01)\n  batch 16\n  epochs 3\n  seed 1\n}\n")
    (tmp_path / "mlp.nn").write_text(spec)
    results = {}
    for path in (accel.TWINS, accel.CUDA):
        force_path(monkeypatch, path)
        kernels = kernels_for(np, np.float32)
        kernels.launches.clear()
        summary = nngraph.fit(nngraph.load(tmp_path / "mlp.nn"), out=tmp_path / path, quiet=True)
        with np.load(os.path.join(summary["run_dir"], "checkpoint.npz"), allow_pickle=False) as saved:
            results[path] = {name: saved[name] for name in saved.files if saved[name].dtype.kind == "f"}
        if path == accel.CUDA:
            assert kernels.launches["adam"] > 0 and kernels.launches["bias_activation"] > 0
            assert kernels.launches["add_activation_vjp"] > 0 and kernels.launches["softmax_xent_backward"] > 0
    assert any(name.endswith("weight") for name in results[accel.TWINS])
    for name, value in results[accel.TWINS].items():
        np.testing.assert_allclose(results[accel.CUDA][name], value, rtol=1e-4, atol=1e-5, err_msg=name)


# ---- windows -------------------------------------------------------------------------------------------

WINDOWS = [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (1, 2)), ((1, 1), (1, 1))]  # kernel, stride


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride", WINDOWS)
def test_maxpool(dtype, kernel, stride, executor):
    rng = np.random.default_rng(9)
    padded = rng.standard_normal((3, 2, 7, 8)).astype(dtype)
    padded[0, 0, :2, :2] = 1.0  # ties: the first offset wins
    padded[1, 1, 0, 0] = -np.inf
    kernels = kernels_for(executor, dtype)
    kernels.launches.clear()
    twin_out = twins.maxpool_forward(np, padded, kernel, stride)
    cuda_out = entries.maxpool_forward(kernels, executor, executor.asarray(padded), kernel, stride)
    assert kernels.launches == {"maxpool_forward": 1}
    np.testing.assert_array_equal(to_host(cuda_out[0]), twin_out[0])
    np.testing.assert_array_equal(to_host(cuda_out[1]), twin_out[1])
    assert cuda_out[1].dtype == np.int32
    g = rng.standard_normal(twin_out[0].shape).astype(dtype)
    expected = twins.maxpool_backward(np, g, twin_out[1], padded.shape, kernel, stride)
    got = entries.maxpool_backward(kernels, executor, executor.asarray(g), cuda_out[1], padded.shape, kernel, stride)
    np.testing.assert_array_equal(to_host(got), expected)  # the same sums in the same order


def test_maxpool_propagates_nan_as_its_twin():
    padded = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    padded[0, 0, 1, 0] = np.nan
    twin_best, twin_arg = twins.maxpool_forward(np, padded, (2, 2), (2, 2))
    best, arg = entries.maxpool_forward(kernels_for(np, np.float32), np, padded, (2, 2), (2, 2))
    np.testing.assert_array_equal(best, twin_best)  # NaN where the twin has NaN
    np.testing.assert_array_equal(arg, twin_arg)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, pads", [((5, 5), (1, 1), (0, 0, 0, 0)), ((3, 3), (2, 2), (1, 1, 1, 1)),
                                                  ((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 2), (1, 2), (2, 1, 0, 1))])
def test_col2im_batch_last(dtype, kernel, stride, pads, executor):
    n, channels, height, width = 3, 2, 8, 7
    out_h = (height + pads[0] + pads[1] - kernel[0]) // stride[0] + 1
    out_w = (width + pads[2] + pads[3] - kernel[1]) // stride[1] + 1
    pieces = np.random.default_rng(10).standard_normal((channels, *kernel, out_h, out_w, n)).astype(dtype)
    expected = twins.col2im_batch_last(np, pieces, (n, channels, height, width), kernel, stride, pads)
    kernels = kernels_for(executor, dtype)
    kernels.launches.clear()
    got = entries.col2im_batch_last(kernels, executor, executor.asarray(pieces), (n, channels, height, width),
                                    kernel, stride, pads)
    assert kernels.launches == {"col2im_batch_last": 1} and got.flags.c_contiguous
    np.testing.assert_array_equal(to_host(got), expected)  # the same sums in the same order


# ---- Gibbs sweeps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean_field", [False, True])
def test_gibbs_sweep(dtype, mean_field, executor):
    """A chain a block, its sums reduced over the block's threads (3 of them: a width that does not halve)."""
    rng = np.random.default_rng(11)
    rows, units = 4, 11
    couplings = rng.standard_normal((units, units)).astype(dtype)
    couplings += couplings.T
    np.fill_diagonal(couplings, 0)
    gaussian = rng.random(units) < 0.3
    states = (rng.random((rows, units)) < 0.5).astype(dtype)
    draws = None if mean_field else rng.random((rows, units)).astype(dtype)
    normals = None if mean_field else rng.standard_normal((rows, units)).astype(dtype)
    args = [states, couplings, rng.standard_normal(units).astype(dtype), rng.permutation(units), draws, normals,
            gaussian, 0.7, mean_field]
    arrays, launches = run_both(executor, dtype, entries.gibbs_sweep, twins.gibbs_sweep,
                                lambda: [a.copy() if isinstance(a, np.ndarray) else a for a in args])
    assert launches == {"gibbs_sweep": 1}
    assert_same(arrays[:1], dtype)
    if not mean_field:
        assert set(np.unique(arrays[0][1][:, ~gaussian])) <= {0, 1}


def test_softmax_cross_entropy_rows_refuse_labels_out_of_range_with_nan():
    """Data checks keep labels in range before training; a kernel reading past a row would not say so."""
    z = np.zeros((3, 4), np.float32)
    lse, loss = entries.softmax_xent_rows(kernels_for(np, np.float32), np, z, np.array([0, 4, -1]))
    np.testing.assert_allclose(lse, np.log(4), rtol=1e-6)
    assert np.isfinite(loss[0]) and np.isnan(loss[1:]).all()
