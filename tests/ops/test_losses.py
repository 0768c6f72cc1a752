import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(5)


def r(*shape):
    return rng.standard_normal(shape)


def probs(*shape):
    return rng.uniform(0.05, 0.95, shape)


def loss(xp, name, *inputs):
    return float(host(get_op(name).forward(xp, tuple(map(xp.asarray, inputs)), {})[0]))


def test_loss_gradients_leave_targets_without_gradient(xp):
    check_vjp("mse", (r(4, 3), r(4, 3)), xp=xp, no_grad=[1])
    check_vjp("bce_logits", (r(4, 3), probs(4, 3)), xp=xp, no_grad=[1])
    check_vjp("bce", (probs(4, 3), probs(4, 3)), xp=xp, no_grad=[1])


def test_a_target_that_is_a_unit_gets_its_gradient_when_asked(xp):
    wanted = {"needs_target_grad": True}
    check_vjp("mse", (r(4, 3), r(4, 3)), wanted, xp=xp)
    check_vjp("bce_logits", (r(4, 3), probs(4, 3)), wanted, xp=xp)
    check_vjp("bce", (probs(4, 3), probs(4, 3)), wanted, xp=xp)
    check_vjp("softmax_cross_entropy", (r(5, 4), rng.dirichlet(numpy.ones(4), 5)), wanted, xp=xp)
    check_vjp("softmax_cross_entropy", (r(5, 4), rng.integers(0, 4, 5)), wanted, xp=xp, no_grad=[1])


def test_softmax_cross_entropy_with_labels_and_with_probabilities(xp):
    check_vjp("softmax_cross_entropy", (r(5, 4), rng.integers(0, 4, 5)), xp=xp, no_grad=[1])
    t = rng.dirichlet(numpy.ones(4), 5)
    check_vjp("softmax_cross_entropy", (r(5, 4), t), xp=xp, no_grad=[1])
    check_vjp("softmax_cross_entropy", (r(2, 3, 4), rng.integers(0, 4, (2, 3))), xp=xp,
              no_grad=[1])


def test_loss_values_match_hand_computation(xp):
    y, t = numpy.array([[1.0, 2.0], [3.0, 5.0]]), numpy.array([[0.0, 2.0], [1.0, 1.0]])
    assert loss(xp, "mse", y, t) == pytest.approx((1 + 0 + 4 + 16) / 4)
    z, tb = numpy.array([[0.0, 2.0]]), numpy.array([[1.0, 0.0]])
    expected = (numpy.log(2) + numpy.log1p(numpy.exp(2))) / 2
    assert loss(xp, "bce_logits", z, tb) == pytest.approx(expected)
    p = 1 / (1 + numpy.exp(-z))
    assert loss(xp, "bce", p, tb) == pytest.approx(expected)


def test_cross_entropy_labels_equal_one_hot(xp):
    z = numpy.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = numpy.array([2, 0])
    by_label = loss(xp, "softmax_cross_entropy", z, labels)
    by_onehot = loss(xp, "softmax_cross_entropy", z, numpy.eye(3)[labels])
    expected = (-numpy.log(numpy.exp(3) / numpy.exp([1, 2, 3]).sum()) + numpy.log(3)) / 2
    assert by_label == pytest.approx(expected) and by_onehot == pytest.approx(expected)


def test_losses_stay_finite_at_extremes(xp):
    z = numpy.array([[-500.0, 500.0]], dtype=numpy.float32)
    t = numpy.array([[1.0, 0.0]], dtype=numpy.float32)
    assert loss(xp, "bce_logits", z, t) == pytest.approx(500.0)
    assert numpy.isfinite(loss(xp, "bce", numpy.array([[0.0, 1.0]], numpy.float32), t))
    assert loss(xp, "softmax_cross_entropy", z, numpy.array([0])) == pytest.approx(1000.0)


def test_cross_entropy_shape_rule():
    rule = get_op("softmax_cross_entropy").shape
    assert rule(((10,), ()), {}) == () and rule(((10,), (10,)), {}) == ()
    with pytest.raises(ShapeError):
        rule(((10,), (9,)), {})


def test_cross_entropy_of_several_positions_is_their_mean(xp):
    # docs/language.md: a [S, K] output is S distributions of K classes, the loss a mean over batch and S
    z = numpy.array([[[0.0, 0.0], [0.0, numpy.log(3.0)]]])  # one example, S = 2 positions, K = 2 classes
    labels = numpy.array([[0, 1]])
    expected = (numpy.log(2.0) + numpy.log(4.0 / 3.0)) / 2
    assert loss(xp, "softmax_cross_entropy", z, labels) == pytest.approx(expected)
    assert loss(xp, "softmax_cross_entropy", z, numpy.eye(2)[labels]) == pytest.approx(expected)


def test_bce_clips_probabilities_at_the_documented_eps(xp):
    t = numpy.array([[1.0]])
    assert loss(xp, "bce", numpy.array([[0.0]]), t) == pytest.approx(-numpy.log(1e-15))
    assert loss(xp, "bce", numpy.array([[0.0]], numpy.float32), t.astype(numpy.float32)) == \
        pytest.approx(-numpy.log(1e-7), rel=1e-5)
