import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(7)
H = 3


def r(*shape):
    return rng.standard_normal(shape)


def sigmoid(a):
    return 1 / (1 + numpy.exp(-a))


def run(xp, name, *inputs):
    return host(get_op(name).forward(xp, tuple(map(xp.asarray, inputs)), {})[0])


@pytest.mark.parametrize("cell, gates", [("gru", 3), ("mgu", 2)])
def test_gated_cells_gradients(xp, cell, gates):
    check_vjp(f"{cell}_gates", (r(2, gates * H), r(2, gates * H), r(2, H)), xp=xp)


def test_lstm_gates_gradients(xp):
    check_vjp("lstm_gates", (r(2, 4 * H), r(2, H)), xp=xp)


def test_lstm_follows_gate_order_i_f_g_o(xp):
    a, c = r(2, 4 * H), r(2, H)
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), numpy.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c_new = f * c + i * g
    numpy.testing.assert_allclose(run(xp, "lstm_gates", a, c), numpy.hstack([o * numpy.tanh(c_new), c_new]),
                                  rtol=1e-6)


def test_gru_follows_pytorch_formulas(xp):
    x, h, u = r(2, 3 * H), r(2, H), r(H, 3 * H)
    hu = h @ u
    rg, z = sigmoid(x[:, :H] + hu[:, :H]), sigmoid(x[:, H:2 * H] + hu[:, H:2 * H])
    n = numpy.tanh(x[:, 2 * H:] + rg * hu[:, 2 * H:])
    numpy.testing.assert_allclose(run(xp, "gru_gates", x, hu, h), (1 - z) * n + z * h, rtol=1e-6)


def test_mgu_is_a_gru_whose_reset_and_update_gates_are_one(xp):
    x, h, u = r(2, 2 * H), r(2, H), r(H, 2 * H)
    hu = h @ u
    f = sigmoid(x[:, :H] + hu[:, :H])
    n = numpy.tanh(x[:, H:] + f * hu[:, H:])
    numpy.testing.assert_allclose(run(xp, "mgu_gates", x, hu, h), (1 - f) * n + f * h, rtol=1e-6)
    as_gru = run(xp, "gru_gates", numpy.hstack([x[:, :H], x]), numpy.hstack([hu[:, :H], hu]), h)
    numpy.testing.assert_allclose(run(xp, "mgu_gates", x, hu, h), as_gru, rtol=1e-6)


def test_cell_shape_rules():
    assert get_op("lstm_gates").shape(((12,), (3,)), {}) == (6,)
    assert get_op("gru_gates").shape(((9,), (9,), (3,)), {}) == (3,)
    assert get_op("mgu_gates").shape(((6,), (6,), (3,)), {}) == (3,)
    with pytest.raises(ShapeError):
        get_op("gru_gates").shape(((12,), (12,), (3,)), {})
