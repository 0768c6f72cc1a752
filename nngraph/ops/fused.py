"""The ops of the CUDA path's plans (compile/fuse.py): a dense layer or a convolution with its unit's
activation, one instruction with two outputs, (z, a). The bias add and the activation are one pass on a GPU
(`backend.accel`'s "bias_activation"), and so is the activation's vjp added to z's own gradient
("add_activation_vjp"); the product and its vjp are the plain op's. attrs: the plain op's, and `activation` (one
of backend/twins.FUSED_ACTIVATIONS) with its `parameter` (leaky_relu's slope, elu's alpha). numpy's plans keep
the two instructions.
"""

from __future__ import annotations

from nngraph.backend import accel
from nngraph.ops.registry import OPS, register

FUSED_OPS = {"dense": "dense_activation", "conv2d": "conv2d_activation"}  # the plain op -> its fused form


def _with_activation(plain: str) -> None:
    base = OPS[plain]

    @register(FUSED_OPS[plain], shape=base.shape, params=base.params)
    def forward(xp, inputs, attrs):
        z, ctx = base.forward(xp, inputs[:2], attrs)  # the product alone: the bias goes in with the activation
        bias = inputs[2] if len(inputs) > 2 else None
        a = accel.get("bias_activation", xp, dtype=z.dtype)(z, bias, attrs["activation"], attrs["parameter"])
        return (z, a), (ctx, z, a)

    @forward.vjp
    def _(xp, gs, ctx, inputs, attrs):
        (gz, ga), (base_ctx, z, a) = gs, ctx
        if ga is not None:
            gz = accel.get("add_activation_vjp", xp, dtype=z.dtype)(gz, ga, z, a, attrs["activation"],
                                                                   attrs["parameter"])
        return base.vjp(xp, gz, base_ctx, inputs, attrs)


for _plain in FUSED_OPS:
    _with_activation(_plain)
