import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host
from nngraph.ops.upsample import interpolation_matrix, resize

rng = numpy.random.default_rng(5)


def r(*shape):
    return rng.standard_normal(shape)


def run(xp, name, inputs, attrs):
    out, _ = get_op(name).forward(xp, tuple(None if a is None else xp.asarray(a) for a in inputs), attrs)
    return host(out)


@pytest.mark.parametrize("attrs", [{"factor": 2}, {"factor": 3, "mode": "bilinear"}, {"factor": (2, 1)},
                                   {"factor": 2, "mode": "bicubic"}, {"factor": (1, 3), "mode": "bilinear"}])
def test_upsample_gradients(xp, attrs):
    check_vjp("upsample2d", (r(2, 3, 4, 5),), attrs, xp=xp)


def test_nearest_repeats_each_pixel(xp):
    x = r(2, 3, 4, 5)
    want = x.repeat(2, axis=2).repeat(3, axis=3)
    numpy.testing.assert_array_equal(run(xp, "upsample2d", (x,), {"factor": (2, 3)}), want)


def test_bilinear_weights_at_half_pixel_centres():
    # output pixel 2i+1 of a 2x upsampling lies a quarter past source pixel i: 3/4 of it, 1/4 of the next;
    # the first and last output pixels lie beyond the outer centres and read the edge pixel
    rows = interpolation_matrix(3, 2, "bilinear")
    numpy.testing.assert_allclose(rows, [[1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25],
                                         [0, 0.25, 0.75], [0, 0, 1]])


def test_bicubic_weights_are_keys_with_a_minus_half():
    # the classic 2x coefficients of Keys' kernel at a = -0.5: -3/128, 29/128, 111/128, -9/128
    row = interpolation_matrix(8, 2, "bicubic")[7]  # lies a quarter past source pixel 3
    numpy.testing.assert_allclose(row[2:6], numpy.array([-9, 111, 29, -3]) / 128)
    assert numpy.allclose(interpolation_matrix(5, 3, "bicubic").sum(axis=1), 1)


def test_bicubic_keeps_a_linear_ramp_inside_the_image():
    ramp = numpy.arange(10.0)[None, :] * numpy.ones((10, 1))
    up = resize(ramp, 2, "bicubic")
    centres = (numpy.arange(20) + 0.5) / 2 - 0.5
    numpy.testing.assert_allclose(up[5, 3:-3], centres[3:-3], atol=1e-12)  # taps off the edge read it


@pytest.mark.parametrize("attrs", [{}, {"stride": 2}, {"stride": 2, "padding": 1}, {"stride": (1, 2)},
                                   {"stride": 3, "padding": (0, 1)}])
def test_conv_transpose_gradients(xp, attrs):
    check_vjp("conv_transpose2d", (r(2, 3, 4, 3), r(3, 2, 3, 2), r(2)), attrs, xp=xp)
    check_vjp("conv_transpose2d", (r(2, 2, 3, 3), r(2, 3, 2, 2)), attrs, xp=xp)


def naive_conv_transpose(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    f, kh, kw = w.shape[1:]
    full = numpy.zeros((n, f, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += numpy.einsum(
                "nc,cfhw->nfhw", x[:, :, i, j], w)
    return full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad] + b[:, None, None]


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 0), (2, 1), (3, 1)])
def test_conv_transpose_matches_scattering_each_pixel(xp, stride, pad):
    x, w, b = r(2, 3, 4, 5), r(3, 2, 3, 3), r(2)
    got = run(xp, "conv_transpose2d", (x, w, b), {"stride": stride, "padding": pad})
    numpy.testing.assert_allclose(got, naive_conv_transpose(x, w, b, stride, pad), rtol=1e-10, atol=1e-12)


def test_conv_transpose_is_the_adjoint_of_conv(xp):
    # <conv(y, W), x> == <y, conv_transpose(x, W)>: the defining property
    y, w, x = r(2, 2, 7, 7), r(3, 2, 3, 3), r(2, 3, 4, 4)
    attrs = {"stride": 2, "padding": 1}
    conv = run(xp, "conv2d", (y, w), attrs)
    transposed = run(xp, "conv_transpose2d", (x, w), attrs)
    assert numpy.isclose((conv * x).sum(), (y * transposed).sum())


def test_pixel_shuffle_gradients_and_layout(xp):
    check_vjp("pixel_shuffle", (r(2, 8, 3, 2),), {"factor": 2}, xp=xp)
    check_vjp("pixel_shuffle", (r(1, 9, 2, 2),), {"factor": 3}, xp=xp)
    x = r(2, 12, 3, 4)
    out = run(xp, "pixel_shuffle", (x,), {"factor": 2})
    # out[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]
    assert out.shape == (2, 3, 6, 8)
    assert out[1, 2, 2 * 2 + 1, 3 * 2 + 0] == x[1, 2 * 4 + 1 * 2 + 0, 2, 3]


@pytest.mark.parametrize("name, shapes, attrs", [
    ("upsample2d", ((3, 4),), {"factor": 2}),
    ("upsample2d", ((3, 4, 4),), {"factor": 0}),
    ("upsample2d", ((3, 4, 4),), {"factor": 2, "mode": "area"}),
    ("pixel_shuffle", ((6, 4, 4),), {"factor": 2}),
    ("conv_transpose2d", ((3, 4, 4), (2, 5, 3, 3), (5,)), {}),         # channel mismatch
    ("conv_transpose2d", ((3, 4, 4), (3, 5, 3, 3), (4,)), {}),         # bias of the wrong size
    ("conv_transpose2d", ((3, 1, 1), (3, 5, 1, 1), None), {"padding": 1}),  # nothing left
])
def test_upsampling_shape_errors(name, shapes, attrs):
    with pytest.raises(ShapeError):
        get_op(name).shape(shapes, attrs)


def test_upsampling_shapes():
    assert get_op("upsample2d").shape(((3, 4, 5),), {"factor": 2, "mode": "bilinear"}) == (3, 8, 10)
    assert get_op("pixel_shuffle").shape(((12, 4, 5),), {"factor": 2}) == (3, 8, 10)
    assert get_op("conv_transpose2d").shape(((3, 7, 7), (3, 5, 4, 4), (5,)), {"stride": 2, "padding": 1}) \
        == (5, 14, 14)
