import numpy
import pytest

from nngraph.errors import BuildError
from nngraph.ops import OPS, get_op, has_vjp
from nngraph.ops.gradcheck import check_vjp, numeric_vjp
from nngraph.ops.registry import Op, same_shape


def test_every_op_has_a_vjp():
    assert [name for name, op in OPS.items() if not has_vjp(op)] == []


def test_unknown_op_names_the_closest():
    with pytest.raises(BuildError, match="unknown op 'rleu'") as err:
        get_op("rleu")
    assert "relu" in err.value.hint


def test_numeric_vjp_of_a_product():
    x, y = numpy.array([1.0, 2.0]), numpy.array([3.0, 4.0])
    gx, gy = numeric_vjp(lambda xs: xs[0] * xs[1], (x, y), numpy.array([1.0, 10.0]))
    numpy.testing.assert_allclose(gx, [3, 40], rtol=1e-8)
    numpy.testing.assert_allclose(gy, [1, 20], rtol=1e-8)


def _cube(xp, inputs, attrs):
    return inputs[0] ** 3, None


def _fake(vjp=None, shape=same_shape, forward=_cube):
    return Op("cube", forward, vjp or (lambda xp, g, ctx, ins, at: (3 * g * ins[0] ** 2,)), shape)


@pytest.mark.parametrize("broken", [
    _fake(vjp=lambda xp, g, ctx, ins, at: (2 * g * ins[0] ** 2,)),   # wrong factor
    _fake(vjp=lambda xp, g, ctx, ins, at: (None,)),                  # missing gradient
    _fake(shape=lambda shapes, attrs: (7,)),                         # wrong shape rule
    _fake(forward=lambda xp, ins, at: (ins[0].astype(numpy.float64) ** 3, None)),  # upcasts
])
def test_check_vjp_catches_broken_ops(monkeypatch, broken):
    monkeypatch.setitem(OPS, "cube", broken)
    with pytest.raises(AssertionError):
        check_vjp("cube", (numpy.ones((2, 3)),))


def test_check_vjp_passes_a_correct_op(monkeypatch):
    monkeypatch.setitem(OPS, "cube", _fake())
    check_vjp("cube", (numpy.linspace(-1, 1, 6).reshape(2, 3),))
