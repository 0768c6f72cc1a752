import numpy
import pytest

from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(2)


def away_from_zero(*shape):
    # kinked activations (relu, leaky_relu, elu) are checked away from the kink
    x = rng.standard_normal(shape)
    return numpy.sign(x) * (0.1 + numpy.abs(x))


def forward(xp, name, x, **attrs):
    return host(get_op(name).forward(xp, (xp.asarray(x),), attrs)[0])


@pytest.mark.parametrize("name", ["identity", "sigmoid", "tanh", "relu", "leaky_relu",
                                  "softplus", "softmax", "elu"])
def test_activation_gradients(xp, name):
    check_vjp(name, (away_from_zero(4, 5),), xp=xp)


@pytest.mark.parametrize("name, attrs", [("leaky_relu", {"slope": 0.2}), ("elu", {"alpha": 0.5})])
def test_activation_attrs(xp, name, attrs):
    check_vjp(name, (away_from_zero(3, 4),), attrs, xp=xp)


def test_sigmoid_and_softplus_do_not_overflow(xp):
    x = numpy.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]], dtype=numpy.float32)
    with numpy.errstate(over="raise", invalid="raise", divide="raise"):
        s = forward(xp, "sigmoid", x)
        sp = forward(xp, "softplus", x)
        e = forward(xp, "elu", x)
    numpy.testing.assert_allclose(s, [[0, 0, 0.5, 1, 1]], atol=1e-7)
    numpy.testing.assert_allclose(sp, [[0, 0, numpy.log(2), 30, 1000]], atol=1e-6)
    numpy.testing.assert_allclose(e, [[-1, -1, 0, 30, 1000]], atol=1e-6)


def test_softmax_rows_sum_to_one_even_for_huge_logits(xp):
    x = numpy.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    y = forward(xp, "softmax", x)
    numpy.testing.assert_allclose(y.sum(axis=-1), 1.0)
    numpy.testing.assert_allclose(y[0], [0.5, 0.5, 0.0])
    numpy.testing.assert_allclose(y[1], numpy.exp([1, 2, 3]) / numpy.exp([1, 2, 3]).sum())


def test_activation_values(xp):
    x = numpy.array([[-2.0, 3.0]])
    numpy.testing.assert_allclose(forward(xp, "relu", x), [[0, 3]])
    numpy.testing.assert_allclose(forward(xp, "leaky_relu", x), [[-0.02, 3]])
    numpy.testing.assert_allclose(forward(xp, "elu", x, alpha=2.0), [[2 * numpy.expm1(-2), 3]])
    numpy.testing.assert_allclose(forward(xp, "sigmoid", x), 1 / (1 + numpy.exp(-x)))


@pytest.mark.parametrize("shape", [(128, 10), (3, 64), (5, 65), (2, 3, 4), (7,)])
def test_last_axis_max_equals_the_plain_reduction(xp, shape):
    from nngraph.ops.activations import last_axis_max

    z = rng.standard_normal(shape).astype(numpy.float32)
    z.flat[0] = numpy.nan  # a NaN row stays NaN, as with z.max
    got = host(last_axis_max(xp, xp.asarray(z)))
    numpy.testing.assert_array_equal(got, z.max(axis=-1, keepdims=True))
