"""A plan pass for the CUDA path: a `dense` or `conv2d` instruction with a bias followed by its unit's activation
becomes one `dense_activation` or `conv2d_activation` instruction (ops/fused.py) with both outputs, z and the
activation, so a GPU adds the bias and applies the activation in one pass, and carries the activation's gradient
back in one more (two and three kernel launches before). Both slots keep their names and values, so whatever reads z
(a loss on the logits, a method seeding a gradient there) or the unit is served as before; the activation is
computed where z is, which is earlier than before but after everything it reads. Only the top level of a plan is
fused (a scan's step is left as it is: its recurrent layers have their own whole-sequence kernels).

It also marks the ops that have device kernels of their own (softmax cross-entropy on class labels: one pass over
the rows forward, one over the values back, where the generic op makes some ten array operations each way).
`Program` applies `for_device` where `backend.accel` takes the CUDA path (cupy arrays; numpy arrays under
NNGRAPH_ISA=cuda, the emulator, which is how the tests run it).

Where the compiled CPU convolution runs (float32 on a vector path: `for_host`) a convolution followed by its
unit's rectifier (relu; leaky_relu with a slope >= 0) becomes one `conv2d_rectified` instruction (ops/conv.py)
where nothing else reads the pre-activation: the compiled kernel applies the rectifier as it writes its output
and the rectifier's vjp as its vjp reads the gradient, two passes over the largest activations of a
convolutional net fewer each way. The pre-activation's slot is gone from such a plan; the unit's slot is as
before.
"""

from __future__ import annotations

from dataclasses import replace

from nngraph.backend.twins import FUSED_ACTIVATIONS, RECTIFIERS
from nngraph.compile.interpret import outputs_of
from nngraph.compile.plan import Instr, Plan
from nngraph.ops.fused import FUSED_OPS
from nngraph.ops.registry import get_op

RECTIFIED = "conv2d_rectified"  # a convolution with its rectifier applied as it writes (ops/conv.py)

PARAMETER_ATTRS = {"leaky_relu": ("slope", 0.01), "elu": ("alpha", 1.0)}  # ops/activations.py's defaults
# readers of a unit whose value a method may set by hand (`Slots.given`: a VAE's posterior moments, refined):
# such a unit's activation stays its own instruction, so that setting its value skips it alone
SET_BY_HAND = frozenset({"gaussian_sample", "kl_normal", "kl_mixture"})


ON_DEVICE_OPS = frozenset({"softmax_cross_entropy"})  # ops with an attr `on_device` (one pass each way)


def for_device(plan: Plan) -> Plan:
    """The plan a program on the CUDA path runs: bias and activation fused, and the ops that have device
    kernels told to use them."""
    plan = fuse_bias_activation(plan)
    if not any(ins.op.name in ON_DEVICE_OPS for ins in plan.instrs):
        return plan
    return replace(plan, instrs=[replace(ins, attrs={**ins.attrs, "on_device": True})
                                 if ins.op.name in ON_DEVICE_OPS else ins for ins in plan.instrs])


def fuse_bias_activation(plan: Plan) -> Plan:
    """The plan with each fusable dense + activation pair as one instruction (the same plan when none is)."""
    instrs = list(plan.instrs)
    by_hand = {slot for ins in instrs if ins.op.name in SET_BY_HAND for slot in ins.inputs if slot}
    fused, removed = {}, set()
    for at, ins in enumerate(instrs):
        if ins.op.name not in FUSED_OPS or len(ins.inputs) < 3 or not ins.inputs[2]:
            continue
        follower = _activation_reading(instrs, at, ins.output)
        if follower is not None and instrs[follower].output not in by_hand:
            fused[at] = _fused(ins, instrs[follower])
            removed.add(follower)
    if not fused:
        return plan
    kept = [fused.get(at, ins) for at, ins in enumerate(instrs) if at not in removed]
    body = plan.body - sum(1 for at in removed if at < plan.body)
    return replace(plan, instrs=kept, body=body)


def for_host(plan: Plan) -> Plan:
    """The plan a program runs where the compiled CPU convolution does: each convolution whose pre-activation
    only its unit's rectifier reads is one `conv2d_rectified` instruction (the same plan when there is none)."""
    instrs = list(plan.instrs)
    readers: dict[str, list[int]] = {}
    for at, ins in enumerate(instrs):
        for slot in set(ins.inputs):
            if slot:
                readers.setdefault(slot, []).append(at)
    # what a method may read or seed by name: an output unit's pre-activation (a GAN's logits), a loss's slot
    named = {plan.slot(unit + ":z") for unit in plan.outputs} | {ls.slot for ls in plan.losses}
    by_hand = {slot for ins in instrs if ins.op.name in SET_BY_HAND for slot in ins.inputs if slot}
    fused, removed = {}, set()
    for at, ins in enumerate(instrs):
        if ins.op.name != "conv2d" or isinstance(ins.output, tuple) or ins.output in named:
            continue
        follower = readers.get(ins.output, [])
        if len(follower) != 1 or not _rectifies(instrs[follower[0]], ins.output) or \
                instrs[follower[0]].output in by_hand:
            continue
        fused[at] = _rectified(ins, instrs[follower[0]])
        removed.add(follower[0])
    if not fused:
        return plan
    kept = [fused.get(at, ins) for at, ins in enumerate(instrs) if at not in removed]
    body = plan.body - sum(1 for at in removed if at < plan.body)
    return replace(plan, instrs=kept, body=body)


def _rectifies(ins: Instr, z: str) -> bool:
    """Whether `ins` is a rectifier of z alone whose vjp its output gives (leaky_relu's slope >= 0)."""
    name = ins.op.name
    if name not in RECTIFIERS or ins.inputs != (z,) or isinstance(ins.output, tuple):
        return False
    attr, default = PARAMETER_ATTRS.get(name, (None, 0.0))
    return attr is None or float(ins.attrs.get(attr, default)) >= 0


def _rectified(conv: Instr, rectifier: Instr) -> Instr:
    name = rectifier.op.name
    attr, default = PARAMETER_ATTRS.get(name, (None, 0.0))
    parameter = float(rectifier.attrs.get(attr, default)) if attr else 0.0
    return Instr(get_op(RECTIFIED), conv.inputs, rectifier.output, {**conv.attrs, "activation": name,
                 "parameter": parameter}, conv.needs_grad)


def _activation_reading(instrs: list[Instr], at: int, z: str) -> int | None:
    """The index of the activation that reads the slot z written at `at`, where it is one that fuses, reads
    z alone, and nothing between them writes z."""
    for later in range(at + 1, len(instrs)):
        ins = instrs[later]
        if z in outputs_of(ins):
            return None
        if z in ins.inputs:
            if ins.op.name in FUSED_ACTIVATIONS and ins.inputs == (z,) and not isinstance(ins.output, tuple):
                return later
    return None


def _fused(product: Instr, activation: Instr) -> Instr:
    name = activation.op.name
    attr, default = PARAMETER_ATTRS.get(name, (None, 0.0))
    parameter = float(activation.attrs.get(attr, default)) if attr else 0.0
    return Instr(get_op(FUSED_OPS[product.op.name]), product.inputs, (product.output, activation.output),
                 {**product.attrs, "activation": name, "parameter": parameter}, product.needs_grad)


def unfused(ins: Instr) -> list[Instr]:
    """A fused instruction (`dense_activation`, `conv2d_activation`, `conv2d_rectified`) as the two it was made
    of (what an ONNX export writes); a rectified convolution's pre-activation named `UNIT:z` again."""
    z, a = ins.output if isinstance(ins.output, tuple) else (ins.output + ":z", ins.output)
    attrs = {k: v for k, v in ins.attrs.items() if k not in ("activation", "parameter")}
    name = ins.attrs["activation"]
    attr = PARAMETER_ATTRS.get(name, (None,))[0]
    plain = "conv2d" if ins.op.name == RECTIFIED else next(
        plain for plain, fused in FUSED_OPS.items() if fused == ins.op.name)
    return [Instr(get_op(plain), ins.inputs, z, attrs, ins.needs_grad),
            Instr(get_op(name), (z,), a, {attr: ins.attrs["parameter"]} if attr else {})]
