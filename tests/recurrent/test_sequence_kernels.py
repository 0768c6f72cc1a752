"""The whole step loop of a recurrent layer through one `accel` entry (`lstm_sequence_forward`/`_backward`,
`gru_...`, `elman_...`): which implementation the executor gets, and that every way gives the same
training step. The ways: the compiled whole-sequence kernels (the paths with GEMMs), their twins (step
loops) with the compiled step kernels inside (the generic path, or a batch or dtype the whole-loop
kernels do not take), and the numpy twins throughout."""

import numpy as np
import pytest

from nngraph.backend import accel
from tests.backend.paths import COMPILED, WITH_GEMMS, force_path
from tests.recurrent.helpers import batch, output, program, rows

KERNEL_PATHS = ()  # this module forces the paths itself (see conftest.py)

LSTM = ("layer h[16] lstm\n output y[2] identity", "x -> h -> y")
ELMAN = ("layer h[16] tanh\n output y[2] identity", "x -> h -> y\n h -> h delay 1")
GRU = ("layer h[16] gru\n output y[2] identity", "x -> h -> y")
MGU = ("layer h[16] mgu\n output y[2] identity", "x -> h -> y")
SEQUENCES = {f"{cell}_sequence_{way}" for cell in ("lstm", "gru", "mgu", "elman") for way in ("forward", "backward")}

WHOLE_LOOP = {("whole loop", "compiled")}  # forward and backward, one compiled call each
STEP_LOOP = {("whole loop", "twin")}  # the twin's step loop
NO_LOOP = set()  # the generic scan: no whole-sequence entry asked for


class Taken:
    """Records, for every whole-sequence entry the executor asks `accel` for, which it got."""

    def __init__(self, monkeypatch):
        self.got: set = set()
        self.steps: set = set()
        self.get = accel.get
        monkeypatch.setattr(accel, "get", self.recording)

    def recording(self, name, xp, **facts):
        implementation = self.get(name, xp, **facts)
        way = "twin" if getattr(implementation, "func", None) is accel.TABLE[name].twin else "compiled"
        if name in SEQUENCES:
            self.got.add(("whole loop", way))
        elif name.startswith("lstm_step"):
            self.steps.add(way)
        return implementation


def loss_and_grads(prog, x, targets, state):
    """(loss, gradients, h's output, final state)."""
    loss, _, grads, values = prog.loss_and_grads({"x": x}, targets.data, state=state, rows=targets.rows)
    grads = {k: np.array(v) for k, v in grads.items()}
    return loss, grads, output(prog, values, "h", len(x)), prog.final_state(values, len(x))


def two_windows(prog, n, window_steps):
    """Two windows of truncated BPTT, the second from the first's carried state."""
    x, y = batch(n=n, steps=2 * window_steps, seed=n)
    state, out = None, []
    for start in (0, window_steps):
        targets = rows(y, start=start, steps=window_steps, total=2 * window_steps)
        out.append(loss_and_grads(prog, x[:, start:start + window_steps], targets, state))
        state = out[-1][3]
    return out


def assert_same_step(prog, got, want, first: bool):
    (loss, grads, h, state), (loss_twin, grads_twin, h_twin, state_twin) = got, want
    assert np.isclose(loss, loss_twin, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h, h_twin, rtol=1e-4, atol=1e-6, err_msg="h")
    for key in state:
        np.testing.assert_allclose(state[key], state_twin[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert grads.keys() == grads_twin.keys()
    for name in grads:
        assert grads[name].dtype == prog.params[name].dtype
        np.testing.assert_allclose(grads[name], grads_twin[name], rtol=1e-4, atol=1e-6, err_msg=name)
        if first or "initial" not in name:  # from a carried state the initial one gets none
            assert np.abs(grads[name]).max() > 1e-4, name  # not zeros on both paths


def against_the_twins(path, monkeypatch, prog, n, window_steps=12):
    """Two windows on `path` and on the twins, compared; what the executor took on `path` (whole-loop
    entries) and which LSTM steps it ran."""
    results = {}
    for where in (path, accel.TWINS):
        force_path(monkeypatch, where)
        with monkeypatch.context() as patch:
            taken = Taken(patch)
            results[where] = two_windows(prog, n, window_steps)
        if where == path:
            took, steps = taken.got, taken.steps
        else:
            assert taken.got <= STEP_LOOP and taken.steps <= {"twin"}  # numpy throughout
    for first, got, want in zip((True, False), results[path], results[accel.TWINS], strict=True):
        assert_same_step(prog, got, want, first)
    return took, steps


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_whole_loop_kernels_match_their_twins(path, monkeypatch):
    prog = program(*LSTM, dtype="float32", learn_initial=True)
    prog.set("h.initial", np.linspace(-0.5, 0.5, 16))
    prog.set("h.initial_cell", np.linspace(0.3, -0.3, 16))
    assert against_the_twins(path, monkeypatch, prog, 8) == (WHOLE_LOOP, set())
    assert against_the_twins(path, monkeypatch, prog, accel.SMALL_GEMM_MAX_ROWS, window_steps=3)[0] == WHOLE_LOOP
    # two input edges: projected for all steps first, then the same whole-loop kernels
    two_inputs = program("layer e[4] tanh\n layer h[16] lstm\n output y[2] identity", "x -> e -> h -> y\n x -> h",
                         dtype="float32")
    assert against_the_twins(path, monkeypatch, two_inputs, 8, window_steps=5)[0] == WHOLE_LOOP
    # a batch the small GEMM does not serve, or float64: the twin's step loop, on the compiled LSTM step
    steps_only = (STEP_LOOP, {"compiled"})
    assert against_the_twins(path, monkeypatch, prog, accel.SMALL_GEMM_MAX_ROWS + 1, window_steps=3) == steps_only
    assert against_the_twins(path, monkeypatch, program(*LSTM, dtype="float64"), 8, window_steps=3) == steps_only
    # an Elman layer: its inputs projected for all steps, then one call per pass too
    elman = program(*ELMAN, dtype="float32", learn_initial=True)
    elman.set("h.initial", np.linspace(-0.5, 0.5, 16))
    assert against_the_twins(path, monkeypatch, elman, 8)[0] == WHOLE_LOOP
    assert against_the_twins(path, monkeypatch, elman, 13, window_steps=4)[0] == WHOLE_LOOP  # not whole tiles
    # a GRU layer, and two stacked (each its own loop stage)
    gru = program(*GRU, dtype="float32", learn_initial=True)
    gru.set("h.initial", np.linspace(0.4, -0.4, 16))
    assert against_the_twins(path, monkeypatch, gru, 8)[0] == WHOLE_LOOP
    assert against_the_twins(path, monkeypatch, gru, 13, window_steps=4)[0] == WHOLE_LOOP
    stacked = program("layer g[8] gru\n layer h[16] gru\n output y[2] identity", "x -> g -> h -> y", dtype="float32")
    assert against_the_twins(path, monkeypatch, stacked, 8, window_steps=5)[0] == WHOLE_LOOP
    # an MGU layer: the GRU's kernels' form with one gate
    mgu = program(*MGU, dtype="float32", learn_initial=True)
    mgu.set("h.initial", np.linspace(0.4, -0.4, 16))
    assert against_the_twins(path, monkeypatch, mgu, 8)[0] == WHOLE_LOOP
    assert against_the_twins(path, monkeypatch, mgu, 13, window_steps=4)[0] == WHOLE_LOOP
    # ... but not with another recurrence, delay or activation: the generic scan
    for units, connections in (
        (GRU[0], "x -> h -> y\n y -> h delay 1"),
        (ELMAN[0], "x -> h -> y\n h -> h delay 2"),
        (ELMAN[0], "x -> h -> y\n h -> h delay 1\n y -> h delay 1"),
        ("layer h[16] relu\n output y[2] identity", ELMAN[1]),
        ("layer h[16] lstm\n output y[2] identity", "x -> h -> y\n y -> h delay 1"),
    ):
        prog = program(units, connections, dtype="float32")
        assert against_the_twins(path, monkeypatch, prog, 8, window_steps=3)[0] == NO_LOOP


@pytest.mark.parametrize("path", [p for p in COMPILED if p not in WITH_GEMMS])
def test_without_gemms_the_twins_step_loop_runs_the_compiled_steps(path, monkeypatch):
    """As on a CPU without AVX2 (forced here): no whole-loop kernels, so their twins' step loops run,
    with the compiled LSTM step backward (its forward's twin is faster there) and numpy's products."""
    prog = program(*LSTM, dtype="float32")
    assert against_the_twins(path, monkeypatch, prog, 8, window_steps=5) == (STEP_LOOP, {"twin", "compiled"})
    mixed = program("layer h[16] lstm\n output y[2] identity", "x -> h -> y\n y -> h delay 1", dtype="float32")
    assert against_the_twins(path, monkeypatch, mixed, 8, window_steps=5) == (NO_LOOP, {"twin", "compiled"})


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_split_over_threads_the_whole_loop_kernels_give_the_same_bits(path, monkeypatch):
    """LSTM, Elman, GRU and MGU. The sequences of a batch are independent, so the kernels split them over
    threads in blocks of 8 (also uneven: 20 = 8 + 8 + 4); the weight gradients split by column. Every
    value is the same sum in the same order as on one thread. With threads, a batch over
    SMALL_GEMM_MAX_ROWS takes the whole-loop kernels too (each thread's block is small again)."""
    force_path(monkeypatch, path)
    taken = Taken(monkeypatch)
    previous = accel.set_kernel_threads(1)
    try:
        sizes = ((20, (1, 2, 3)), (accel.SMALL_GEMM_MAX_ROWS + 16, (2, 4)))
        cases = [(program(*spec, dtype="float32", learn_initial=True), n, counts)
                 for spec in (LSTM, ELMAN, GRU, MGU) for n, counts in sizes]
        for prog, n, counts in cases:
            x, y = batch(n=n, steps=7, seed=n)
            targets = rows(y, start=0, steps=7, total=7)
            results = []
            for count in counts:
                accel.set_kernel_threads(count)
                taken.got.clear()
                results.append(loss_and_grads(prog, x, targets, None))
                assert taken.got == WHOLE_LOOP, (n, count)
            for loss, grads, h, _ in results[1:]:
                assert loss == results[0][0]
                np.testing.assert_array_equal(h, results[0][2])
                for name in grads:
                    np.testing.assert_array_equal(grads[name], results[0][1][name], err_msg=name)
    finally:
        accel.set_kernel_threads(previous)


@pytest.mark.parametrize("path", WITH_GEMMS)
@pytest.mark.parametrize("cell", [LSTM, GRU, MGU, ELMAN], ids=["lstm", "gru", "mgu", "elman"])
def test_a_one_step_window_of_float32_data_reaches_the_kernels(path, cell, monkeypatch):
    """Float32 data is fed without a copy, and a one-step window of it (a BPTT run's last window when the
    window length does not divide the sequence) is a strided time-major view: the whole-loop kernels, which
    read their input rows in place, once refused it ("pre must be contiguous", an internal error)."""
    force_path(monkeypatch, path)
    prog = program(*cell, dtype="float32")
    x, y = batch(n=4, steps=4)
    window, targets = x.astype(np.float32)[:, 3:4], rows(y, start=3, steps=1, total=4)
    copied = np.ascontiguousarray(window)
    np.testing.assert_array_equal(prog.forward({"x": window})["y"], prog.forward({"x": copied})["y"])
    got = prog.loss_and_grads({"x": window}, targets.data, rows=targets.rows)
    want = prog.loss_and_grads({"x": copied}, targets.data, rows=targets.rows)
    assert got[0] == want[0]
    for name in want[2]:
        np.testing.assert_array_equal(got[2][name], want[2][name], err_msg=name)


@pytest.mark.parametrize("path", [*WITH_GEMMS, accel.CUDA, accel.TWINS])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mgu", "tanh"])
def test_a_layers_own_dropout_runs_in_the_whole_loop_kernels_as_the_generic_scan_runs_it(cell, path, monkeypatch):
    """A recurrent layer's dropout (one mask per sequence, at every step) reaches the kernels: each step's h is
    kept masked, as the next step and the output read it, and its gradient is masked before the cell's vjp
    (an Elman layer's reads the unmasked values, kept beside). The loss and every gradient are the generic
    scan's (the same draws)."""
    force_path(monkeypatch, path)
    units = f"layer h[16] {cell} dropout=0.4\n output y[2] identity"
    connections = ELMAN[1] if cell == "tanh" else "x -> h -> y"
    fused, generic = (program(units, connections, dtype="float32") for _ in range(2))
    bodies = [ins.attrs["body"] for ins in fused.train_plan.instrs if ins.op.name == "scan"]
    assert [body.pattern.mask for body in bodies] == ["random:h.dropout"]
    for plan in (generic.train_plan, generic.eval_plan):
        for ins in plan.instrs:
            ins.attrs.pop("fused", None)
    x, y = batch(n=12, steps=6, seed=3)
    targets = rows(y, start=0, steps=6, total=6)
    taken = Taken(monkeypatch)
    got = fused.loss_and_grads({"x": x}, targets.data, rows=targets.rows, rng=np.random.default_rng(4))
    assert taken.got == (STEP_LOOP if path == accel.TWINS else WHOLE_LOOP)  # cuda: the emulated kernels
    taken.got.clear()
    want = generic.loss_and_grads({"x": x}, targets.data, rows=targets.rows, rng=np.random.default_rng(4))
    assert taken.got == NO_LOOP
    assert np.isclose(got[0], want[0], rtol=1e-5)
    for name in want[2]:
        assert np.abs(want[2][name]).max() > 1e-4, name
        np.testing.assert_allclose(got[2][name], want[2][name], rtol=2e-4, atol=1e-5, err_msg=name)
