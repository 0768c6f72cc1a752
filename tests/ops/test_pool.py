import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(4)


def r(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("attrs", [{"kernel": 2}, {"kernel": 3, "stride": 1},
                                   {"kernel": 3, "stride": 2}, {"kernel": (2, 3)}])
def test_pool_gradients_including_overlap(xp, name, attrs):
    check_vjp(name, (r(2, 2, 6, 7),), attrs, xp=xp)


def test_pool_values(xp):
    x = numpy.arange(16.0).reshape(1, 1, 4, 4)
    mx, _ = get_op("maxpool2d").forward(xp, (xp.asarray(x),), {"kernel": 2})
    avg, _ = get_op("avgpool2d").forward(xp, (xp.asarray(x),), {"kernel": 2})
    numpy.testing.assert_array_equal(host(mx)[0, 0], [[5, 7], [13, 15]])
    numpy.testing.assert_array_equal(host(avg)[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_pool_shapes():
    assert get_op("maxpool2d").shape(((3, 7, 7),), {"kernel": 2}) == (3, 3, 3)
    assert get_op("avgpool2d").shape(((3, 7, 7),), {"kernel": 3, "stride": 2}) == (3, 3, 3)
    with pytest.raises(ShapeError):
        get_op("maxpool2d").shape(((3, 1, 7),), {"kernel": 2})
