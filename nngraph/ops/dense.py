"""Linear ops: dense, dense_transposed (a tied weight), autoregressive_dense (a masked square weight), matmul,
n-ary add, concat, bias_add, reshape."""

from __future__ import annotations

from nngraph.errors import ShapeError
from nngraph.ops.registry import register, same_shape, size_of


def _dense_shape(shapes, attrs):
    x, w = shapes[0], shapes[1]
    bias = shapes[2] if len(shapes) > 2 else None
    if len(w) != 2 or size_of(x) != w[0]:
        raise ShapeError(f"a dense weight for input {list(x)} must be [{size_of(x)}, units], "
                         f"got {list(w)}")
    if bias is not None and bias != (w[1],):
        raise ShapeError(f"a dense bias must be [{w[1]}], got {list(bias)}")
    return (w[1],)


@register("dense", shape=_dense_shape, params=(1, 2))
def dense(xp, inputs, attrs):
    """x flattened to (batch, fan_in) @ W (fan_in, fan_out) + b; b may be None or absent.

    attrs: needs_input_grad (default True); False makes the vjp return None for x. needs_weight_grad
    (default True); False makes it return None for W and b (a scan sums them over all steps at once).
    """
    x, w = inputs[0], inputs[1]
    x2 = x.reshape(x.shape[0], -1)
    out = x2 @ w
    if len(inputs) > 2 and inputs[2] is not None:
        out += inputs[2]  # in place: `out` is a fresh matmul result
    return out, x2


@dense.vjp
def dense_vjp(xp, g, x2, inputs, attrs):
    x, w = inputs[0], inputs[1]
    # a data input needs no gradient: the compiler says so once, saving a GEMM a step
    gx = (g @ w.T).reshape(x.shape) if attrs.get("needs_input_grad", True) else None
    if not attrs.get("needs_weight_grad", True):
        return (gx, None) + (None,) * (len(inputs) - 2)
    gw = x2.T @ g
    if len(inputs) == 2:
        return gx, gw
    return gx, gw, None if inputs[2] is None else column_sums(xp, g)



def _autoregressive_shape(shapes, attrs):
    x, w = shapes[0], shapes[1]
    bias = shapes[2] if len(shapes) > 2 else None
    n = size_of(x)
    if w != (n, n):
        raise ShapeError(f"an autoregressive weight for input {list(x)} must be [{n}, {n}], got {list(w)}")
    if bias is not None and bias != (n,):
        raise ShapeError(f"a dense bias must be [{n}], got {list(bias)}")
    return (n,)


@register("autoregressive_dense", shape=_autoregressive_shape, params=(1, 2))
def autoregressive_dense(xp, inputs, attrs):
    """x flattened to (batch, n) @ triu(W, 1) + b: MADE's mask (Germain et al. 2015) on a square weight, so that
    output i reads only the inputs j < i (flattened order). The mask is applied here and in the vjp, so a masked
    entry neither acts nor learns whatever value it holds. attrs: needs_input_grad, as dense."""
    return dense(xp, _masked(xp, inputs), attrs)


@autoregressive_dense.vjp
def _(xp, g, x2, inputs, attrs):
    grads = dense_vjp(xp, g, x2, _masked(xp, inputs), attrs)
    # a masked weight's gradient is zero: it stays as it started (zero), under any optimizer
    weight_grad = None if grads[1] is None else xp.triu(grads[1], 1)
    return (grads[0], weight_grad) + tuple(grads[2:])


def _masked(xp, inputs):
    return (inputs[0], xp.triu(inputs[1], 1)) + tuple(inputs[2:])


def column_sums(xp, g):
    """g.sum(axis=0) of a (batch, units) array as a BLAS product with ones: numpy's reduction runs
    on one thread and is ~2x slower than the GEMV (MLP 784-256-256-10 batch 128: 8 -> 3.5 us)."""
    if g.size < 1024:  # tiny (XOR's 4 x 4): the GEMV's call overhead costs ~1 us more than it saves
        return g.sum(axis=0)
    return xp.ones(g.shape[0], g.dtype) @ g


def _transposed_shape(shapes, attrs):
    x, w = shapes[0], shapes[1]
    bias = shapes[2] if len(shapes) > 2 else None
    if len(w) != 2 or size_of(x) != w[1]:
        raise ShapeError(f"a transposed weight for input {list(x)} must be [units, {size_of(x)}], got {list(w)}")
    if bias is not None and bias != (w[0],):
        raise ShapeError(f"a dense bias must be [{w[0]}], got {list(bias)}")
    return (w[0],)


@register("dense_transposed", shape=_transposed_shape, params=(1, 2))
def dense_transposed(xp, inputs, attrs):
    """x flattened to (batch, fan_out) @ W.T + b, W (fan_in, fan_out) another link's weight (a tied link: an
    autoencoder's decoder through its encoder's weight). attrs: needs_input_grad, as dense."""
    x, w = inputs[0], inputs[1]
    x2 = x.reshape(x.shape[0], -1)
    out = x2 @ w.T
    if len(inputs) > 2 and inputs[2] is not None:
        out += inputs[2]
    return out, x2


@dense_transposed.vjp
def _(xp, g, x2, inputs, attrs):
    x, w = inputs[0], inputs[1]
    gx = (g @ w).reshape(x.shape) if attrs.get("needs_input_grad", True) else None
    gw = g.T @ x2  # the shared weight's gradient from this use: the caller adds it to the other use's
    if len(inputs) == 2:
        return gx, gw
    return gx, gw, None if inputs[2] is None else column_sums(xp, g)


# matmul is dense without the bias input: the same forward and vjp serve both.
register("matmul", shape=_dense_shape, params=(1,))(dense).vjp(dense_vjp)


@register("add", shape=same_shape)
def add(xp, inputs, attrs):
    """The sum of any number of same-shaped inputs (several connections into one unit)."""
    out = inputs[0] + inputs[1] if len(inputs) > 1 else inputs[0].copy()
    for a in inputs[2:]:
        out += a
    return out, None


@add.vjp
def _(xp, g, ctx, inputs, attrs):
    return (g,) * len(inputs)


def _concat_shape(shapes, attrs):
    if any(len(s) != 1 for s in shapes):
        raise ShapeError(f"concat joins vectors, got {[list(s) for s in shapes]}")
    return (sum(s[0] for s in shapes),)


@register("concat", shape=_concat_shape)
def concat(xp, inputs, attrs):
    """Vectors side by side (a bidirectional layer's forward and backward states)."""
    return xp.concatenate(inputs, axis=1), [a.shape[1] for a in inputs]


@concat.vjp
def _(xp, g, widths, inputs, attrs):
    ends = [sum(widths[:i + 1]) for i in range(len(widths))]
    return tuple(g[:, end - w:end] for w, end in zip(widths, ends))


def _bias_add_shape(shapes, attrs):
    z, b = shapes
    if b != z[:1] and b != (size_of(z),):
        raise ShapeError(f"a bias for units {list(z)} must be [{z[0]}] (one per channel) or "
                         f"[{size_of(z)}] (one per value), got {list(b)}")
    return z


def _bias_view(b, z_shape):
    """b shaped to broadcast over z: (C,) -> (C, 1, 1, ...) when it holds one bias per channel (axis 1),
    else one per value, viewed as z's per-example shape. The two agree when the trailing axes are 1."""
    if b.shape[0] == z_shape[1]:
        return b.reshape(b.shape + (1,) * (len(z_shape) - 2))
    return b.reshape(z_shape[1:])


@register("bias_add", shape=_bias_add_shape, params=(1,))
def bias_add(xp, inputs, attrs):
    """z + b: b holds one bias per channel (axis 1 of z), or one per value of an example."""
    z, b = inputs
    return z + _bias_view(b, z.shape), None


@bias_add.vjp
def _(xp, g, ctx, inputs, attrs):
    b = inputs[1]
    if b.shape[0] == g.shape[1]:
        return g, g.sum(axis=(0,) + tuple(range(2, g.ndim)))
    return g, g.sum(axis=0).reshape(b.shape)


def _reshape_shape(shapes, attrs):
    (x,) = shapes
    target = tuple(attrs["shape"])
    known = size_of(tuple(d for d in target if d != -1))
    free = target.count(-1)
    if free > 1 or (free == 0 and known != size_of(x)) or (free and size_of(x) % known):
        raise ShapeError(f"cannot reshape {list(x)} ({size_of(x)} values) to {list(target)}")
    return tuple(size_of(x) // known if d == -1 else d for d in target)


@register("reshape", shape=_reshape_shape)
def reshape(xp, inputs, attrs):
    """x viewed with per-example shape `attrs["shape"]` (one -1 allowed)."""
    (x,) = inputs
    return x.reshape((x.shape[0],) + tuple(attrs["shape"])), None


@reshape.vjp
def _(xp, g, ctx, inputs, attrs):
    return (g.reshape(inputs[0].shape),)
