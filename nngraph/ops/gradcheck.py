"""Gradient checks: an op's vjp against central finite differences, in one call.

`check_vjp` is what op tests (and the team's model-level tests) call. It runs the
op in float64, draws a random output cotangent g (a random-direction vjp check, as
JAX does), and compares every input's vjp with the numerical derivative of
<g, f(inputs)>. It also checks the op's shape rule against the real output, that
inputs come back unmodified, and that a float32 run stays float32 and agrees with
float64 to float32 accuracy. An op with several outputs (batch_norm: the value and the updated
running statistics) is checked through its first; the others must take no cotangent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy

from nngraph.ops.registry import example_shapes, get_op

F32_RTOL, F32_ATOL = 2e-3, 2e-4  # float32 against float64: per-dtype tolerance


def host(a) -> numpy.ndarray:
    """`a` as a numpy array, from either backend (cupy arrays have `.get()`)."""
    return a.get() if hasattr(a, "get") else numpy.asarray(a)


def _is_float(a) -> bool:
    return a is not None and a.dtype.kind == "f"


def _cast(xp, inputs, dtype):
    """Inputs on `xp`, floats in `dtype`; integer labels and None pass through."""
    arrays = [None if a is None else xp.asarray(a) for a in inputs]
    return tuple(a.astype(dtype) if _is_float(a) else a for a in arrays)


def numeric_vjp(f: Callable, inputs: Sequence, g, wrt: Sequence[int] | None = None,
                step: float = 1e-6) -> tuple:
    """Central differences of sum(g * f(inputs)) w.r.t. each input in `wrt`.

    `f` maps a tuple of arrays to one array; inputs should be float64. Inputs not
    in `wrt` (default: every float input) get None.
    """
    wrt = [i for i, a in enumerate(inputs) if _is_float(a)] if wrt is None else wrt
    return tuple(_numeric_grad(f, list(inputs), g, i, step) if i in wrt else None
                 for i in range(len(inputs)))


def _numeric_grad(f, inputs, g, index, step):
    original = inputs[index]
    x = original.copy()
    flat = x.reshape(-1)  # a view of the fresh contiguous copy
    inputs[index] = x
    grad = numpy.empty(flat.size)
    for k in range(flat.size):
        keep = flat[k].item()
        flat[k] = keep + step
        up = float((g * f(tuple(inputs))).sum())
        flat[k] = keep - step
        down = float((g * f(tuple(inputs))).sum())
        flat[k] = keep
        grad[k] = (up - down) / (2 * step)
    inputs[index] = original
    return grad.reshape(x.shape)


def check_vjp(op_name: str, inputs: Sequence, attrs: dict | None = None, xp=numpy,
              rtol: float = 1e-5, atol: float = 1e-7, no_grad: Sequence[int] = (),
              seed: int = 0) -> None:
    """Assert that op `op_name`'s vjp matches finite differences on `inputs`.

    `inputs` are numpy arrays (floats are cast to float64 on `xp`) or None;
    `no_grad` lists the inputs whose vjp must be None (targets, masks, noise).
    """
    op, attrs = get_op(op_name), attrs or {}
    x64 = _cast(xp, inputs, numpy.float64)
    out, grads = _run(op, xp, x64, attrs, seed)
    _check_shape(op, x64, attrs, out)
    g = xp.asarray(_cotangent(out.shape, seed))
    numeric = numeric_vjp(lambda xs: _first(op.forward(xp, xs, attrs)[0]), x64, g,
                          wrt=[i for i, a in enumerate(x64) if _is_float(a) and i not in no_grad])
    for i, (got, want) in enumerate(zip(grads, numeric)):
        if want is None:
            assert got is None, f"{op_name}: input {i} should get no gradient (None)"
            continue
        assert got is not None, f"{op_name}: the vjp gave no gradient for input {i}"
        assert got.shape == want.shape, f"{op_name}: grad {i} has shape {got.shape}"
        numpy.testing.assert_allclose(host(got), want, rtol=rtol, atol=atol,
                                      err_msg=f"{op_name}: vjp of input {i}")
    _check_float32(op, xp, inputs, attrs, seed, host(out), grads)


def _first(out):
    """The output a check differentiates: the only one, or the first of several."""
    return out[0] if isinstance(out, tuple) else out


def _cotangent(shape, seed):
    return numpy.random.default_rng(seed).standard_normal(shape)


def _run(op, xp, inputs, attrs, seed):
    """Forward then vjp, asserting that neither writes into its inputs."""
    before = [None if a is None else host(a).copy() for a in inputs]
    outs, ctx = op.forward(xp, inputs, attrs)
    out = _first(outs)
    g = xp.asarray(_cotangent(out.shape, seed), dtype=out.dtype)
    several = isinstance(outs, tuple)
    grads = op.vjp(xp, (g,) + (None,) * (len(outs) - 1) if several else g, ctx, inputs, attrs)
    assert len(grads) == len(inputs), f"{op.name}: vjp must return one entry per input"
    for i, (a, kept) in enumerate(zip(inputs, before)):
        if a is not None:
            assert numpy.array_equal(host(a), kept), f"{op.name}: input {i} was modified"
    return out, grads


def _check_shape(op, inputs, attrs, out):
    per_example = op.shape(example_shapes(op, inputs), attrs)
    if per_example and isinstance(per_example[0], tuple):
        per_example = per_example[0]  # several outputs: the first's rule
    batch = op.rows(inputs) if op.rows else inputs[0].shape[0]
    expected = (batch,) + per_example if op.batched_output else per_example
    assert out.shape == expected, f"{op.name}: shape rule says {expected}, forward gave {out.shape}"


def _check_float32(op, xp, inputs, attrs, seed, out64, grads64):
    out, grads = _run(op, xp, _cast(xp, inputs, numpy.float32), attrs, seed)
    assert out.dtype == numpy.float32, f"{op.name}: float32 inputs gave a {out.dtype} output"
    numpy.testing.assert_allclose(host(out), out64, rtol=F32_RTOL, atol=F32_ATOL,
                                  err_msg=f"{op.name}: float32 forward")
    for i, (got, want) in enumerate(zip(grads, grads64)):
        if got is None:
            continue
        assert got.dtype == numpy.float32, f"{op.name}: float32 grad {i} is {got.dtype}"
        numpy.testing.assert_allclose(host(got), host(want), rtol=F32_RTOL, atol=F32_ATOL,
                                      err_msg=f"{op.name}: float32 vjp of input {i}")
