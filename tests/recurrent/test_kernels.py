"""The in-place step paths of the BPTT executor: LSTM gate slots, the in-place tanh, dtypes, run lifetimes."""

import numpy as np
import pytest

from nngraph.backend.twins import lstm_slot_params
from nngraph.ops.gradcheck import host
from tests.recurrent.helpers import assert_gradients_match, batch, grads_of, output, program, rows, run

LSTM = ("layer h[4] lstm\n output y[2] identity", "x -> h -> y")


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_slot_params_reorder_i_f_g_o_to_i_f_o_g_and_halve_the_sigmoids(xp):
    hidden = 2
    w = np.arange(2 * 4 * hidden, dtype=np.float64).reshape(2, 4 * hidden)
    blocks = [w[:, k * hidden:(k + 1) * hidden] for k in range(4)]  # i, f, g, o
    want = np.hstack([blocks[0] / 2, blocks[1] / 2, blocks[3] / 2, blocks[2]])
    np.testing.assert_array_equal(host(lstm_slot_params(xp, xp.asarray(w))), want)
    bias = xp.asarray(w[0])
    np.testing.assert_array_equal(host(lstm_slot_params(xp, bias)), want[0])
    assert host(bias).tolist() == w[0].tolist()  # a copy: the parameter itself is untouched


def test_lstm_sequence_matches_the_textbook_equations(backend_name):
    prog = program(*LSTM, backend_name=backend_name)
    x, _ = batch(steps=6)
    w, u, b = (prog.get(name) for name in ("x->h.weight", "h->h@1.weight", "h.bias"))
    h, c, hs = np.zeros((3, 4)), np.zeros((3, 4)), []
    for t in range(6):
        a = x[:, t] @ w + h @ u + b
        i, f, g, o = sigmoid(a[:, :4]), sigmoid(a[:, 4:8]), np.tanh(a[:, 8:12]), sigmoid(a[:, 12:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    got = output(prog, run(prog, x), "h", 3)
    np.testing.assert_allclose(got, np.stack(hs, axis=1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "identity"])
def test_other_loop_activations_take_the_op_table_path(activation, backend_name):
    prog = program(f"layer h[4] {activation}\n output y[2] identity", "x -> h\n h -> h delay 1\n h -> y",
                   backend_name=backend_name)
    x, y = batch()
    assert_gradients_match(prog, x, rows(y))


@pytest.mark.parametrize("case", [LSTM, ("layer h[4] tanh\n output y[2] identity",
                                         "x -> h\n h -> h delay 1\n h -> y")])
def test_float32_stays_float32(case, backend_name):
    prog = program(*case, backend_name=backend_name, dtype="float32")
    x, y = batch()
    targets = rows(y)
    _, _, grads, values = prog.loss_and_grads({"x": x}, targets.data, rows=targets.rows)
    assert {str(g.dtype) for g in grads.values()} == {"float32"}
    assert {str(v.dtype) for v in values.values() if hasattr(v, "dtype") and v.dtype.kind == "f"} == {"float32"}


def test_a_later_forward_leaves_an_earlier_run_intact():
    """The contexts of a forward must live until its backward, whatever ran in between."""
    prog = program(*LSTM)
    x, y = batch()
    other, _ = batch(seed=1)
    want = grads_of(prog, x, rows(y))
    values = prog.feeds({"x": x}, rows(y).data, training=True)
    ctxs = prog.run(values, training=True)
    run(prog, other, targets=rows(y), training=True)
    got = prog.backward(values, ctxs)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
