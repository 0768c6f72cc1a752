"""The op table: one entry per op, holding its forward, vjp and shape rule together.

Conventions every op follows (the compiler and trainers rely on them):

- `forward(xp, inputs, attrs) -> (out, ctx)`: `inputs` is a tuple of arrays (an
  optional input, such as a missing bias, may be None); `ctx` is whatever the vjp
  wants to reuse (the output, im2col columns, an argmax...).
- `vjp(xp, g, ctx, inputs, attrs) -> tuple`: one gradient per input, None where an
  input gets none (targets, masks, noise). A returned gradient may *alias* `g` or
  another returned gradient (`add` hands `g` to every input): accumulate with
  `a = a + b`, or copy before updating in place.
- Arrays carry a leading batch dimension, except the inputs listed in `params`
  (weights, biases) and the output of ops with `batched_output=False` (losses,
  which return a 0-d mean over the batch).
- `shape(input_shapes, attrs)` works per example: batched inputs come without
  their batch dimension, params with their full shape, a missing input as None.
  It raises `ShapeError` when the shapes do not fit.
- An op whose first input is often plain data (dense, matmul, conv2d) reads
  attrs["needs_input_grad"] (default True); the compiler sets it False for a data
  input and the vjp then returns None there instead of computing it.
- `g` has the output's dtype (NumPy 2 would upcast float32 work by a float64 0-d g).
- Forwards keep the input dtype (float32 stays float32) and never loop in Python
  over the batch; these run on every training step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from nngraph.errors import BuildError, ShapeError, did_you_mean

Shape = tuple[int, ...]


def _vjp_not_defined(xp, g, ctx, inputs, attrs):
    raise NotImplementedError("this op was registered without a vjp")


@dataclass(frozen=True)
class Op:
    name: str
    forward: Callable[..., tuple[Any, Any]]
    vjp: Callable[..., tuple[Any, ...]]
    shape: Callable[..., Shape]
    params: tuple[int, ...] = ()  # indices of unbatched inputs (weights, biases)
    batched_output: bool = True  # False for losses: their output is a scalar
    rows: Callable[..., int] | None = None  # the output's batch size from the inputs, where it is not the first's


OPS: dict[str, Op] = {}


def register(name: str, shape: Callable[..., Shape], params: tuple[int, ...] = (),
             batched_output: bool = True, rows: Callable[..., int] | None = None):
    """Register the decorated forward as op `name`; pair its vjp with `@forward.vjp`.

        @register("relu", shape=same_shape)
        def relu(xp, inputs, attrs): ...

        @relu.vjp
        def _(xp, g, ctx, inputs, attrs): ...
    """

    def decorate(forward):
        if name in OPS:
            raise ValueError(f"op '{name}' is registered twice")
        OPS[name] = Op(name, forward, _vjp_not_defined, shape, params, batched_output, rows)

        def pair_vjp(vjp):
            OPS[name] = replace(OPS[name], vjp=vjp)
            return vjp

        forward.vjp = pair_vjp
        return forward

    return decorate


def get_op(name: str) -> Op:
    """The op called `name`; a `BuildError` with a did-you-mean hint otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise BuildError(f"unknown op '{name}'", hint=did_you_mean(name, OPS)) from None


def has_vjp(op: Op) -> bool:
    return op.vjp is not _vjp_not_defined


def example_shapes(op: Op, inputs) -> tuple[Shape | None, ...]:
    """The per-example shapes the shape rule expects, from concrete batched inputs."""
    return tuple(
        None if a is None else tuple(a.shape) if i in op.params else tuple(a.shape[1:])
        for i, a in enumerate(inputs)
    )


# Shape rules shared by several families.


def same_shape(shapes, attrs) -> Shape:
    """Elementwise ops: the output has the first input's shape; others must match it."""
    first = shapes[0]
    for other in shapes[1:]:
        if other is not None and other != first:
            raise ShapeError(f"shapes {list(first)} and {list(other)} must be equal")
    return first


def scalar_shape(shapes, attrs) -> Shape:
    """Losses: inputs must agree elementwise; the output is a scalar."""
    same_shape(shapes, attrs)
    return ()


def size_of(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
