"""The compiled kernels (`nngraph/backend/csrc/`) themselves, on every path this CPU runs: what their
twins cannot show (the float32 tanh bound, every GEMM remainder, what they write and refuse), and the
optimizers and max pooling through them. tests/backend/test_accel.py holds each to its twin.

Where the extension is not built the tests that need it are not collected, except under CI (the
environment variable CI set, as CI services set CI=true): there `test_the_extension_is_built` fails
saying so, so CI can never pass without the kernels.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from nngraph.backend import accel
from nngraph.train.optimizers import SGD, Adam
from tests.backend.paths import COMPILED, WITH_GEMMS, force_path

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

F32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 tanh in C is a rational approximation, |err| ~ 4e-7
F64 = {"rtol": 1e-12, "atol": 1e-15}  # atol only for values that cancel to ~0
TOLERANCE = {np.float32: F32, np.float64: F64}
TANH_F32_MAX_ERROR = 3.0e-7  # as documented in csrc/kernels.h and docs/architecture.md


@pytest.mark.skipif(not IN_CI and not COMPILED, reason=accel.status())
def test_the_extension_is_built():
    """Under CI, fails where the extension is missing (the tests that need it are then not collected)."""
    assert COMPILED, f"{accel.status()}; CI must build them (pip install -e . with a C compiler)"
    assert "generic" in COMPILED


# ---- the LSTM step -------------------------------------------------------------------------------


def pre_activations(rng, n, h, dtype):
    """(n, 4h) pre-activations in slot order: mostly moderate, a quarter large (|a| up to 20)."""
    a = rng.standard_normal((n, 4 * h)) * 2
    large = rng.random((n, 4 * h)) < 0.25
    a[large] = rng.uniform(-20, 20, large.sum())
    return a.astype(dtype)


def gate_views(n, h, dtype, steps=3, step=1):
    """A (4, n, h) slot view of step `step` inside a (4, steps * n, h) buffer full of NaN, as the
    executor passes it; and the buffer."""
    big = np.full((4, steps * n, h), np.nan, dtype=dtype)
    return big[:, step * n : (step + 1) * n], big


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_lstm_step_writes_its_slots_and_nothing_else(kernels, dtype):
    """The gates of one step inside a (4, steps * n, h) buffer, as the executor passes them: the other
    steps' rows stay as they were."""
    n, h = 32, 128
    rng = np.random.default_rng(1)
    gates, big = gate_views(n, h, dtype)
    c, tanh_c, out = (np.full((n, h), np.nan, dtype) for _ in range(3))
    kernels.lstm_forward(pre_activations(rng, n, h, dtype), None, rng.standard_normal((n, h)).astype(dtype), gates,
                         c, tanh_c, out)
    assert not np.isnan(gates).any() and not np.isnan(out).any()
    assert np.isnan(big[:, :n]).all() and np.isnan(big[:, 2 * n:]).all()
    dh, dc = (rng.standard_normal((n, h)).astype(dtype) for _ in range(2))
    da = np.full((n, 4 * h), np.nan, dtype)
    dc_in = dc.copy()
    kernels.lstm_backward(gates, c, tanh_c, dh, dc, da)
    assert not np.isnan(da).any() and not np.allclose(dc, dc_in)  # dc really is written
    dc_zero, da_zero = np.zeros_like(dc_in), np.empty_like(da)
    kernels.lstm_backward(gates, c, tanh_c, dh, dc_zero, da_zero)
    assert not np.allclose(da_zero, da)  # the incoming dc counts


# The largest error over every float32 input in [0, 7.9054] (measured once, 1.09e9 values, with the
# polynomials evaluated by FMAs): 2.92e-7 at x = 5.126039 (tanh 0.99992943, ~5 ulp); near 0 the error is
# far smaller, beyond the clamp at 7.9053 it is 0. tanh is odd, and so is the approximation.
WORST_TANH_INPUT = 5.126039


def test_float32_tanh_error_bound(kernels, bound=TANH_F32_MAX_ERROR):
    """Drive the forward kernel over a dense grid: the g slot is tanh(pre), tanh_c is tanh of the c
    it wrote, and the sigmoid slots are 0.5 tanh(pre) + 0.5; each against float64 numpy."""
    x = np.concatenate(
        [
            np.linspace(-12, 12, 200_001),
            np.linspace(-1e-3, 1e-3, 2001),
            np.linspace(5.1, 5.15, 20_001),
            [WORST_TANH_INPUT, 7.9, 7.90531111, 7.91, 50.0, 1e30, np.inf],
        ]
    ).astype(np.float32)
    x = np.concatenate([x, -x])
    width = len(x)
    pre = np.empty((1, 4 * width), np.float32)
    for slot in range(4):
        pre[0, slot * width : (slot + 1) * width] = x
    c_prev = np.clip(x, -1e30, 1e30)[None, :]  # a finite cell: 0 * inf would be NaN
    gates, _ = gate_views(1, width, np.float32)
    c, tanh_c, h = (np.empty((1, width), np.float32) for _ in range(3))
    kernels.lstm_forward(pre, None, c_prev, gates, c, tanh_c, h)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(gates[3, 0] - exact).max() < bound
    assert np.abs(tanh_c[0] - np.tanh(c[0].astype(np.float64))).max() < bound
    for slot in range(3):
        assert np.abs(gates[slot, 0] - (0.5 * exact + 0.5)).max() < bound
    assert np.abs(gates[3]).max() <= 1 and np.abs(tanh_c).max() <= 1
    np.testing.assert_array_equal(gates[3, 0, : width // 2], -gates[3, 0, width // 2 :])  # odd


# ---- the small GEMM ------------------------------------------------------------------------------


def row_strided(rng, rows, cols, pad=7, fill=np.nan):
    """A (rows, cols) float32 view with contiguous rows and a row stride of cols + 3 + pad, and its
    base (NaN outside the view)."""
    big = np.full((rows + 2, cols + 3 + pad), fill, dtype=np.float32)
    view = big[1 : rows + 1, 3 : cols + 3]
    view[...] = rng.standard_normal((rows, cols))
    return view, big


@pytest.mark.parametrize("m", [1, 5, 6, 7, 8, 9, 13, 33, 48])
@pytest.mark.parametrize("n", [1, 5, 8, 16, 17, 32, 45, 64])
def test_small_gemm_matches_numpy(gemm_kernels, m, n):
    """Every remainder of rows (tiles of 8 or 6, then 4, 2, 1) and columns (strips of 32 or 16, and
    partial vectors), B and C with row strides of their own, nothing written outside C."""
    rng = np.random.default_rng(m * 100 + n)
    for k in (1, 3, 64):
        for accumulate in (False, True):
            for strided in (False, True):
                if strided:
                    a, _ = row_strided(rng, m, k)
                    b, _ = row_strided(rng, k, n, pad=1)
                    out, out_base = row_strided(rng, m, n, pad=5)
                else:
                    a = rng.standard_normal((m, k)).astype(np.float32)
                    b = rng.standard_normal((k, n)).astype(np.float32)
                    out, out_base = rng.standard_normal((m, n)).astype(np.float32), None
                before = out.copy()
                want = a.astype(np.float64) @ b.astype(np.float64)
                if accumulate:
                    want += before
                gemm_kernels.small_gemm(a, b, out, accumulate)
                case = f"m={m} n={n} k={k} accumulate={accumulate} strided={strided}"
                np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6 * k, err_msg=case)
                if out_base is not None:  # nothing written outside the view
                    outside = np.ones(out_base.shape, bool)
                    outside[1 : m + 1, 3 : n + 3] = False
                    assert np.isnan(out_base[outside]).all(), case


def test_small_gemm_rejects_bad_arguments(gemm_kernels):
    K = gemm_kernels
    a, b, out = (
        np.ones((4, 3), np.float32),
        np.ones((3, 5), np.float32),
        np.zeros((4, 5), np.float32),
    )
    K.small_gemm(a, b, out, False)  # the good call
    with pytest.raises(TypeError, match="float32"):
        K.small_gemm(a.astype(np.float64), b.astype(np.float64), out.astype(np.float64), False)
    with pytest.raises(TypeError, match="b must be float32 or float64, like"):
        K.small_gemm(a, b.astype(np.float64), out, False)
    with pytest.raises(ValueError, match="do not fit"):
        K.small_gemm(a, np.ones((4, 5), np.float32), out, False)
    with pytest.raises(ValueError, match="do not fit"):
        K.small_gemm(a, b, np.zeros((4, 6), np.float32), False)
    wide = np.ones((4, 6), np.float32)
    with pytest.raises(ValueError, match="a must be contiguous"):
        K.small_gemm(wide[:, ::2], b, out, False)
    with pytest.raises(ValueError, match="out must be contiguous"):
        K.small_gemm(a, b, np.zeros((4, 10), np.float32)[:, ::2], False)
    read_only = out.copy()
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match="out must be a writable"):
        K.small_gemm(a, b, read_only, False)
    with pytest.raises(ValueError, match="a must have 2 axes"):
        K.small_gemm(np.ones(3, np.float32), b, out, False)
    with pytest.raises(TypeError, match="a must be"):
        K.small_gemm(a.astype(np.int32), b, out, False)


# ---- the optimizers: kernels on and off, bit for bit ---------------------------------------------


class Recorder:
    """Wraps `accel.get` (for the test) and counts the calls of each compiled version it hands out."""

    def __init__(self, monkeypatch):
        self.calls: dict[str, int] = {}
        self.get = accel.get
        monkeypatch.setattr(accel, "get", self.recording)

    def recording(self, name, xp, **facts):
        implementation = self.get(name, xp, **facts)
        if getattr(implementation, "func", None) is accel.TABLE[name].twin:
            return implementation

        def counted(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return implementation(*args)

        return counted


SHAPES = {"w": (5, 7), "b": (7,), "u": (2, 3, 4)}
OPTIMIZERS = {
    "sgd": (SGD, {"lr": 0.05}),
    "sgd-momentum": (SGD, {"lr": 0.05, "momentum": 0.9}),
    "sgd-nesterov": (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {"lr": 0.01}),
}


def make_params(dtype, layout: str):
    rng = np.random.default_rng(7)
    values = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    if layout == "separate":
        return values
    # views of one flat array, as Program allocates them
    flat = np.concatenate([v.reshape(-1) for v in values.values()])
    out, offset = {}, 0
    for k, v in values.items():
        out[k] = flat[offset : offset + v.size].reshape(v.shape)
        offset += v.size
    return out


def train(name, dtype, layout, monkeypatch, steps=20, transposed=False, subset=None):
    """`steps` updates with fixed gradients; (params, optimizer state, kernel calls)."""
    cls, options = OPTIMIZERS[name]
    params = make_params(dtype, layout)
    with monkeypatch.context() as patch:
        return _train(cls(params, np, **options), params, dtype, Recorder(patch), steps, transposed, subset)


def _train(opt, params, dtype, recorder, steps, transposed, subset):
    rng = np.random.default_rng(11)
    for _ in range(steps):
        grads = {
            k: rng.standard_normal(s).astype(dtype)
            for k, s in SHAPES.items()
            if subset is None or k in subset
        }
        if transposed:  # a transposed view: not C-contiguous
            grads["w"] = np.ascontiguousarray(grads["w"].T).T
            assert not grads["w"].flags.c_contiguous
        opt.update(params, grads)
    return {k: v.copy() for k, v in params.items()}, opt.state_dict(), recorder.calls


def assert_same(on, off):
    for part_on, part_off in zip(on[:2], off[:2]):
        assert part_on.keys() == part_off.keys()
        for key in part_on:
            assert part_on[key].dtype == part_off[key].dtype
            np.testing.assert_array_equal(part_on[key], part_off[key], err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("layout", ["separate", "flat"])
@pytest.mark.parametrize("gather", [True, False])
def test_optimizer_kernels_are_bit_identical_to_numpy(path, name, dtype, layout, gather, monkeypatch):
    if not gather:  # as on a large net: one call per parameter
        monkeypatch.setattr("nngraph.train.optimizers.GATHER_BELOW", 0)
    on = train(name, dtype, layout, monkeypatch)
    kernel = "adam" if name == "adam" else "sgd"
    # the compiled path: one call per step over the gathered gradients where the parameters are views
    # of one flat array and few, else one call per parameter and step
    calls = 20 if gather and layout == "flat" else 20 * len(SHAPES)
    assert on[2] == {kernel: calls}
    force_path(monkeypatch, accel.TWINS)
    off = train(name, dtype, layout, monkeypatch)
    assert off[2] == {}
    assert_same(on, off)
    start = make_params(dtype, layout)
    assert all(not np.array_equal(on[0][k], start[k]) for k in start)  # they did move


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_optimizer_kernels_on_a_subset_of_parameters(path, name, monkeypatch):
    on = train(name, np.float32, "flat", monkeypatch, subset={"w", "u"})
    assert sum(on[2].values()) == 20 * 2
    force_path(monkeypatch, accel.TWINS)
    assert_same(on, train(name, np.float32, "flat", monkeypatch, subset={"w", "u"}))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("gather", [True, False])
def test_optimizer_takes_the_twin_for_a_non_contiguous_gradient(path, name, dtype, gather, monkeypatch):
    if not gather:
        monkeypatch.setattr("nngraph.train.optimizers.GATHER_BELOW", 0)
    on = train(name, dtype, "flat", monkeypatch, transposed=True)
    # gathered, the gradients are copied into one flat array anyway; one call per parameter takes the
    # twin for the parameter whose gradient is not contiguous, the kernel for the others
    assert on[2] == {"adam" if name == "adam" else "sgd": 20 if gather else 20 * (len(SHAPES) - 1)}
    force_path(monkeypatch, accel.TWINS)
    assert_same(on, train(name, dtype, "flat", monkeypatch, transposed=True))


# ---- argument errors (the checks every path shares: on the best path) --------------------------------


def lstm_forward_args(dtype=np.float32, n=3, h=4):
    return {
        "pre": np.zeros((n, 4 * h), dtype),
        "rec": np.zeros((n, 4 * h), dtype),
        "c_prev": np.zeros((n, h), dtype),
        "gates": np.zeros((4, n, h), dtype),
        "c": np.zeros((n, h), dtype),
        "tanh_c": np.zeros((n, h), dtype),
        "h": np.zeros((n, h), dtype),
    }


def lstm_backward_args(dtype=np.float32, n=3, h=4):
    return {
        "gates": np.zeros((4, n, h), dtype),
        "c_prev": np.zeros((n, h), dtype),
        "tanh_c": np.zeros((n, h), dtype),
        "dh": np.zeros((n, h), dtype),
        "dc": np.zeros((n, h), dtype),
        "da": np.zeros((n, 4 * h), dtype),
    }


def sgd_args(dtype=np.float32, size=6):
    return {
        "param": np.zeros(size, dtype),
        "buf": np.zeros(size, dtype),
        "grad": np.zeros(size, dtype),
    }


def adam_args(dtype=np.float32, size=6):
    return {
        "param": np.zeros(size, dtype),
        "exp_avg": np.zeros(size, dtype),
        "exp_avg_sq": np.ones(size, dtype),
        "grad": np.zeros(size, dtype),
    }


KERNEL_ARGS = {
    "lstm_forward": (lstm_forward_args, ()),
    "lstm_backward": (lstm_backward_args, ()),
    "sgd": (sgd_args, (0.1, 0.9, False)),
    "adam": (adam_args, (0.9, 0.999, 0.001, 0.5, 1e-8)),
}
OUTPUTS = {
    "lstm_forward": ("gates", "c", "tanh_c", "h"),
    "lstm_backward": ("dc", "da"),
    "sgd": ("param", "buf"),
    "adam": ("param", "exp_avg", "exp_avg_sq"),
}


# the argument every other one's shape is checked against, and the first one checked
SIZED_BY = {
    "lstm_forward": ("c_prev", "pre"),
    "lstm_backward": ("c_prev", "tanh_c"),
    "sgd": ("param", "buf"),
    "adam": ("param", "exp_avg"),
}


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def wrong_shape(a):
    return np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype)


def argument_cases():
    for kernel, (make, _) in KERNEL_ARGS.items():
        for arg in make():
            yield kernel, arg, "float64 among float32", TypeError, lambda a: a.astype(np.float64)
            yield kernel, arg, "int", TypeError, lambda a: a.astype(np.int32)
            yield kernel, arg, "one value more", ValueError, wrong_shape
            if arg in OUTPUTS[kernel]:
                yield kernel, arg, "read-only", TypeError, read_only
            yield kernel, arg, "a list", TypeError, lambda a: a.tolist()


@pytest.mark.parametrize(
    "kernel, arg, what, error, change",
    [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[2]}") for case in argument_cases()],
)
def test_kernel_argument_errors_name_the_argument(K, kernel, arg, what, error, change):
    make, scalars = KERNEL_ARGS[kernel]
    first = next(iter(make()))
    if what == "float64 among float32" and arg == first:
        args = {k: v.astype(np.float64) for k, v in make().items()}  # the first sets the dtype
        args[arg] = args[arg].astype(np.float32)
        bad_name = next(k for k in args if k != first)  # the next one is then the odd one out
    else:
        args = make()
        args[arg] = change(args[arg])
        bad_name = arg
        if what == "one value more" and arg == SIZED_BY[kernel][0]:
            # the others are measured against it: the first of them is the one named
            bad_name = SIZED_BY[kernel][1]
    getattr(K, kernel)(*make().values(), *scalars)  # the unchanged call is fine
    with pytest.raises(error, match=rf"^{bad_name} must"):
        getattr(K, kernel)(*args.values(), *scalars)


@pytest.mark.parametrize("kernel", ["lstm_forward", "lstm_backward"])
def test_lstm_kernels_reject_gates_with_a_strided_last_axis(K, kernel):
    make, _ = KERNEL_ARGS[kernel]
    args = make()
    args["gates"] = np.zeros((4, 3, 8), np.float32)[:, :, ::2]
    with pytest.raises(ValueError, match="gates must be contiguous after its first axis"):
        getattr(K, kernel)(*args.values())
    args["gates"] = np.zeros((4, 6, 4), np.float32)[:, ::2]  # rows apart: not one block per slot
    with pytest.raises(ValueError, match="gates must be contiguous after its first axis"):
        getattr(K, kernel)(*args.values())


def test_lstm_forward_accepts_read_only_inputs(K):
    args = {
        k: read_only(v) if k in ("pre", "rec", "c_prev") else v
        for k, v in lstm_forward_args().items()
    }
    K.lstm_forward(*args.values())
    # all zero: o = 0.5, c = 0.5 * 0 + 0.5 * 0 = 0, h = o * tanh(0) = 0
    np.testing.assert_array_equal(args["gates"][:3], 0.5)
    np.testing.assert_array_equal(args["h"], 0)


def test_sgd_without_a_buffer_takes_none_and_adam_does_not(K):
    args = sgd_args(np.float64)
    args["grad"][:] = 2.0
    K.sgd(args["param"], None, args["grad"], 0.25, 0.0, False)
    np.testing.assert_array_equal(args["param"], -0.5)
    with pytest.raises(TypeError, match="param and grad must be arrays"):
        K.sgd(args["param"], None, None, 0.25, 0.0, False)
    adam = adam_args()
    with pytest.raises(TypeError, match="exp_avg must be an array"):
        K.adam(adam["param"], None, adam["exp_avg_sq"], adam["grad"], 0.9, 0.999, 0.001, 0.5, 1e-8)


# ---- the small GEMM's entry ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [5, accel.SMALL_GEMM_MAX_ROWS, accel.SMALL_GEMM_MAX_ROWS + 1])
@pytest.mark.parametrize("where", [*COMPILED, accel.TWINS])
def test_small_gemm_entry_matches_numpy_on_every_path(where, dtype, m, monkeypatch):
    force_path(monkeypatch, where)
    recorder = Recorder(monkeypatch)
    rng = np.random.default_rng(m)
    a, b = rng.standard_normal((m, 24)).astype(dtype), rng.standard_normal((24, 40)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tolerance = (
        {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    )
    calls = 0
    for accumulate in (False, True):
        for scratch in (None, np.full((m, 40), np.nan, dtype)):
            start = rng.standard_normal((m, 40)).astype(dtype)
            out = start.copy()
            accel.get("small_gemm", np, dtype=dtype, rows=m)(a, b, out, accumulate, scratch)
            np.testing.assert_allclose(
                out,
                want + start if accumulate else want,
                **tolerance,
                err_msg=f"accumulate={accumulate} scratch={scratch is not None}",
            )
            calls += 1
    small = where in WITH_GEMMS and dtype == np.float32 and m <= accel.SMALL_GEMM_MAX_ROWS
    assert recorder.calls == ({"small_gemm": calls} if small else {})


# ---- max pooling ---------------------------------------------------------------------------------

POOLS = [
    {"kernel": 2},  # LeNet's: windows tile the image
    {"kernel": 3, "stride": 2, "padding": 1},  # overlapping, padded with -inf
    {"kernel": 3, "stride": 1},
    {"kernel": [2, 3], "stride": [1, 2]},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("attrs", POOLS, ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_maxpool_matches_the_numpy_twin(path, attrs, dtype, ties, monkeypatch):
    """The op: values, first-maximum-wins ties and the summed gradient of overlapping windows, through
    the compiled kernels and through their twins."""
    from nngraph.ops import get_op

    op = get_op("maxpool2d")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 9, 8)).astype(dtype)
    if ties:
        x = np.round(x).astype(dtype)  # many equal values in a window
    g_shape = (3, 2) + op.shape([x.shape[1:]], attrs)[1:]
    g = rng.standard_normal(g_shape).astype(dtype)

    def both():
        with monkeypatch.context() as patch:
            recorder = Recorder(patch)
            out, ctx = op.forward(np, (x,), attrs)
            (gx,) = op.vjp(np, g, ctx, (x,), attrs)
        return out, np.asarray(gx), ctx, recorder.calls

    out, gx, ctx, calls = both()
    # the compiled kernels ran: the backward always, the forward on the vector paths for windows apart
    apart = attrs.get("stride", attrs["kernel"]) == attrs["kernel"]
    assert calls == {"maxpool_backward": 1, **({"maxpool_forward": 1} if apart and path != "generic" else {})}
    force_path(monkeypatch, accel.TWINS)
    twin_out, twin_gx, twin_ctx, twin_calls = both()
    assert twin_calls == {}
    np.testing.assert_array_equal(out, twin_out)
    np.testing.assert_array_equal(ctx[0], twin_ctx[0])  # the same offsets, ties included
    np.testing.assert_allclose(gx, twin_gx, **TOLERANCE[dtype])
    assert gx.shape == x.shape and out.dtype == x.dtype == gx.dtype


# (x shape, attrs): more images (N * C) than a part's grain of 8, so that the kernels split them over threads
SPLIT_POOLS = [
    ((64, 6, 24, 24), {"kernel": 2}),  # LeNet's first pooling
    ((1, 19, 9, 7), {"kernel": 2}),  # batch 1, odd sizes: the last row and column in no window
    ((5, 3, 11, 10), {"kernel": 2, "stride": 3}),  # stride > kernel: pixels between the windows
    ((4, 5, 9, 9), {"kernel": 3, "stride": 2, "padding": 1}),  # overlapping, padded with -inf
    ((3, 7, 8, 13), {"kernel": [3, 2], "stride": [3, 2], "padding": [1, 1]}),  # windows apart, padded
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, attrs", SPLIT_POOLS, ids=str)
def test_maxpool_split_over_threads_matches_the_twin(path, shape, attrs, dtype, monkeypatch):
    """1-3 kernel threads give the same bits, and the twin's maximum, offsets (ties to the first) and
    gradient (summed in another order where windows overlap)."""
    from nngraph.ops import get_op

    op = get_op("maxpool2d")
    rng = np.random.default_rng(5)
    x = np.round(2 * rng.standard_normal(shape)).astype(dtype)  # ties in most windows
    g = rng.standard_normal(shape[:2] + op.shape([shape[1:]], attrs)[1:]).astype(dtype)

    def run():
        out, ctx = op.forward(np, (x,), attrs)
        return out, np.asarray(ctx[0]), op.vjp(np, g, ctx, (x,), attrs)[0]

    runs = []
    for threads in (1, 2, 3):
        previous = accel.set_kernel_threads(threads)
        try:
            runs.append(run())
        finally:
            accel.set_kernel_threads(previous)
    for got in runs[1:]:
        for a, b in zip(got, runs[0], strict=True):
            np.testing.assert_array_equal(a, b)
    force_path(monkeypatch, accel.TWINS)
    out, argmax, gx = run()
    np.testing.assert_array_equal(runs[0][0], out)
    np.testing.assert_array_equal(runs[0][1], argmax)
    np.testing.assert_allclose(runs[0][2], gx, **TOLERANCE[dtype])
    assert runs[0][2].shape == x.shape and runs[0][2].dtype == dtype


def test_maxpool_backward_writes_every_value_of_its_output(K):
    """The caller's array is not zeroed first (numpy.empty): the kernel zeroes what no window's maximum is."""
    x = np.arange(2 * 9 * 5 * 5, dtype=np.float32).reshape(2, 9, 5, 5)
    best, argmax = np.empty((2, 9, 2, 2), np.float32), np.empty((2, 9, 2, 2), np.int32)
    K.maxpool_forward(x, best, argmax, (2, 2), (2, 2), 2)
    out = np.full_like(x, np.nan)
    K.maxpool_backward(out, np.ones_like(best), argmax, (2, 2), (2, 2), 2)
    want = np.zeros_like(x)
    want[:, :, 1:4:2, 1:4:2] = 1  # each window's maximum is its last pixel
    np.testing.assert_array_equal(out, want)


def test_maxpool_kernels_reject_bad_arguments(K):
    x = np.zeros((1, 1, 4, 4), np.float32)
    best, argmax = np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int32)
    with pytest.raises(ValueError, match="windows do not fit"):
        K.maxpool_forward(x, best, argmax, (3, 3), (2, 2))
    with pytest.raises(TypeError, match="argmax must be a contiguous int32"):
        K.maxpool_forward(x, best, argmax.astype(np.int64), (2, 2), (2, 2))
    with pytest.raises(TypeError, match="like the other arrays"):
        K.maxpool_forward(x, best.astype(np.float64), argmax, (2, 2), (2, 2))
    with pytest.raises(ValueError, match="offset outside the window"):
        K.maxpool_backward(np.zeros_like(x), best, np.full((1, 1, 2, 2), 4, np.int32), (2, 2), (2, 2))
    read_only = np.zeros_like(x)
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match="image must be a writable"):
        K.maxpool_backward(read_only, best, argmax, (2, 2), (2, 2))


# ---- average pooling, and both poolings' 2 x 2 loops -----------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, attrs", SPLIT_POOLS + [((2, 3, 9, 8), {"kernel": 3, "stride": 1}),
                                                        ((2, 3, 9, 8), {"kernel": [2, 3], "stride": [1, 2]})], ids=str)
def test_avgpool_split_over_threads_matches_the_twin(path, shape, attrs, dtype, monkeypatch):
    """The op through the compiled kernels on 1-3 threads and through its twins: the same bits (the same sums
    in the same order), padding counted in the window as docs/language.md says."""
    from nngraph.ops import get_op

    op = get_op("avgpool2d")
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape[:2] + op.shape([shape[1:]], attrs)[1:]).astype(dtype)

    def run(threads=1):
        previous = accel.set_kernel_threads(threads)
        try:
            with monkeypatch.context() as patch:
                recorder = Recorder(patch)
                out, ctx = op.forward(np, (x,), attrs)
                gx = np.asarray(op.vjp(np, g, ctx, (x,), attrs)[0])
        finally:
            accel.set_kernel_threads(previous)
        return (out, gx), recorder.calls

    runs = [run(threads) for threads in (1, 2, 3)]
    assert all(calls == {"avgpool_forward": 1, "avgpool_backward": 1} for _, calls in runs)
    force_path(monkeypatch, accel.TWINS)
    want, twin_calls = run()
    assert twin_calls == {}
    for got, _ in runs:
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype == dtype
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))  # the bits, signed zeros too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avgpool_gradient_matches_finite_differences(path, dtype):
    """float64 finite differences of the compiled vjp on each path (check_vjp computes in float64; float32
    runs the same geometries through its float32 check)."""
    from nngraph.ops.gradcheck import check_vjp

    rng = np.random.default_rng(7)
    for shape, attrs in [((2, 3, 6, 7), {"kernel": 2}), ((1, 2, 7, 8), {"kernel": 2, "stride": 3}),
                         ((2, 1, 5, 7), {"kernel": 3, "padding": 1}), ((1, 2, 6, 5), {"kernel": 3, "stride": 1})]:
        check_vjp("avgpool2d", (rng.standard_normal(shape).astype(dtype),), attrs)


def test_avgpool_backward_writes_every_value_of_its_output(K):
    """The caller's array is not zeroed first (numpy.empty): the kernel writes the pixels in no window too."""
    g = np.arange(1, 2 * 9 * 3 * 2 + 1, dtype=np.float32).reshape(2, 9, 3, 2)
    for kernel, stride, size in (((2, 2), (2, 2), (7, 5)), ((2, 2), (3, 3), (8, 6)), ((3, 2), (2, 2), (7, 5))):
        out = np.full((2, 9) + size, np.nan, np.float32)
        K.avgpool_backward(out, g, kernel, stride, 2)
        want = np.zeros_like(out)
        for i in range(3):
            for j in range(2):
                rows = slice(i * stride[0], i * stride[0] + kernel[0])
                cols = slice(j * stride[1], j * stride[1] + kernel[1])
                want[:, :, rows, cols] += g[:, :, i:i + 1, j:j + 1] * np.float32(1 / (kernel[0] * kernel[1]))
        np.testing.assert_array_equal(out, want, err_msg=f"{kernel} {stride}")


def test_avgpool_kernels_reject_bad_arguments(K):
    x, mean = np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="windows do not fit"):
        K.avgpool_forward(x, mean, (3, 3), (2, 2))
    with pytest.raises(ValueError, match="windows do not fit"):
        K.avgpool_forward(x, mean, (2, 2), (0, 2))
    with pytest.raises(TypeError, match="like the other arrays"):
        K.avgpool_forward(x, mean.astype(np.float64), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="batch and channels"):
        K.avgpool_forward(x, np.zeros((1, 2, 2, 2), np.float32), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="contiguous"):
        K.avgpool_forward(np.zeros((1, 1, 4, 8), np.float32)[..., ::2], mean, (2, 2), (2, 2))
    read_only = np.zeros_like(x)
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match="image must be a writable"):
        K.avgpool_backward(read_only, mean, (2, 2), (2, 2))


def awkward_values(rng, shape, dtype):
    """Rounded normals (ties in most windows), with signed zeros, infinities and NaNs scattered in."""
    x = np.round(2 * rng.standard_normal(shape)).astype(dtype)
    spots = rng.random(shape)
    x[spots < 0.05] = -0.0
    x[(spots > 0.05) & (spots < 0.07)] = np.inf
    x[(spots > 0.07) & (spots < 0.08)] = -np.inf
    x[spots > 0.985] = np.nan
    return x


# (h, w): rows of windows shorter than, as long as and longer than a vector's lanes (16 on avx512, 8 on avx2),
# odd last rows and columns, batch 1
PAIR_SIZES = [(2, 2), (24, 24), (8, 8), (9, 7), (5, 33), (4, 34), (3, 65), (6, 16), (7, 17)]


@pytest.mark.parametrize("size", PAIR_SIZES, ids=str)
@pytest.mark.parametrize("vector_path", [p for p in COMPILED if p != "generic"])
def test_pooling_2x2_loops_give_the_general_loops_bits(vector_path, size):
    """The vector paths' 2 x 2 stride-2 float32 loops (csrc/pools.h) against the general loops (cells.h, run by
    the generic path): the same bits, maxima, offsets (ties to the first; a NaN never taken) and gradients,
    NaN, infinities and signed zeros included; the outputs' every value written."""
    if "generic" not in COMPILED:
        pytest.fail("the generic path is always built")
    rng = np.random.default_rng(sum(size))
    from tests.backend.paths import native

    fast, general = native(vector_path), native("generic")
    for batch, channels in ((1, 1), (3, 5)):
        x = awkward_values(rng, (batch, channels) + size, np.float32)
        pooled = (batch, channels, size[0] // 2, size[1] // 2)
        g = awkward_values(rng, pooled, np.float32)
        results = []
        for kernels in (fast, general):
            best, argmax = np.full(pooled, 7, np.float32), np.full(pooled, 9, np.int32)
            kernels.maxpool_forward(x, best, argmax, (2, 2), (2, 2))
            mean = np.full(pooled, 7, np.float32)
            kernels.avgpool_forward(x, mean, (2, 2), (2, 2))
            max_grad, avg_grad = np.full_like(x, 7), np.full_like(x, 7)
            kernels.maxpool_backward(max_grad, g, argmax, (2, 2), (2, 2))
            kernels.avgpool_backward(avg_grad, g, (2, 2), (2, 2))
            results.append((best, argmax, mean, max_grad, avg_grad))
        for name, a, b in zip(("max", "argmax", "mean", "max vjp", "avg vjp"), *results, strict=True):
            np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32), err_msg=f"{name} {batch}x{channels}")
