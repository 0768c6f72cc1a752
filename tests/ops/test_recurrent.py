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


def test_lstm_cell_gradients(xp):
    check_vjp("lstm_cell", (r(2, 4 * H), r(2, H), r(2, H), r(H, 4 * H)), xp=xp)


def test_gru_cell_gradients(xp):
    check_vjp("gru_cell", (r(2, 3 * H), r(2, H), r(H, 3 * H)), xp=xp)


def test_lstm_cell_follows_gate_order_i_f_g_o(xp):
    x, h, c, u = r(2, 4 * H), r(2, H), r(2, H), r(H, 4 * H)
    a = x + h @ u
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), numpy.tanh(a[:, 2 * H:3 * H]), \
        sigmoid(a[:, 3 * H:])
    c_new = f * c + i * g
    out, _ = get_op("lstm_cell").forward(xp, tuple(map(xp.asarray, (x, h, c, u))), {})
    numpy.testing.assert_allclose(host(out), numpy.hstack([o * numpy.tanh(c_new), c_new]))


def test_gru_cell_follows_pytorch_formulas(xp):
    x, h, u = r(2, 3 * H), r(2, H), r(H, 3 * H)
    hu = h @ u
    rg, z = sigmoid(x[:, :H] + hu[:, :H]), sigmoid(x[:, H:2 * H] + hu[:, H:2 * H])
    n = numpy.tanh(x[:, 2 * H:] + rg * hu[:, 2 * H:])
    out, _ = get_op("gru_cell").forward(xp, tuple(map(xp.asarray, (x, h, u))), {})
    numpy.testing.assert_allclose(host(out), (1 - z) * n + z * h)


def test_cell_shape_rules():
    assert get_op("lstm_cell").shape(((12,), (3,), (3,), (3, 12)), {}) == (6,)
    assert get_op("gru_cell").shape(((9,), (3,), (3, 9)), {}) == (3,)
    with pytest.raises(ShapeError):
        get_op("gru_cell").shape(((12,), (3,), (3, 12)), {})
