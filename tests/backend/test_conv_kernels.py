"""The compiled float32 convolution (csrc/convs.h, convolutions.c) through the conv2d op, on every path this
CPU runs that has it, against the numpy twins: odd geometries (strides, paddings, even "same" kernels,
channels and filters that are no whole number of tiles, batch 1, 1x1 kernels), the gradients each vjp is
asked for, the same bits for any thread count, and what the kernels refuse."""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.backend import accel
from nngraph.ops import get_op
from tests.backend.paths import COMPILED, WITH_GEMMS, force_path, native
from tests.backend.test_kernels import Recorder

SUMS = {"rtol": 2e-5, "atol": 2e-5}  # float32 products summed in another order than the BLAS's

# (x shape, w shape, attrs): (N, C, H, W), (F, C, kh, kw)
GEOMETRIES = [
    ((5, 1, 28, 28), (6, 1, 5, 5), {}),  # LeNet's first layer, a batch that is no whole number of blocks
    ((4, 6, 12, 12), (16, 6, 5, 5), {}),  # its second
    ((1, 3, 7, 9), (9, 3, 1, 1), {}),  # batch 1, a 1x1 kernel
    ((2, 17, 10, 13), (33, 17, 3, 3), {"padding": 1}),  # channels and filters past a tile and a strip
    ((3, 5, 11, 9), (7, 5, 3, 2), {"stride": (2, 1), "padding": (1, 2)}),  # strided rows, padded columns
    ((2, 2, 9, 9), (3, 2, 4, 4), {"stride": 3, "padding": 2}),  # windows with gaps, mostly padding
    ((3, 2, 6, 7), (4, 2, 2, 2), {"padding": "same"}),  # an even kernel: one more pad after than before
    ((2, 3, 6, 6), (5, 3, 2, 2), {"stride": 2}),  # windows that tile the image
    ((6, 4, 5, 33), (3, 4, 3, 3), {"stride": (1, 2)}),  # strided columns only, rows past 32 values
]

GRADIENTS = [{}, {"needs_input_grad": False}, {"needs_weight_grad": False}]


def conv_run(x, w, b, g, attrs):
    """The op's output and every gradient it gives, each a host array or None."""
    op = get_op("conv2d")
    inputs = (x, w) if b is None else (x, w, b)
    out, ctx = op.forward(np, inputs, attrs)
    return [out, *op.vjp(np, g, ctx, inputs, attrs)]


def arrays(x_shape, w_shape, attrs, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32) if bias else None
    out_shape = (x_shape[0],) + get_op("conv2d").shape((x_shape[1:], w_shape, None if b is None else b.shape), attrs)
    return x, w, b, rng.standard_normal(out_shape).astype(np.float32)


@pytest.mark.parametrize("path", WITH_GEMMS)
@pytest.mark.parametrize("x_shape, w_shape, attrs", GEOMETRIES, ids=str)
@pytest.mark.parametrize("wanted", GRADIENTS, ids=str)
def test_the_compiled_convolution_matches_the_twins(path, x_shape, w_shape, attrs, wanted, monkeypatch):
    attrs = {**attrs, **wanted}
    x, w, b, g = arrays(x_shape, w_shape, attrs, bias=wanted != {"needs_input_grad": False})
    force_path(monkeypatch, path)
    recorder = Recorder(monkeypatch)
    got = conv_run(x, w, b, g, attrs)
    assert recorder.calls == {"conv2d_forward": 1, "conv2d_vjp": 1}
    force_path(monkeypatch, accel.TWINS)
    want = conv_run(x, w, b, g, attrs)
    assert len(got) == len(want)
    for index, (a, e) in enumerate(zip(got, want, strict=True)):
        assert (a is None) == (e is None), index
        if e is not None:
            assert a.shape == e.shape and a.dtype == np.float32 and a.flags.c_contiguous, index
            np.testing.assert_allclose(a, e, err_msg=f"result {index}", **SUMS)


@pytest.mark.parametrize("x_shape, w_shape, attrs", GEOMETRIES[:5], ids=str)
def test_any_thread_count_and_every_path_give_the_same_bits(x_shape, w_shape, attrs, monkeypatch):
    """dW and db are summed over fixed blocks of examples, lane p % 16 alike on avx512 and avx2."""
    x, w, b, g = arrays(x_shape, w_shape, attrs, seed=1)
    runs = {}
    for path in WITH_GEMMS:
        force_path(monkeypatch, path)
        for threads in (1, 2, 3):
            previous = accel.set_kernel_threads(threads)
            try:
                runs[path, threads] = conv_run(x, w, b, g, attrs)
            finally:
                accel.set_kernel_threads(previous)
    first = next(iter(runs.values()))
    for key, got in runs.items():
        for index, (a, e) in enumerate(zip(got, first, strict=True)):
            np.testing.assert_array_equal(a, e, err_msg=f"{key}: result {index}")


# ---- a convolution with its rectifier (conv2d_rectified) ------------------------------------------

RECTIFIERS = [{"activation": "relu", "parameter": 0.0}, {"activation": "leaky_relu", "parameter": 0.2}]
RECTIFIED_GEOMETRIES = [*GEOMETRIES, ((3, 2, 11, 10), (4, 2, 2, 2), {"stride": 3})]  # stride > kernel


def unfused_run(x, w, b, g, attrs):
    """conv2d, then its rectifier as the op of its own: the output and every gradient."""
    rectifier, conv = get_op(attrs["activation"]), get_op("conv2d")
    plain = {k: v for k, v in attrs.items() if k not in ("activation", "parameter")}
    option = {"slope": attrs["parameter"]} if attrs["activation"] == "leaky_relu" else {}
    inputs = (x, w) if b is None else (x, w, b)
    z, conv_ctx = conv.forward(np, inputs, plain)
    a, ctx = rectifier.forward(np, (z,), option)
    (gz,) = rectifier.vjp(np, g, ctx, (z,), option)
    return [a, *conv.vjp(np, gz, conv_ctx, inputs, plain)]


def rectified_run(x, w, b, g, attrs):
    op = get_op("conv2d_rectified")
    inputs = (x, w) if b is None else (x, w, b)
    out, ctx = op.forward(np, inputs, attrs)
    return [out, *op.vjp(np, g, ctx, inputs, attrs)]


@pytest.mark.parametrize("path", WITH_GEMMS)
@pytest.mark.parametrize("x_shape, w_shape, attrs", RECTIFIED_GEOMETRIES, ids=str)
@pytest.mark.parametrize("rectifier", RECTIFIERS, ids=lambda r: r["activation"])
@pytest.mark.parametrize("wanted", GRADIENTS[:2], ids=str)
def test_the_rectified_convolution_matches_the_convolution_and_its_rectifier(path, x_shape, w_shape, attrs, rectifier,
                                                                            wanted, monkeypatch):
    """The compiled kernel's rectifier, in its output write and in its vjp, gives the bits of the compiled
    convolution followed by numpy's rectifier op, and the twins' values; a pre-activation of exactly 0 (the
    rectifier's kink: no gradient passes) included."""
    attrs = {**attrs, **wanted, **rectifier}
    x, w, b, g = arrays(x_shape, w_shape, attrs, bias=wanted != {"needs_input_grad": False}, seed=2)
    w[0] = 0.0  # filter 0's pre-activation: 0 everywhere
    if b is not None:
        b[0] = 0.0
    force_path(monkeypatch, path)
    recorder = Recorder(monkeypatch)
    got = rectified_run(x, w, b, g, attrs)
    assert recorder.calls == {"conv2d_forward": 1, "conv2d_vjp": 1}
    want = unfused_run(x, w, b, g, attrs)
    assert (got[0] <= 0).any() and (got[0] > 0).any()
    for index, (a, e) in enumerate(zip(got, want, strict=True)):
        assert (a is None) == (e is None), index
        if e is not None:
            assert a.shape == e.shape and a.dtype == np.float32 and a.flags.c_contiguous, index
            np.testing.assert_array_equal(a, e, err_msg=f"result {index}")
    force_path(monkeypatch, accel.TWINS)
    for index, (a, e) in enumerate(zip(got, rectified_run(x, w, b, g, attrs), strict=True)):
        if e is not None:
            np.testing.assert_allclose(a, e, err_msg=f"twins: result {index}", **SUMS)


def test_the_kernels_refuse_an_activation_they_do_not_know(conv_native):
    x, w, b, out, g = kernel_args()
    for activation, slope in ((3, 0.0), (2, -0.5), (1, 0.5), (-1, 0.0)):
        with pytest.raises(ValueError, match="activation must be 0"):
            conv_native.conv2d_forward(x, w, b, out, (1, 1), (0, 0), 1, activation, slope)
    with pytest.raises(ValueError, match="needs the output a with an activation, and only then"):
        conv_native.conv2d_backward(g, x, w, None, np.empty_like(w), None, (1, 1), (0, 0), 1, None, 1)
    with pytest.raises(ValueError, match="needs the output a with an activation, and only then"):
        conv_native.conv2d_backward(g, x, w, None, np.empty_like(w), None, (1, 1), (0, 0), 1, g, 0)
    with pytest.raises(ValueError, match="a must have shape"):
        conv_native.conv2d_backward(g, x, w, None, np.empty_like(w), None, (1, 1), (0, 0), 1, g[:1], 1)


@pytest.mark.parametrize("path", COMPILED)
def test_float64_and_paths_without_gemms_keep_the_twins(path, monkeypatch):
    force_path(monkeypatch, path)
    for name in ("conv2d_forward", "conv2d_vjp"):
        twin = accel.TABLE[name].twin
        assert accel.get(name, np, dtype=np.float64).func is twin
        handed = accel.get(name, np, dtype=np.float32)
        assert (getattr(handed, "func", None) is twin) == (path not in WITH_GEMMS), name


# ---- what the kernels refuse -----------------------------------------------------------------------


def kernel_args():
    x, w, b, g = arrays((2, 3, 6, 6), (4, 3, 3, 3), {})
    return x, w, b, np.empty_like(g), g


@pytest.fixture(params=WITH_GEMMS)
def conv_native(request):
    return native(request.param)


def test_the_kernels_take_their_arrays_unchanged(conv_native):
    x, w, b, out, g = kernel_args()
    conv_native.conv2d_forward(x, w, b, out, (1, 1), (0, 0), 2)
    conv_native.conv2d_backward(g, x, w, np.empty_like(x), np.empty_like(w), np.empty_like(b), (1, 1), (0, 0))
    conv_native.conv2d_backward(g, x, w, None, None, None, (1, 1), (0, 0))  # nothing asked for: nothing done


@pytest.mark.parametrize("change, error, message", [
    (lambda a: {**a, "x": a["x"].astype(np.float64)}, TypeError, "w must be float32 or float64, like"),  # x first
    (lambda a: {**a, "w": a["w"].astype(np.float64)}, TypeError, "w must be float32 or float64, like"),
    (lambda a: {k: v.astype(np.float64) if v is not None else v for k, v in a.items()}, TypeError,
     "conv2d_forward needs float32"),
    (lambda a: {**a, "out": np.empty((2, 4, 4, 5), np.float32)[:1]}, ValueError, "out must have shape"),
    (lambda a: {**a, "w": np.zeros((4, 2, 3, 3), np.float32)}, ValueError, "w has 2 input channels, x 3"),
    (lambda a: {**a, "bias": np.zeros(5, np.float32)}, ValueError, "bias must have 4 values"),
    (lambda a: {**a, "x": np.zeros((2, 3, 6, 12), np.float32)[..., ::2]}, ValueError, "x must be contiguous"),
    (lambda a: {**a, "x": np.zeros((4, 3, 6, 6), np.float32)[::2]}, ValueError, "x must be contiguous"),
    (lambda a: {**a, "out": read_only(a["out"])}, TypeError, "out must be a writable"),
    (lambda a: {**a, "x": a["x"].tolist()}, TypeError, "x must be a float32"),
])
def test_conv2d_forward_refuses_bad_arrays(conv_native, change, error, message):
    x, w, b, out, _ = kernel_args()
    args = change({"x": x, "w": w, "bias": b, "out": out})
    with pytest.raises(error, match=message):
        conv_native.conv2d_forward(*args.values(), (1, 1), (0, 0))


@pytest.mark.parametrize("stride, pads", [((0, 1), (0, 0)), ((1, 1), (-1, 0))])
def test_conv2d_kernels_refuse_bad_windows(conv_native, stride, pads):
    x, w, b, out, g = kernel_args()
    with pytest.raises(ValueError, match="strides and kernel sizes must be positive, pads not negative"):
        conv_native.conv2d_forward(x, w, b, out, stride, pads)
    with pytest.raises(ValueError, match="strides and kernel sizes must be positive, pads not negative"):
        conv_native.conv2d_backward(g, x, w, None, np.empty_like(w), None, stride, pads)


@pytest.mark.parametrize("name, bad, message", [
    ("g", np.zeros((2, 5, 4, 4), np.float32), "g must have shape"),  # its Ho and Wo say how many windows
    ("dx", np.zeros((2, 3, 6, 5), np.float32), "dx must have shape"),
    ("dw", np.zeros((4, 3, 3, 2), np.float32), "dw must have shape"),
    ("db", np.zeros(3, np.float32), "db must have 4 values"),
])
def test_conv2d_backward_names_the_array_that_does_not_fit(conv_native, name, bad, message):
    x, w, b, _, g = kernel_args()
    args = {"g": g, "x": x, "w": w, "dx": np.empty_like(x), "dw": np.empty_like(w), "db": np.empty_like(b)}
    args[name] = bad
    with pytest.raises(ValueError, match=message):
        conv_native.conv2d_backward(*args.values(), (1, 1), (0, 0))


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a
