"""The op table: every op's forward, vjp and shape rule, registered by family.

Importing this package fills `OPS`; look ops up with `get_op(name)`.
"""

from nngraph.ops import (  # noqa: F401
    activations, conv, dense, losses, minibatch, norm, pool, recurrent, sampling, sequence, upsample,
)
from nngraph.ops import fused  # noqa: F401 (after the ops it fuses)
from nngraph.ops.registry import OPS, Op, example_shapes, get_op, has_vjp, register

__all__ = ["OPS", "Op", "example_shapes", "get_op", "has_vjp", "register"]
