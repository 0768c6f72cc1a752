"""The whole-loop float32 kernels of LSTM, GRU and Elman layers (`lstm_sequence_forward`/`_backward`,
`gru_...`, `elman_...`) against the step-by-step numpy twins, and when the executor takes them."""

import numpy as np
import pytest

import nngraph.compile.recurrent_steps as steps
from nngraph.backend import kernels
from tests.recurrent.helpers import batch, program, rows

LSTM = ("layer h[16] lstm\n output y[2] identity", "x -> h -> y")
ELMAN = ("layer h[16] tanh\n output y[2] identity", "x -> h -> y\n h -> h delay 1")
GRU = ("layer h[16] gru\n output y[2] identity", "x -> h -> y")


@pytest.fixture
def kernel_path():
    """This module compares both paths inside its test: not run once per path (see conftest.py)."""
    return "both"


def loss_and_grads(prog, x, targets, state, on: bool, monkeypatch):
    """(loss, gradients, h's output, final state) with the kernels on or off."""
    monkeypatch.setenv(kernels.ENV_SWITCH, "1" if on else "0")
    loss, _, grads, run = prog.loss_and_grads({"x": x}, targets, state)
    return (
        loss,
        {k: np.array(v) for k, v in grads.items()},
        prog.output(run, "h"),
        prog.final_state(run),
    )


def test_whole_loop_kernels_match_the_step_by_step_twins(monkeypatch):
    if not kernels.built():
        pytest.skip(kernels.status())
    fused = kernels.fused_kernels(np)
    if fused is None or not fused.small_gemm_available:
        pytest.skip("the whole-loop kernels need the small GEMM (a CPU with AVX-512)")
    taken = []
    decide = steps._sequence_kernels

    def recording(xp, run, stage, grads=None):
        chosen = decide(xp, run, stage, grads)
        taken.append(("backward" if grads is not None else "forward", chosen is not None))
        return chosen

    monkeypatch.setattr(steps, "_sequence_kernels", recording)

    def both_paths(prog, n, window_steps=12):
        """Two windows of truncated BPTT (the second from the first's carried state) on each path,
        compared; returns what `_sequence_kernels` chose with the kernels on."""
        x, y = batch(n=n, steps=2 * window_steps, seed=n)
        results, took = {}, {}
        for on in (True, False):
            taken.clear()
            state, out = None, []
            for start in (0, window_steps):
                window = rows(y, start=start, steps=window_steps, total=2 * window_steps)
                out.append(
                    loss_and_grads(
                        prog, x[:, start : start + window_steps], window, state, on, monkeypatch
                    )
                )
                state = out[-1][3]
            results[on], took[on] = out, set(taken)
        for first, on, off in zip((True, False), results[True], results[False]):
            (loss_on, grads_on, h_on, state_on), (loss_off, grads_off, h_off, state_off) = on, off
            assert np.isclose(loss_on, loss_off, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(h_on, h_off, rtol=1e-4, atol=1e-6, err_msg="h")
            for key in state_on:
                np.testing.assert_allclose(
                    state_on[key], state_off[key], rtol=1e-4, atol=1e-6, err_msg=key
                )
            assert grads_on.keys() == grads_off.keys()
            for name in grads_on:
                assert grads_on[name].dtype == prog.params[name].dtype
                np.testing.assert_allclose(
                    grads_on[name], grads_off[name], rtol=1e-4, atol=1e-6, err_msg=name
                )
                if first or "initial" not in name:  # from a carried state the initial one gets none
                    assert np.abs(grads_on[name]).max() > 1e-4, name  # not zeros on both paths
        assert took[False] == {("forward", False), ("backward", False)}  # NNGRAPH_KERNELS=0: never
        return took[True]

    prog = program(*LSTM, dtype="float32", learn_initial=True)
    prog.set("h.initial", np.linspace(-0.5, 0.5, 16))
    prog.set("h.initial_cell", np.linspace(0.3, -0.3, 16))
    both = {("forward", True), ("backward", True)}
    assert both_paths(prog, 8) == both
    assert both_paths(prog, kernels.SMALL_GEMM_MAX_ROWS, window_steps=3) == both
    # two input edges: projected for all steps first, then the same whole-loop kernels
    two_inputs = program(
        "layer e[4] tanh\n layer h[16] lstm\n output y[2] identity",
        "x -> e -> h -> y\n x -> h",
        dtype="float32",
    )
    assert both_paths(two_inputs, 8, window_steps=5) == both
    # the step-by-step compiled path instead: a batch the small GEMM does not serve, or float64
    not_taken = {("forward", False), ("backward", False)}
    assert both_paths(prog, kernels.SMALL_GEMM_MAX_ROWS + 1, window_steps=3) == not_taken
    assert both_paths(program(*LSTM, dtype="float64"), 8, window_steps=3) == not_taken
    # an Elman layer: its inputs projected for all steps, then one call per pass too
    elman = program(*ELMAN, dtype="float32", learn_initial=True)
    elman.set("h.initial", np.linspace(-0.5, 0.5, 16))
    assert both_paths(elman, 8) == both
    assert both_paths(elman, 13, window_steps=4) == both  # a batch that is not a whole number of tiles
    # a GRU layer, and two stacked (each its own loop stage)
    gru = program(*GRU, dtype="float32", learn_initial=True)
    gru.set("h.initial", np.linspace(0.4, -0.4, 16))
    assert both_paths(gru, 8) == both
    assert both_paths(gru, 13, window_steps=4) == both
    stacked = program("layer g[8] gru\n layer h[16] gru\n output y[2] identity", "x -> g -> h -> y",
                      dtype="float32")
    assert both_paths(stacked, 8, window_steps=5) == both
    # ... but not with another recurrence, delay or activation
    for units, connections in (
        (GRU[0], "x -> h -> y\n y -> h delay 1"),
        (ELMAN[0], "x -> h -> y\n h -> h delay 2"),
        (ELMAN[0], "x -> h -> y\n h -> h delay 1\n y -> h delay 1"),
        ("layer h[16] relu\n output y[2] identity", ELMAN[1]),
    ):
        assert both_paths(program(units, connections, dtype="float32"), 8, window_steps=3) == not_taken


def test_without_avx512_the_step_kernels_and_numpy_products_serve(monkeypatch):
    """A CPU without AVX-512 (simulated): no small GEMM, so no whole-loop kernels; the compiled step
    kernels with numpy's matmul must give what the numpy twins give."""
    if not kernels.built():
        pytest.skip(kernels.status())
    monkeypatch.setattr(kernels.fused_kernels(np), "small_gemm_available", False)
    chosen = []
    decide = steps._sequence_kernels
    monkeypatch.setattr(steps, "_sequence_kernels", lambda *a: chosen.append(decide(*a)) or chosen[-1])
    prog = program(*LSTM, backend_name="numpy", dtype="float32")
    x, y = batch(n=8, steps=10, seed=2)
    targets = rows(y, start=0, steps=10, total=10)
    on = loss_and_grads(prog, x, targets, None, True, monkeypatch)
    assert chosen and all(c is None for c in chosen)
    off = loss_and_grads(prog, x, targets, None, False, monkeypatch)
    assert np.isclose(on[0], off[0], rtol=1e-5)
    for name in on[1]:
        np.testing.assert_allclose(on[1][name], off[1][name], rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(on[2], off[2], rtol=1e-4, atol=1e-6)


def test_split_over_threads_the_whole_loop_kernels_give_the_same_bits(monkeypatch):
    """LSTM, Elman and GRU. The sequences of a batch are independent, so the kernels split them over
    threads in blocks of 8 (also uneven: 20 = 8 + 8 + 4); the weight gradients split by column. Every
    value is the same sum in the same order as on one thread. With threads, a batch over
    SMALL_GEMM_MAX_ROWS takes the whole-loop kernels too (each thread's block is small again)."""
    fused = kernels.fused_kernels(np)
    if fused is None or not fused.small_gemm_available:
        pytest.skip("the whole-loop kernels need the compiled small GEMM (a CPU with AVX-512)")
    chosen = []
    decide = steps._sequence_kernels
    monkeypatch.setattr(steps, "_sequence_kernels", lambda *a: chosen.append(decide(*a)) or chosen[-1])
    previous = kernels.set_kernel_threads(1)
    try:
        sizes = ((20, (1, 2, 3)), (kernels.SMALL_GEMM_MAX_ROWS + 16, (2, 4)))
        cases = [(program(*spec, dtype="float32", learn_initial=True), n, counts)
                 for spec in (LSTM, ELMAN, GRU) for n, counts in sizes]
        for prog, n, counts in cases:
            x, y = batch(n=n, steps=7, seed=n)
            targets = rows(y, start=0, steps=7, total=7)
            results = []
            for count in counts:
                kernels.set_kernel_threads(count)
                chosen.clear()
                results.append(loss_and_grads(prog, x, targets, None, True, monkeypatch))
                assert chosen and all(c is not None for c in chosen), (n, count)
            for loss, grads, h, _ in results[1:]:
                assert loss == results[0][0]
                np.testing.assert_array_equal(h, results[0][2])
                for name in grads:
                    np.testing.assert_array_equal(grads[name], results[0][1][name], err_msg=name)
    finally:
        kernels.set_kernel_threads(previous)
