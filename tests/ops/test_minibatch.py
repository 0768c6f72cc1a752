"""The minibatch standard deviation op: gradients against finite differences (float64), and its value."""

import numpy
import pytest

from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(5)
ATTRS = {"group": 4, "eps": 1e-8}


@pytest.mark.parametrize("shape", [(8, 3), (10, 3), (4, 2, 3, 3), (3, 5)])
def test_minibatch_std_gradients(xp, shape):
    """Full groups, a remainder group (10 = 4 + 4 + 2), an image, a batch smaller than one group."""
    check_vjp("minibatch_std", (rng.standard_normal(shape),), ATTRS, xp=xp)


def test_minibatch_std_appends_each_groups_mean_spread():
    x = rng.standard_normal((6, 3))
    y, _ = get_op("minibatch_std").forward(numpy, (x,), ATTRS)
    y = host(y)
    numpy.testing.assert_array_equal(y[:, :3], x)
    first = numpy.sqrt(x[:4].var(axis=0) + 1e-8).mean()
    rest = numpy.sqrt(x[4:].var(axis=0) + 1e-8).mean()
    numpy.testing.assert_allclose(y[:, 3], [first] * 4 + [rest] * 2)


def test_minibatch_std_keeps_groups_apart():
    """Collapsed rows (all alike) give a near-zero spread in their own group, whatever the other group holds."""
    x = numpy.concatenate([rng.standard_normal((4, 2)), numpy.ones((4, 2))])
    y, _ = get_op("minibatch_std").forward(numpy, (x,), ATTRS)
    assert host(y)[4:, 2].max() < 1e-3 < host(y)[:4, 2].min()


def test_minibatch_std_image_channel():
    x = rng.standard_normal((4, 2, 3, 3))
    y, _ = get_op("minibatch_std").forward(numpy, (x,), ATTRS)
    assert y.shape == (4, 3, 3, 3)
    numpy.testing.assert_allclose(host(y)[:, 2], numpy.sqrt(x.var(axis=0) + 1e-8).mean())
