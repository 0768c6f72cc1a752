"""The door to the accelerated computations, `nngraph.backend.accel`: every entry of its table, on every
compiled path this CPU runs, against its numpy twin; every path giving the same bits; and which of the
two the door hands out (dtype, sizes, path, switches)."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

from functools import partial

import numpy as np
import pytest

from nngraph.backend import accel, sequence_twins, twins
from nngraph.backend.windows import Geometry
from nngraph.backend.cuda.launch import device_check
from nngraph.errors import BackendError
from tests.backend.paths import COMPILED, WITH_GEMMS, force_path

F32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 tanh in C is a rational approximation, |err| < 3e-7
F64 = {"rtol": 1e-12, "atol": 1e-15}
SUMS = {"rtol": 1e-4, "atol": 1e-5}  # float32 products and step loops summed in other orders
EXACT = {"rtol": 0, "atol": 0}


@dataclass(frozen=True)
class Case:
    """How to call one entry: `make(rng, dtype)` gives fresh arguments (after xp); the entry writes the
    arguments at `writes` and returns what it returns; `facts(args)` are the door's facts for them, for
    which it hands out the compiled version (on the paths in the entry's `where`) if `handed_out`."""

    make: Callable
    writes: tuple[int, ...] = ()
    dtypes: tuple = (np.float32, np.float64)
    tolerance: dict | None = None  # None: F32 or F64 by dtype
    facts: Callable = lambda args: {}
    handed_out: bool = True
    compared: Callable = lambda returned: returned  # what of the returned value to compare


def nan_gates(n, h, dtype, steps=3, step=1):
    """A (4, n, h) slot view of step `step` inside a (4, steps * n, h) buffer full of NaN, as the
    executor passes it."""
    return np.full((4, steps * n, h), np.nan, dtype=dtype)[:, step * n:(step + 1) * n]


def pre_activations(rng, n, h, dtype):
    """(n, 4h) pre-activations: mostly moderate, a quarter large (|a| up to 20)."""
    a = rng.standard_normal((n, 4 * h)) * 2
    large = rng.random((n, 4 * h)) < 0.25
    a[large] = rng.uniform(-20, 20, large.sum())
    return a.astype(dtype)


def normal(rng, dtype, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def lstm_forward_args(rng, dtype, n=6, h=5):
    return (pre_activations(rng, n, h, dtype), pre_activations(rng, n, h, dtype), normal(rng, dtype, n, h, scale=2),
            nan_gates(n, h, dtype), *(np.full((n, h), np.nan, dtype) for _ in range(3)), np.empty((n, h), dtype))


def lstm_forward_args_without_rec(rng, dtype):
    pre, _, *rest = lstm_forward_args(rng, dtype)
    return pre, None, *rest


def lstm_backward_args(rng, dtype, n=6, h=5):
    pre, rec, c_prev, gates, c, tanh_c, out, work = lstm_forward_args(rng, dtype, n, h)
    twins.lstm_step_forward(np, pre, rec, c_prev, gates, c, tanh_c, out, work)
    return (gates, c_prev, tanh_c, normal(rng, dtype, n, h), normal(rng, dtype, n, h),
            np.full((n, 4 * h), np.nan, dtype), np.empty((6, n, h), dtype))


def optimizer_arrays(rng, dtype, count, size=37):
    return [normal(rng, dtype, size) for _ in range(count)]


def sgd_args(momentum, nesterov):
    def make(rng, dtype):
        param, buf, grad = optimizer_arrays(rng, dtype, 3)
        return param, buf if momentum else None, grad, np.empty_like(param), 0.05, momentum, nesterov
    return make


def adam_args(rng, dtype):
    param, m, v, grad = optimizer_arrays(rng, dtype, 4)
    return param, m, np.abs(v), grad, np.empty_like(param), 0.9, 0.999, 0.01 / (1 - 0.9**3), 0.05, 1e-8


def windows(args) -> dict:
    return {"kernel": args[1], "stride": args[2]}


def pool_args(rng, dtype, kernel=(3, 2), stride=(2, 1)):
    image = np.round(normal(rng, dtype, 3, 2, 9, 8, scale=2))  # rounded: ties in many windows
    return image, kernel, stride


def pool_backward_args(rng, dtype):
    image, kernel, stride = pool_args(rng, dtype)
    best, argmax = twins.maxpool_forward(np, image, kernel, stride)
    return normal(rng, dtype, *best.shape), argmax, image.shape, kernel, stride


def avgpool_backward_args(rng, dtype, kernel=(3, 2), stride=(2, 1)):
    image, kernel, stride = pool_args(rng, dtype, kernel, stride)
    g = normal(rng, dtype, *image.shape[:2], *twins.pooled_hw(image.shape, kernel, stride))
    return g, image.shape, kernel, stride


def gemm_args(rng, dtype, m=13, k=70, n=45):
    return normal(rng, dtype, m, k), normal(rng, dtype, k, n), normal(rng, dtype, m, n), True, np.empty((m, n), dtype)


def transposed_args(rng, dtype, k=300, n=40):
    return [normal(rng, dtype, k, 11), normal(rng, dtype, k, 32)], normal(rng, dtype, k, n)


STEPS, BATCH, WIDTH, INPUTS = 5, 11, 12, 7  # a batch that is not a whole number of tiles


def states(rng, dtype, width=WIDTH, fill=np.nan):
    """((T+1)*n, width): the initial state in the first n rows, the rest `fill`."""
    h = np.full(((STEPS + 1) * BATCH, width), fill, dtype)
    h[:BATCH] = normal(rng, dtype, BATCH, width, scale=0.5)
    return h


def dropout_mask(rng, dtype):
    """A dropout mask of rate 0.3 (0 or 1 / 0.7, a row per sequence for every step)."""
    return ((rng.random((BATCH, WIDTH)) >= 0.3) / 0.7).astype(dtype)


def masked(make):
    """The arguments of `make` with a dropout mask after its thread count."""
    return lambda rng, dtype: (*make(rng, dtype), dropout_mask(rng, dtype))


def lstm_sequence_args(projected):
    def make(rng, dtype):
        rows, w = STEPS * BATCH, WIDTH
        pre = normal(rng, dtype, rows, 4 * w if projected else INPUTS)
        x_weight = None if projected else normal(rng, dtype, INPUTS, 4 * w, scale=0.4)
        return (pre, x_weight, normal(rng, dtype, w, 4 * w, scale=0.4), states(rng, dtype), states(rng, dtype),
                np.full((4, rows, w), np.nan, dtype), np.full((rows, w), np.nan, dtype),
                np.empty((BATCH, 4 * w), dtype), normal(rng, dtype, 4 * w), 2)
    return make


def lstm_sequence_backward_args(rng, dtype):
    pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads = lstm_sequence_args(False)(rng, dtype)
    sequence_twins.lstm_sequence_forward(np, pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias)
    return (gates, c, tanh_c, states(rng, dtype, fill=0.3), normal(rng, dtype, BATCH, WIDTH),
            np.full((STEPS * BATCH, 4 * WIDTH), np.nan, dtype), weight, np.full(4 * WIDTH, np.nan, dtype), threads)


def masked_lstm_backward_args(rng, dtype):
    """The backward's arguments after a forward under the same mask."""
    pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads, mask = masked(lstm_sequence_args(False))(
        rng, dtype)
    sequence_twins.lstm_sequence_forward(np, pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, 1, mask)
    return (gates, c, tanh_c, states(rng, dtype, fill=0.3), normal(rng, dtype, BATCH, WIDTH),
            np.full((STEPS * BATCH, 4 * WIDTH), np.nan, dtype), weight, np.full(4 * WIDTH, np.nan, dtype), threads,
            mask)


def elman_sequence_args(rng, dtype):
    return normal(rng, dtype, STEPS * BATCH, WIDTH), normal(rng, dtype, WIDTH, WIDTH, scale=0.4), states(rng, dtype), \
        BATCH, 2


def masked_elman_args(rng, dtype):
    """With a dropout mask and the raw buffer that comes with it."""
    return (*elman_sequence_args(rng, dtype), dropout_mask(rng, dtype), np.full((STEPS * BATCH, WIDTH), np.nan, dtype))


def elman_sequence_backward_args(rng, dtype, masked=False):
    pre, weight, h, n, threads, *mask_and_raw = (masked_elman_args if masked else elman_sequence_args)(rng, dtype)
    sequence_twins.elman_sequence_forward(np, pre, weight, h, n, 1, *mask_and_raw)
    return (h, states(rng, dtype, fill=0.3), np.full((STEPS * BATCH, WIDTH), np.nan, dtype), weight, n, threads,
            *mask_and_raw)


def gated_sequence_args(blocks):
    """A GRU's (3 gate blocks) or MGU's (2) forward arguments."""
    def make(rng, dtype):
        rows, w = STEPS * BATCH, WIDTH
        return (normal(rng, dtype, rows, blocks * w), normal(rng, dtype, w, blocks * w, scale=0.4),
                states(rng, dtype), *(np.full((rows, k * w), np.nan, dtype) for k in (blocks, blocks - 1, 1)), BATCH,
                2)
    return make


def gated_sequence_backward_args(blocks, masked=False):
    """Its backward's arguments after a forward (under a mask where `masked`, which ends them)."""
    forward = sequence_twins.gru_sequence_forward if blocks == 3 else sequence_twins.mgu_sequence_forward

    def make(rng, dtype):
        mask = dropout_mask(rng, dtype) if masked else None
        pre, weight, h, hu, gates, nn, n, threads = gated_sequence_args(blocks)(rng, dtype)
        forward(np, pre, weight, h, hu, gates, nn, n, 1, mask)
        return (h, hu, gates, nn, states(rng, dtype, fill=0.3),
                *(np.full((STEPS * BATCH, blocks * WIDTH), np.nan, dtype) for _ in range(2)), weight, n, threads,
                *((mask,) if masked else ()))
    return make


def gated_cases(blocks):
    """The forward's and the backward's cases of a GRU or MGU, without and with a dropout mask."""
    return ([Case(gated_sequence_args(blocks), (2, 3, 4, 5), **SEQUENCE),
             Case(masked(gated_sequence_args(blocks)), (2, 3, 4, 5), **SEQUENCE)],
            [Case(gated_sequence_backward_args(blocks, masked), (4, 5, 6), **SEQUENCE) for masked in (False, True)])


FLOAT32 = (np.float32,)


def flat(args) -> dict:
    return {"flat": True}


SEQUENCE = {"dtypes": FLOAT32, "tolerance": SUMS, "facts": lambda args: {"batch": BATCH}}


def bias_activation_args(name, bias: bool, shape=(5, 7)):
    """z pre-activations spanning both signs (a NaN and -0.0 among them): a dense layer's (5, 7), or a
    convolution's (N, F, H, W); a bias per unit or channel, or None."""
    def make(rng, dtype):
        z = normal(rng, dtype, *shape, scale=3)
        z.flat[0], z.flat[1] = np.nan, -0.0
        return z, normal(rng, dtype, shape[1]) if bias else None, name, 0.2
    return make


def activation_vjp_args(name, with_gz: bool):
    def make(rng, dtype):
        z = normal(rng, dtype, 5, 7, scale=3)
        a = twins.activation(np, name, z, 0.2)
        return (normal(rng, dtype, 5, 7) if with_gz else None), normal(rng, dtype, 5, 7), z, a, name, 0.2
    return make


def gibbs_args(mean_field: bool):
    """A sweep of 9 units (3 gaussian) of 5 chains, in a random order, at temperature 1.5."""
    def make(rng, dtype, rows=5, units=9):
        couplings = normal(rng, dtype, units, units)
        couplings = couplings + couplings.T
        np.fill_diagonal(couplings, 0)
        gaussian = np.zeros(units, bool)
        gaussian[[1, 4, 7]] = True
        draws = None if mean_field else rng.random((rows, units)).astype(dtype)
        normals = None if mean_field else normal(rng, dtype, rows, units)
        states = (rng.random((rows, units)) < 0.5).astype(dtype)
        return (states, couplings, normal(rng, dtype, units), rng.permutation(units), draws, normals, gaussian, 1.5,
                mean_field)
    return make


def xent_args(rng, dtype, rows=7, classes=5):
    return normal(rng, dtype, rows, classes, scale=4), rng.integers(0, classes, rows)


def xent_vjp_args(rng, dtype):
    z, labels = xent_args(rng, dtype)
    lse, _ = twins.softmax_xent_rows(np, z, labels)
    return z, labels, lse, np.asarray(0.5, dtype=dtype), 7


def col2im_args(rng, dtype, kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1)):
    """A convolution's window gradients with the batch innermost, (C, kh, kw, Ho, Wo, N), for a 3 x 2 x 6 x 5
    input."""
    n, c, h, w = 3, 2, 6, 5
    out_hw = ((h + pads[0] + pads[1] - kernel[0]) // stride[0] + 1, (w + pads[2] + pads[3] - kernel[1]) // stride[1] + 1)
    return normal(rng, dtype, c, *kernel, *out_hw, n), (n, c, h, w), kernel, stride, pads


def conv_args(x_shape=(3, 2, 7, 6), w_shape=(5, 2, 3, 2), stride=(1, 1), pads=(1, 1, 0, 0)):
    """A convolution's forward arguments (x, w, bias, geometry, keep_for_input_grad)."""
    def make(rng, dtype):
        (kh, kw), (h, w) = w_shape[2:], x_shape[2:]
        out = ((h + pads[0] + pads[1] - kh) // stride[0] + 1, (w + pads[2] + pads[3] - kw) // stride[1] + 1)
        return (normal(rng, dtype, *x_shape), normal(rng, dtype, *w_shape), normal(rng, dtype, w_shape[0]),
                Geometry((kh, kw), stride, pads, out), True)
    return make


def conv_vjp_args(make_forward):
    """(g, saved, x, w, geometry, input_grad, weight_grad, bias_grad): saved by the twin's forward (the
    compiled vjp makes its columns again)."""
    def make(rng, dtype):
        x, w, bias, geo, keep = make_forward(rng, dtype)
        _, saved = twins.conv2d_forward(np, x, w, bias, geo, keep)
        return normal(rng, dtype, x.shape[0], w.shape[0], *geo.out), saved, x, w, geo, True, True, True
    return make


CONV = {"dtypes": FLOAT32, "tolerance": SUMS}

CASES: dict[str, list[Case]] = {
    "maxpool_forward": [Case(pool_args, tolerance=EXACT, facts=windows, handed_out=False),  # windows overlap
                        Case(lambda rng, dtype: pool_args(rng, dtype, (2, 2), (2, 2)), tolerance=EXACT, facts=windows)],
    "maxpool_backward": [Case(pool_backward_args)],
    # the same sums in the same order: the same bits, windows overlapping, tiling, and with gaps between
    "avgpool_forward": [Case(pool_args, tolerance=EXACT),
                        Case(lambda rng, dtype: pool_args(rng, dtype, (2, 2), (2, 2)), tolerance=EXACT),
                        Case(lambda rng, dtype: pool_args(rng, dtype, (2, 2), (3, 3)), tolerance=EXACT)],
    "avgpool_backward": [Case(avgpool_backward_args, tolerance=EXACT),
                         Case(lambda rng, dtype: avgpool_backward_args(rng, dtype, (2, 2), (2, 2)), tolerance=EXACT),
                         Case(lambda rng, dtype: avgpool_backward_args(rng, dtype, (2, 2), (3, 3)), tolerance=EXACT)],
    "bias_activation": [Case(bias_activation_args(name, bias), (0,), facts=flat) for name in twins.FUSED_ACTIVATIONS
                        for bias in (True, False)] + [Case(bias_activation_args("relu", True, (3, 4, 2, 5)), (0,))],
    "add_activation_vjp": [Case(activation_vjp_args(name, with_gz), facts=flat) for name in twins.FUSED_ACTIVATIONS
                           for with_gz in (True, False)],
    "gibbs_sweep": [Case(gibbs_args(mean_field), (0,)) for mean_field in (False, True)],
    "softmax_xent_rows": [Case(xent_args)],
    "softmax_xent_rows_vjp": [Case(xent_vjp_args)],
    "col2im_batch_last": [Case(col2im_args, tolerance=EXACT),
                          Case(lambda rng, dtype: col2im_args(rng, dtype, (1, 1), (2, 1), (1, 1, 1, 1)), tolerance=EXACT),
                          Case(lambda rng, dtype: col2im_args(rng, dtype, (2, 2), (2, 2), (0, 0, 0, 0)), tolerance=EXACT)],
    "conv2d_forward": [Case(conv_args(), compared=lambda returned: returned[0], **CONV),  # the output, not saved
                       Case(conv_args((2, 3, 9, 9), (4, 3, 3, 3), (2, 2), (0, 0, 0, 0)), compared=lambda r: r[0],
                            **CONV)],
    "conv2d_vjp": [Case(conv_vjp_args(conv_args()), **CONV),
                   Case(conv_vjp_args(conv_args((2, 3, 9, 9), (4, 3, 3, 3), (2, 2), (0, 0, 0, 0))), **CONV)],
    "sgd": [Case(sgd_args(m, nesterov), (0, 1) if m else (0,), tolerance=EXACT, facts=flat)
            for m, nesterov in ((0.0, False), (0.9, False), (0.9, True))],
    "adam": [Case(adam_args, (0, 1, 2), tolerance=EXACT, facts=flat)],
    "lstm_step_forward": [Case(lstm_forward_args, (3, 4, 5, 6)), Case(lstm_forward_args_without_rec, (3, 4, 5, 6))],
    "lstm_step_backward": [Case(lstm_backward_args, (4, 5))],
    "small_gemm": [Case(gemm_args, (2,), FLOAT32, SUMS, lambda args: {"rows": len(args[0])}),
                   Case(lambda rng, dtype: gemm_args(rng, dtype, m=48, k=5, n=64)[:3] + (False, None), (2,), FLOAT32,
                        SUMS, lambda args: {"rows": len(args[0])})],
    "transposed_gemm": [Case(transposed_args, (), FLOAT32, SUMS, lambda args: {"factors": 2, "contiguous_rows": True})],
    "lstm_sequence_forward": [Case(lstm_sequence_args(projected), (3, 4, 5, 6), **SEQUENCE) for projected in (False, True)]
    + [Case(masked(lstm_sequence_args(False)), (3, 4, 5, 6), **SEQUENCE)],
    "lstm_sequence_backward": [Case(lstm_sequence_backward_args, (3, 4, 5, 7), **SEQUENCE),
                               Case(masked_lstm_backward_args, (3, 4, 5, 7), **SEQUENCE)],
    "elman_sequence_forward": [Case(elman_sequence_args, (2,), **SEQUENCE), Case(masked_elman_args, (2, 6), **SEQUENCE)],
    "elman_sequence_backward": [Case(elman_sequence_backward_args, (1, 2), **SEQUENCE),
                                Case(partial(elman_sequence_backward_args, masked=True), (1, 2), **SEQUENCE)],
    **{f"{cell}_sequence_{way}": cases for cell, blocks in (("gru", 3), ("mgu", 2))
       for way, cases in zip(("forward", "backward"), gated_cases(blocks), strict=True)},
}


def test_every_entry_has_cases():
    assert CASES.keys() == accel.TABLE.keys()


def results(args, returned, case: Case) -> list:
    """What a call produced: the arguments it writes, then the arrays it returned."""
    returned = case.compared(returned)
    if returned is None:
        returned = ()
    elif not isinstance(returned, tuple | list):
        returned = (returned,)
    return [args[i] for i in case.writes] + list(returned)


def call(implementation, case: Case, dtype, seed: int) -> list:
    args = case.make(np.random.default_rng(seed), dtype)
    return results(args, implementation(*args), case)


def entry_runs():
    """(entry, path, case number, dtype) for every entry and every compiled path here that has it."""
    for name, cases in CASES.items():
        for path in COMPILED:
            if accel.has_compiled(name, path):
                for number, case in enumerate(cases):
                    for dtype in case.dtypes:
                        yield pytest.param(name, path, number, dtype,
                                           id=f"{name}-{path}-{number}-{np.dtype(dtype).name}")


@pytest.mark.parametrize("name, path, number, dtype", list(entry_runs()))
def test_the_compiled_version_matches_its_twin(name, path, number, dtype, monkeypatch):
    case = CASES[name][number]
    force_path(monkeypatch, accel.TWINS)  # the twin, numpy throughout (the sequence twins' steps too)
    twin = accel.get(name, np, dtype=dtype, **case.facts(case.make(np.random.default_rng(0), dtype)))
    want = call(twin, case, dtype, seed=number)
    force_path(monkeypatch, path)
    compiled = accel.compiled(name, path)
    handed_out = accel.get(name, np, dtype=dtype, **case.facts(case.make(np.random.default_rng(0), dtype)))
    assert (handed_out is compiled) == (case.handed_out and path in accel.TABLE[name].where)
    got = call(compiled, case, dtype, seed=number)
    tolerance = case.tolerance or (F32 if dtype == np.float32 else F64)
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype or (g.dtype.kind == w.dtype.kind == "i"), index
        np.testing.assert_allclose(g, w, err_msg=f"result {index}", **tolerance)


def cuda_runs():
    """(entry, case number, dtype) for every entry with a CUDA version."""
    for name, cases in CASES.items():
        if accel.TABLE[name].cuda is not None:
            for number, case in enumerate(cases):
                for dtype in case.dtypes:
                    yield pytest.param(name, number, dtype, id=f"{name}-{number}-{np.dtype(dtype).name}")


@pytest.mark.parametrize("name, number, dtype", list(cuda_runs()))
def test_the_cuda_version_matches_its_twin(name, number, dtype, monkeypatch):
    """On the emulator (tests/backend/test_cuda_kernels.py also runs them on a GPU where there is one)."""
    case = CASES[name][number]
    force_path(monkeypatch, accel.TWINS)
    want = call(accel.get(name, np, dtype=dtype, **case.facts(case.make(np.random.default_rng(0), dtype))), case,
                dtype, seed=number)
    force_path(monkeypatch, accel.CUDA)
    cuda = accel.get(name, np, dtype=dtype, **case.facts(case.make(np.random.default_rng(0), dtype)))
    assert cuda.func is accel.TABLE[name].cuda
    got = call(cuda, case, dtype, seed=number)
    tolerance = case.tolerance or (F32 if dtype == np.float32 else F64)
    if name.endswith("_sequence_forward") or name.endswith("_sequence_backward"):
        tolerance = SUMS  # its products summed in another order
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype or (g.dtype.kind == w.dtype.kind == "i"), index
        np.testing.assert_allclose(g, w, err_msg=f"result {index}", **tolerance)


@pytest.mark.parametrize("name", CASES)
def test_every_path_gives_the_same_bits(name):
    """The element-wise kernels round every operation as numpy would (no FMA contraction; tanh's
    polynomials as explicit FMAs), and the GEMMs sum in the same order on avx512 and avx2, so every
    path this CPU runs gives the same bits as the best one."""
    paths = [path for path in COMPILED if accel.has_compiled(name, path)]
    for number, case in enumerate(CASES[name]):
        for dtype in case.dtypes:
            runs = {path: call(accel.compiled(name, path), case, dtype, seed=number) for path in paths}
            for path, got in runs.items():
                for index, (a, b) in enumerate(zip(got, runs[paths[0]], strict=True)):
                    np.testing.assert_array_equal(a, b, err_msg=f"{path} vs {paths[0]}: result {index}")


# ---- which implementation the door hands out -----------------------------------------------------------


def is_twin(implementation, name) -> bool:
    return getattr(implementation, "func", None) is accel.TABLE[name].twin


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_the_gemms_apply_to_float32_and_small_batches(path, monkeypatch):
    force_path(monkeypatch, path)
    small = accel.SMALL_GEMM_MAX_ROWS
    assert not is_twin(accel.get("small_gemm", np, dtype=np.float32, rows=small), "small_gemm")
    assert is_twin(accel.get("small_gemm", np, dtype=np.float32, rows=small + 1), "small_gemm")
    assert is_twin(accel.get("small_gemm", np, dtype=np.float64, rows=4), "small_gemm")
    packed = {"dtype": np.float32, "factors": 2, "contiguous_rows": True}
    assert not is_twin(accel.get("transposed_gemm", np, **packed), "transposed_gemm")
    for facts in ({"contiguous_rows": False}, {"factors": accel.MAX_FACTORS + 1}, {"dtype": np.float64}):
        assert is_twin(accel.get("transposed_gemm", np, **{**packed, **facts}), "transposed_gemm"), facts
    for name in ("lstm_sequence_forward", "gru_sequence_backward"):
        assert not is_twin(accel.get(name, np, dtype=np.float32, batch=small), name)
        assert is_twin(accel.get(name, np, dtype=np.float32, batch=small + 1), name)
        assert is_twin(accel.get(name, np, dtype=np.float64, batch=8), name)
        previous = accel.set_kernel_threads(2)  # each thread's block of sequences is small again
        try:
            assert not is_twin(accel.get(name, np, dtype=np.float32, batch=2 * small), name)
        finally:
            accel.set_kernel_threads(previous)


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_max_pooling_forward_applies_to_windows_apart(path, monkeypatch):
    force_path(monkeypatch, path)
    for kernel, stride, apart in (((2, 2), (2, 2), True), ((3, 3), (3, 4), True), ((3, 3), (2, 2), False),
                                  ((2, 3), (2, 2), False), ((3, 3), (1, 1), False)):
        forward = accel.get("maxpool_forward", np, dtype=np.float32, kernel=kernel, stride=stride)
        assert is_twin(forward, "maxpool_forward") != apart, (kernel, stride)
    assert not is_twin(accel.get("maxpool_backward", np, dtype=np.float32), "maxpool_backward")


@pytest.mark.parametrize("path", [p for p in COMPILED if p not in WITH_GEMMS])
def test_a_path_without_gemms_gives_their_twins(path, monkeypatch):
    """And the twins of the element-wise kernels that lose to them without vector instructions."""
    force_path(monkeypatch, path)
    assert is_twin(accel.get("small_gemm", np, dtype=np.float32, rows=4), "small_gemm")
    assert is_twin(accel.get("lstm_sequence_forward", np, dtype=np.float32, batch=4), "lstm_sequence_forward")
    assert is_twin(accel.get("lstm_step_forward", np, dtype=np.float32), "lstm_step_forward")
    assert is_twin(accel.get("maxpool_forward", np, dtype=np.float32, kernel=(2, 2), stride=(2, 2)), "maxpool_forward")
    assert not is_twin(accel.get("lstm_step_backward", np, dtype=np.float32), "lstm_step_backward")
    assert not is_twin(accel.get("adam", np, dtype=np.float32, flat=True), "adam")
    assert not accel.splits_work(np)


@pytest.mark.parametrize("name", CASES)
def test_other_array_modules_get_the_cuda_kernels_or_the_twins(name, monkeypatch):
    """cupy's arrays: an entry's CUDA version where it has one (tests/backend/test_cuda_kernels.py runs
    them), else its twin; NNGRAPH_KERNELS=0: the twins for every module."""
    cupy_like = types.SimpleNamespace(__name__="cupy", tanh=np.tanh)
    monkeypatch.setattr(accel, "kernels_for", lambda xp, dtype: ("kernels", xp, np.dtype(dtype)))
    facts = {"rows": 4, "batch": 4, "factors": 1, "contiguous_rows": True, "flat": True, "kernel": (2, 2),
             "stride": (2, 2)}
    got = accel.get(name, cupy_like, dtype=np.float32, **facts)
    if accel.TABLE[name].cuda is not None:
        assert got.func is accel.TABLE[name].cuda
        assert got.args == (("kernels", cupy_like, np.dtype(np.float32)), cupy_like)
    else:
        assert is_twin(got, name) and got.args == (cupy_like,)
    assert is_twin(accel.get(name, cupy_like, dtype=np.int32, **facts), name)
    monkeypatch.setenv(accel.KERNELS_SWITCH, "0")
    assert is_twin(accel.get(name, cupy_like, dtype=np.float32, **facts), name)
    assert is_twin(accel.get(name, np, dtype=np.float32, **facts), name)


@pytest.mark.parametrize("value", ["0", "off", "false", "no", " OFF "])
def test_nngraph_kernels_0_switches_them_off_on_every_call(value, monkeypatch):
    monkeypatch.setenv(accel.KERNELS_SWITCH, value)
    assert accel.path(np) == accel.TWINS
    assert accel.status() == f"compiled CPU kernels: off, numpy twins: {accel.KERNELS_SWITCH}={value}"
    monkeypatch.setenv(accel.KERNELS_SWITCH, "1")
    assert accel.path(np) == (COMPILED[0] if COMPILED else accel.TWINS)


@pytest.mark.parametrize("path", COMPILED)
def test_nngraph_isa_forces_a_path(path, monkeypatch):
    monkeypatch.setenv(accel.ISA_SWITCH, f" {path.upper()} ")
    assert accel.path(np) == path
    assert accel.status().startswith(f"compiled CPU kernels: {path} (forced by {accel.ISA_SWITCH};")
    assert accel.path(types.SimpleNamespace()) == accel.CUDA  # never for other array modules: cupy's are CUDA's


def test_nngraph_isa_naming_no_path_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(accel.ISA_SWITCH, "avx3")
    with pytest.raises(BackendError, match="NNGRAPH_ISA=avx3: not a path") as caught:
        accel.get("sgd", np, dtype=np.float32, flat=True)
    assert "did you mean" in caught.value.hint


def test_a_path_this_cpu_cannot_run_is_named_with_the_reason(monkeypatch):
    """As on a CPU without AVX-512 (simulated: the path's functions withheld)."""
    monkeypatch.setattr(accel, "_PATH_FUNCTIONS",
                        {k: v for k, v in accel._PATH_FUNCTIONS.items() if k != "avx512"})
    assert accel.unavailable()["avx512"] == "this CPU lacks AVX-512 (x86-64-v4)"
    monkeypatch.setenv(accel.ISA_SWITCH, "avx512")
    with pytest.raises(BackendError, match="NNGRAPH_ISA=avx512: this CPU lacks AVX-512") as caught:
        accel.path(np)
    assert caught.value.hint.startswith("paths this CPU runs:")
    monkeypatch.delenv(accel.ISA_SWITCH)
    assert accel.path(np) == accel.runnable()[0] != "avx512"
    assert "not here: avx512: this CPU lacks AVX-512" in accel.status()


def test_the_best_path_is_the_default_and_status_says_why(monkeypatch):
    monkeypatch.delenv(accel.ISA_SWITCH, raising=False)
    monkeypatch.delenv(accel.KERNELS_SWITCH, raising=False)
    if not COMPILED:
        assert accel.status().startswith("compiled CPU kernels: off, numpy twins: the extension is not built")
        return
    assert accel.path(np) == COMPILED[0]
    first, runs = accel.status().splitlines()[:2]
    assert first.startswith(f"compiled CPU kernels: {COMPILED[0]} (the best this CPU runs;")
    assert runs == f"paths this CPU runs: {', '.join(COMPILED)}"
    assert "generic" in COMPILED  # the generic path runs everywhere the extension does


@pytest.mark.parametrize("isa, code", [("", 0), ("avx3", 1)])
def test_python_m_nngraph_backend_says_which_path_and_why(isa, code):
    done = subprocess.run([sys.executable, "-m", "nngraph.backend"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, accel.ISA_SWITCH: isa}, check=False)
    assert done.returncode == code and "Traceback" not in done.stderr
    if code:
        assert done.stderr == "error: NNGRAPH_ISA=avx3: not a path (hint: did you mean 'avx2'?)\n"
    else:
        assert done.stdout == accel.status() + "\n" + device_check() + "\n"


@pytest.mark.parametrize("kernel, stride, pads", [((3, 3), (1, 1), (1, 1, 1, 1)), ((2, 2), (2, 2), (0, 0, 0, 0)),
                                                  ((1, 1), (2, 1), (1, 1, 1, 1)), ((2, 3), (3, 2), (1, 0, 2, 1))])
def test_col2im_is_the_adjoint_of_the_window_view(kernel, stride, pads):
    """<col2im(pieces), x> = <pieces, windows of x> for any pieces and x: windows apart (stride > kernel)
    leave pixels no window covers, which must come out zero."""
    rng = np.random.default_rng(12)
    pieces, x_shape, kernel, stride, pads = col2im_args(rng, np.float64, kernel, stride, pads)
    x = rng.standard_normal(x_shape)
    padded = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, pieces.shape[3:5]
    windows = np.stack([np.stack([padded[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] for j in range(kw)], 1)
                        for i in range(kh)], 1)  # (N, kh, kw, C, Ho, Wo)
    inner = np.einsum("nijcyx,cijyxn->", windows, pieces)
    assert np.sum(twins.col2im_batch_last(np, pieces, x_shape, kernel, stride, pads) * x) == pytest.approx(inner)
