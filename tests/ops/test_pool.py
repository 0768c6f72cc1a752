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


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("shape, attrs", [
    ((2, 3, 6, 6), {"kernel": 2}),                               # windows tile the image exactly
    ((1, 2, 7, 8), {"kernel": 2, "stride": 3}),                  # gaps between windows
    ((2, 1, 5, 7), {"kernel": 3, "padding": 1}),                 # padded, odd sizes
    ((1, 2, 6, 5), {"kernel": (2, 3), "stride": (2, 1), "padding": (1, 1)}),
    ((1, 1, 13, 12), {"kernel": 12}),                            # more offsets than int8 numbers
])
def test_pool_gradients_odd_geometries(xp, name, shape, attrs):
    check_vjp(name, (r(*shape),), attrs, xp=xp)


def naive_pool(x, reduce, k, stride, pad, fill):
    x = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    ho, wo = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    return numpy.array([[[[reduce(x[n, c, i * stride:i * stride + k, j * stride:j * stride + k])
                           for j in range(wo)] for i in range(ho)]
                         for c in range(x.shape[1])] for n in range(x.shape[0])])


@pytest.mark.parametrize("k, stride, pad", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_padded_pools_match_naive_loops(xp, k, stride, pad):
    x = -numpy.abs(r(2, 2, 7, 6))  # all negative: a zero pad would win a max
    attrs = {"kernel": k, "stride": stride, "padding": pad}
    mx, _ = get_op("maxpool2d").forward(xp, (xp.asarray(x),), attrs)
    avg, _ = get_op("avgpool2d").forward(xp, (xp.asarray(x),), attrs)
    numpy.testing.assert_allclose(host(mx), naive_pool(x, numpy.max, k, stride, pad, -numpy.inf))
    numpy.testing.assert_allclose(host(avg), naive_pool(x, numpy.mean, k, stride, pad, 0.0))


def test_maxpool_ties_send_the_gradient_to_the_first_maximum(xp):
    # relu outputs are full of equal zeros; a window's gradient must not be counted twice
    x = xp.asarray(numpy.array([[[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]]]))
    op = get_op("maxpool2d")
    out, ctx = op.forward(xp, (x,), {"kernel": 2})
    (gx,) = op.vjp(xp, xp.ones_like(out), ctx, (x,), {"kernel": 2})
    numpy.testing.assert_array_equal(host(gx)[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])


def test_pool_padding_over_half_the_kernel_is_refused():
    with pytest.raises(ShapeError, match="at most half"):
        get_op("maxpool2d").shape(((3, 8, 8),), {"kernel": 2, "padding": 2})
    assert get_op("maxpool2d").shape(((3, 8, 8),), {"kernel": 3, "stride": 2, "padding": 1}) == (3, 4, 4)
