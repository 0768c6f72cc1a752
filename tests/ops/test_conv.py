import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(3)


def r(*shape):
    return rng.standard_normal(shape)


def naive_conv(x, w, b, stride, pad):
    x = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, f, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    ho = (x.shape[2] - kh) // stride + 1
    wo = (x.shape[3] - kw) // stride + 1
    out = numpy.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = numpy.einsum("nchw,fchw->nf", patch, w) + b
    return out


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 0), (1, 1), (2, 2)])
def test_conv2d_matches_naive_loop(xp, stride, pad):
    x, w, b = r(2, 3, 6, 7), r(4, 3, 3, 2), r(4)
    out, _ = get_op("conv2d").forward(xp, tuple(map(xp.asarray, (x, w, b))),
                                      {"stride": stride, "padding": pad})
    numpy.testing.assert_allclose(host(out), naive_conv(x, w, b, stride, pad), rtol=1e-10)


@pytest.mark.parametrize("attrs", [{}, {"stride": 2}, {"padding": 1}, {"stride": 2, "padding": 1},
                                   {"padding": "same"}])
def test_conv2d_gradients(xp, attrs):
    check_vjp("conv2d", (r(2, 2, 5, 5), r(3, 2, 3, 3), r(3)), attrs, xp=xp)


def test_conv2d_without_bias_and_even_same_kernel(xp):
    check_vjp("conv2d", (r(2, 2, 4, 5), r(2, 2, 2, 2), None), {"padding": "same"}, xp=xp)
    check_vjp("conv2d", (r(1, 1, 4, 4), r(2, 1, 3, 3)), {"stride": 3}, xp=xp)


def test_same_padding_keeps_the_size():
    assert get_op("conv2d").shape(((3, 9, 8), (5, 3, 4, 4), (5,)), {"padding": "same"}) == (5, 9, 8)
    assert get_op("conv2d").shape(((3, 9, 8), (5, 3, 3, 3), None), {"stride": 2}) == (5, 4, 3)


@pytest.mark.parametrize("shapes, attrs", [
    (((3, 9, 9), (5, 2, 3, 3), (5,)), {}),                 # channel mismatch
    (((3, 2, 2), (5, 3, 3, 3), (5,)), {}),                 # kernel larger than input
    (((3, 9, 9), (5, 3, 3, 3), (5,)), {"padding": "same", "stride": 2}),
    (((9, 9), (5, 3, 3, 3), (5,)), {}),                    # not [C, H, W]
])
def test_conv2d_shape_errors(shapes, attrs):
    with pytest.raises(ShapeError):
        get_op("conv2d").shape(shapes, attrs)


def test_conv2d_skips_the_input_gradient_of_data(xp):
    check_vjp("conv2d", (r(2, 1, 5, 5), r(2, 1, 3, 3), r(2)), {"needs_input_grad": False},
              xp=xp, no_grad=[0])
