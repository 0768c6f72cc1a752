import numpy
import pytest

from nngraph.errors import ShapeError
from nngraph.ops import get_op
from nngraph.ops.gradcheck import check_vjp, host

rng = numpy.random.default_rng(1)


def r(*shape):
    return rng.standard_normal(shape)


def test_dense_gradients(xp):
    check_vjp("dense", (r(3, 4), r(4, 5), r(5)), xp=xp)


def test_dense_flattens_image_input_and_allows_no_bias(xp):
    check_vjp("dense", (r(2, 2, 3, 2), r(12, 4), None), xp=xp)
    check_vjp("dense", (r(2, 3), r(3, 4)), xp=xp)


def test_matmul_gradients(xp):
    check_vjp("matmul", (r(3, 4), r(4, 2)), xp=xp)


def test_add_sums_any_number_of_inputs(xp):
    check_vjp("add", (r(3, 4), r(3, 4), r(3, 4)), xp=xp)
    check_vjp("add", (r(2, 5),), xp=xp)
    out, _ = get_op("add").forward(xp, (xp.ones(2), xp.ones(2), xp.ones(2)), {})
    assert xp.all(out == 3)


def test_bias_add_per_unit_and_per_channel(xp):
    check_vjp("bias_add", (r(3, 4), r(4)), xp=xp)
    check_vjp("bias_add", (r(2, 3, 2, 2), r(3)), xp=xp)


def test_bias_add_adds_per_channel(xp):
    z = xp.zeros((1, 2, 2, 2))
    out, _ = get_op("bias_add").forward(xp, (z, xp.asarray([1.0, 2.0])), {})
    assert float(out[0, 0].sum()) == 4 and float(out[0, 1].sum()) == 8


def test_reshape_gradients_and_minus_one(xp):
    check_vjp("reshape", (r(2, 12),), {"shape": (3, 4)}, xp=xp)
    check_vjp("reshape", (r(2, 3, 2, 2),), {"shape": (-1,)}, xp=xp)


def test_dense_forward_matches_formula(xp):
    x, w, b = r(3, 4), r(4, 2), r(2)
    out, _ = get_op("dense").forward(xp, tuple(map(xp.asarray, (x, w, b))), {})
    numpy.testing.assert_allclose(host(out), x @ w + b, rtol=1e-12)


@pytest.mark.parametrize("op, shapes, attrs", [
    ("dense", ((4,), (5, 3), (3,)), {}),
    ("dense", ((4,), (4, 3), (2,)), {}),
    ("add", ((4,), (5,)), {}),
    ("bias_add", ((4, 2, 2), (2,)), {}),
    ("reshape", ((12,),), {"shape": (5, -1)}),
    ("reshape", ((12,),), {"shape": (-1, -1)}),
])
def test_shape_rules_reject_misfits(op, shapes, attrs):
    with pytest.raises(ShapeError):
        get_op(op).shape(shapes, attrs)


def test_shape_rules_infer_outputs():
    assert get_op("dense").shape(((2, 3, 2), (12, 7), (7,)), {}) == (7,)
    assert get_op("matmul").shape(((3,), (3, 7)), {}) == (7,)
    assert get_op("reshape").shape(((12,),), {"shape": (-1, 4)}) == (3, 4)


def test_dense_skips_the_input_gradient_of_data(xp):
    check_vjp("dense", (r(3, 4), r(4, 5), r(5)), {"needs_input_grad": False}, xp=xp, no_grad=[0])


@pytest.mark.parametrize("shape", [(6, 5), (128, 10)])  # a plain sum, and a GEMV from 1024 values
def test_bias_gradient_is_the_column_sum(xp, shape):
    from nngraph.ops.dense import column_sums

    g = r(*shape).astype(numpy.float32)
    numpy.testing.assert_allclose(host(column_sums(xp, xp.asarray(g))), g.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_dense_transposed_gradients(xp):
    check_vjp("dense_transposed", (r(4, 3), r(5, 3), r(5)), xp=xp)
    check_vjp("dense_transposed", (r(2, 1, 2, 2), r(3, 4)), xp=xp)


def test_dense_transposed_is_dense_through_the_transpose(xp):
    x, w, b = r(4, 3), r(5, 3), r(5)
    out = host(get_op("dense_transposed").forward(xp, tuple(map(xp.asarray, (x, w, b))), {})[0])
    numpy.testing.assert_allclose(out, x @ w.T + b, rtol=1e-12)
    with pytest.raises(ShapeError):
        get_op("dense_transposed").shape(((4,), (5, 3)), {})


def test_autoregressive_dense_gradients(xp):
    check_vjp("autoregressive_dense", (r(4, 5), r(5, 5), r(5)), xp=xp)
    check_vjp("autoregressive_dense", (r(3, 1, 2, 3), r(6, 6)), xp=xp)  # an image, flattened; no bias
    check_vjp("autoregressive_dense", (r(3, 4), r(4, 4), r(4)), {"needs_input_grad": False}, xp=xp, no_grad=[0])


def test_autoregressive_dense_output_reads_only_earlier_inputs(xp):
    """Output i changes with input j only where j < i, whatever the stored weight holds; the weight's gradient is
    zero on and below the diagonal."""
    x, w = r(1, 5), r(5, 5)
    op = get_op("autoregressive_dense")
    base = host(op.forward(xp, (xp.asarray(x), xp.asarray(w)), {})[0])
    for j in range(5):
        moved = x.copy()
        moved[0, j] += 1.0
        out = host(op.forward(xp, (xp.asarray(moved), xp.asarray(w)), {})[0])
        changed = numpy.flatnonzero(numpy.abs(out - base)[0] > 1e-12)
        assert set(changed) <= set(range(j + 1, 5)) and (j == 4 or len(changed) == 4 - j)
    _, gw = op.vjp(xp, xp.asarray(r(1, 5)), xp.asarray(x), (xp.asarray(x), xp.asarray(w)), {})
    assert not numpy.any(numpy.tril(host(gw)))


def test_autoregressive_dense_shape_rule():
    assert get_op("autoregressive_dense").shape(((1, 8, 8), (64, 64), (64,)), {}) == (64,)
    for shapes in (((4,), (4, 5)), ((4,), (5, 5)), ((4,), (4, 4), (3,))):
        with pytest.raises(ShapeError, match="autoregressive|bias"):
            get_op("autoregressive_dense").shape(shapes, {})
