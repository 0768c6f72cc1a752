import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(3)


def r(*shape):
    return rng.standard_normal(shape)


def naive_conv(x, w, b, stride, pad):
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    x = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
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


@pytest.mark.parametrize("stride, pad", [((2, 1), (1, 0)), ((1, 3), (0, 2))])
def test_conv2d_non_square_matches_naive_loop(xp, stride, pad):
    x, w, b = r(3, 2, 7, 9), r(5, 2, 2, 4), r(5)
    out, _ = get_op("conv2d").forward(xp, tuple(map(xp.asarray, (x, w, b))),
                                      {"stride": stride, "padding": pad})
    sh, sw = stride
    want = naive_conv(x, w, b, 1, pad)[:, :, ::sh, ::sw]  # a strided conv subsamples the dense one
    numpy.testing.assert_allclose(host(out), want, rtol=1e-10)


@pytest.mark.parametrize("attrs", [{}, {"stride": 2}, {"padding": 1}, {"stride": 2, "padding": 1},
                                   {"padding": "same"}])
def test_conv2d_gradients(xp, attrs):
    check_vjp("conv2d", (r(2, 2, 5, 5), r(3, 2, 3, 3), r(3)), attrs, xp=xp)


@pytest.mark.parametrize("shapes, attrs", [
    (((2, 3, 7, 5), (4, 3, 3, 2)), {"stride": (2, 1), "padding": (1, 0)}),  # odd, non-square
    (((3, 1, 9, 9), (2, 1, 4, 4)), {"stride": 2}),                          # even kernel, stride 2
    (((2, 2, 6, 6), (3, 2, 2, 2)), {"stride": 2}),                          # windows tile: no overlap
    (((1, 2, 5, 8), (2, 2, 1, 3)), {"stride": 3, "padding": 1}),            # gaps between windows
])
def test_conv2d_gradients_odd_geometries(xp, shapes, attrs):
    check_vjp("conv2d", (r(*shapes[0]), r(*shapes[1]), r(shapes[1][0])), attrs, xp=xp)


@pytest.mark.parametrize("rectifier", [{"activation": "relu", "parameter": 0.0},
                                       {"activation": "leaky_relu", "parameter": 0.1}], ids=lambda r: r["activation"])
@pytest.mark.parametrize("shapes, attrs", [
    (((2, 2, 5, 5), (3, 2, 3, 3)), {"padding": 1}),
    (((1, 3, 7, 5), (4, 3, 3, 2)), {"stride": (2, 1), "padding": (1, 0)}),  # batch 1, odd, non-square
    (((2, 1, 8, 9), (2, 1, 2, 2)), {"stride": 3}),                          # stride > kernel
])
def test_conv2d_rectified_gradients(xp, shapes, attrs, rectifier):
    """conv2d_rectified (a convolution with its unit's rectifier, compile/fuse.py's for_host) against finite
    differences in float64: the rectifier's vjp comes from the output alone."""
    x, w, b = r(*shapes[0]), r(*shapes[1]), r(shapes[1][0])
    check_vjp("conv2d_rectified", (x, w, b), {**attrs, **rectifier}, xp=xp)
    out, _ = get_op("conv2d_rectified").forward(xp, tuple(map(xp.asarray, (x, w, b))), {**attrs, **rectifier})
    plain, _ = get_op("conv2d").forward(xp, tuple(map(xp.asarray, (x, w, b))), attrs)
    plain = host(plain)
    numpy.testing.assert_array_equal(host(out), numpy.where(plain > 0, plain, plain * rectifier["parameter"]))


def test_conv2d_weight_gradient_alone_matches_both(xp):
    # a data input takes the batch-first dW path, a hidden one the batch-last path
    x, w, b = (xp.asarray(a) for a in (r(3, 2, 8, 7), r(4, 2, 3, 3), r(4)))
    op, attrs = get_op("conv2d"), {"stride": 2, "padding": 1}
    out, ctx = op.forward(xp, (x, w, b), attrs)
    g = xp.asarray(r(*out.shape))
    alone = op.vjp(xp, g, ctx, (x, w, b), dict(attrs, needs_input_grad=False))
    both = op.vjp(xp, g, ctx, (x, w, b), attrs)
    assert alone[0] is None and both[0].shape == x.shape
    numpy.testing.assert_allclose(host(alone[1]), host(both[1]), rtol=1e-10)
    numpy.testing.assert_allclose(host(alone[2]), host(both[2]), rtol=1e-10)


def test_conv2d_instances_of_one_shape_do_not_share_state(xp):
    # two forwards before either vjp (a shared discriminator, a time loop): each
    # vjp must still see its own input, whatever scratch memory is reused
    op, w = get_op("conv2d"), xp.asarray(r(2, 1, 3, 3))
    xs = [xp.asarray(r(2, 1, 6, 6)) for _ in range(2)]
    g = xp.asarray(r(2, 2, 4, 4))
    ctxs = [op.forward(xp, (x, w), {})[1] for x in xs]
    late = [op.vjp(xp, g, ctx, (x, w), {}) for x, ctx in zip(xs, ctxs)]
    for x, (gx, gw) in zip(xs, late):
        fresh_gx, fresh_gw = op.vjp(xp, g, op.forward(xp, (x, w), {})[1], (x, w), {})
        numpy.testing.assert_array_equal(host(gw), host(fresh_gw))
        numpy.testing.assert_array_equal(host(gx), host(fresh_gx))
    assert not numpy.allclose(host(late[0][1]), host(late[1][1]))


def test_conv2d_gradients_are_contiguous_float32(xp):
    x, w = xp.asarray(r(4, 3, 10, 10), dtype=xp.float32), xp.asarray(r(5, 3, 5, 5), dtype=xp.float32)
    op = get_op("conv2d")
    out, ctx = op.forward(xp, (x, w), {})
    gx, gw = op.vjp(xp, xp.ones_like(out), ctx, (x, w), {})
    assert out.flags.c_contiguous and gx.flags.c_contiguous
    assert out.dtype == gx.dtype == gw.dtype == xp.float32


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
