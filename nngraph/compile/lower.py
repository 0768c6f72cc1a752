"""Checked model graph -> Plan. One lowering function per IR construct, registered by edge kind.

Units are lowered in same-step topological order: their incoming connections each give a contribution, the
contributions sum, the bias is added, then the activation and (in training) dropout. A unit with a single dense
or conv connection gets one fused op (matmul or conv plus bias).
"""

from __future__ import annotations

import math

import networkx as nx

from nngraph.compile.plan import PARAM, TARGET, Instr, LossSlot, ParamSpec, Plan, RandomSlot
from nngraph.errors import BuildError
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.graph.shapes import conv_geometry, unit_bias
from nngraph.graph.training import LossTerm
from nngraph.graph.validate import same_step_graph
from nngraph.ops import get_op

LOWER_EDGE = {}


def lowers(kind: str):
    def register(fn):
        LOWER_EDGE[kind] = fn
        return fn
    return register


class _Builder:
    def __init__(self, model: ModelGraph, training: bool):
        self.model, self.training = model, training
        self.instrs: list[Instr] = []
        self.params: dict[str, ParamSpec] = {}
        self.random: list[RandomSlot] = []
        self.aliases: dict[str, str] = {}

    def emit(self, op: str, inputs, output: str, **attrs) -> str:
        self.instrs.append(Instr(get_op(op), tuple(inputs), output, attrs))
        return output

    def param(self, name, shape, init, fan_in=1, fan_out=1) -> str:
        self.params[name] = ParamSpec(name, tuple(shape), init, fan_in, fan_out)
        return PARAM + name

    def value(self, unit: str) -> str:
        return self.aliases.get(unit, unit)


def weight_name(edge: EdgeSpec) -> str:
    return f"{edge.source}->{edge.target}" + (f"@{edge.delay}" if edge.delay else "")


def _init_for(unit: UnitSpec) -> str:
    return "he" if unit.activation in ("relu", "leaky_relu", "elu") else "glorot"


@lowers("dense")
def _dense(b: _Builder, edge: EdgeSpec, bias: str | None) -> str:
    src, dst = b.model.shapes[edge.source], b.model.shapes[edge.target]
    fan_in, fan_out = math.prod(src), math.prod(dst)
    w = b.param(weight_name(edge) + ".weight", (fan_in, fan_out), _init_for(b.model.unit(edge.target)),
                fan_in, fan_out)
    out = f"{edge.target}:z" if bias else f"{weight_name(edge)}:out"
    inputs = (b.value(edge.source), w) + ((bias,) if bias else ())
    b.emit("dense" if bias else "matmul", inputs, out)
    if len(dst) > 1:
        b.emit("reshape", (out,), out + ":shaped", shape=list(dst))
        return out + ":shaped"
    return out


@lowers("conv")
def _conv(b: _Builder, edge: EdgeSpec, bias: str | None) -> str:
    src, dst = b.model.shapes[edge.source], b.model.shapes[edge.target]
    kernel, stride, padding = conv_geometry(edge, src)
    shape = (dst[0], src[0], *kernel)
    fan_in, fan_out = src[0] * kernel[0] * kernel[1], dst[0] * kernel[0] * kernel[1]
    w = b.param(weight_name(edge) + ".weight", shape, _init_for(b.model.unit(edge.target)), fan_in, fan_out)
    out = f"{edge.target}:z" if bias else f"{weight_name(edge)}:out"
    inputs = (b.value(edge.source), w) + ((bias,) if bias else ())
    return b.emit("conv2d", inputs, out, stride=list(stride), padding=list(padding))


def _pool(op):
    def lower(b: _Builder, edge: EdgeSpec, bias) -> str:
        kernel, stride, padding = conv_geometry(edge, b.model.shapes[edge.source])
        return b.emit(op, (b.value(edge.source),), f"{weight_name(edge)}:out",
                      kernel=list(kernel), stride=list(stride), padding=list(padding))
    return lower


LOWER_EDGE["maxpool"] = _pool("maxpool2d")
LOWER_EDGE["avgpool"] = _pool("avgpool2d")


@lowers("identity")
def _identity(b: _Builder, edge: EdgeSpec, bias) -> str:
    return b.value(edge.source)


def lower_model(model: ModelGraph, losses: tuple[LossTerm, ...] = (), training: bool = True,
                sum_units: bool = False, input_grads: bool = False) -> Plan:
    """The plan of a feedforward model; `training` adds dropout, `sum_units` sums losses over units,
    `input_grads` makes the backward pass reach the data inputs too."""
    if model.is_recurrent:
        raise BuildError(f"model '{model.name}' is recurrent; compile it with compile_model, which lowers it "
                         "for backprop through time", model.span)
    if model.is_boltzmann:
        raise BuildError(f"model '{model.name}' has symmetric links; it runs with a Boltzmann method",
                         model.span)
    b = _Builder(model, training)
    feeds = []
    for name in nx.topological_sort(same_step_graph(model)):
        unit = model.unit(name)
        if unit.role == "input":
            feeds.append(name)
        elif unit.role == "noise":
            b.random.append(RandomSlot(name, model.shapes[name], unit.distribution))
        elif unit.role == "sample":
            _lower_sample(b, unit)
        else:
            _lower_unit(b, unit)
    plan = Plan(model.name, b.instrs, b.params, feeds, b.random,
                [u.name for u in model.units if u.role == "output"], b.aliases, shapes=dict(model.shapes))
    plan.body = len(b.instrs)
    plan.scored = scored_unit(losses, plan.outputs)
    for term in losses:
        _lower_loss(b, plan, term, sum_units)
    constant = {TARGET} | {r.slot for r in b.random} | (set() if input_grads else set(feeds))
    plan.instrs = _mark_gradients(b.instrs, constant)
    return plan


def _lower_unit(b: _Builder, unit: UnitSpec) -> None:
    edges = [e for e in b.model.incoming(unit.name) if e.delay == 0]
    shape = unit_bias(b.model, unit.name)
    bias = b.param(f"{unit.name}.bias", shape[:1], "zeros") if shape else None
    fused = bias if len(edges) == 1 and edges[0].kind in ("dense", "conv") else None
    parts = [LOWER_EDGE[e.kind](b, e, fused) for e in edges]
    z = parts[0] if len(parts) == 1 else b.emit("add", parts, f"{unit.name}:sum")
    if bias and not fused:
        z = b.emit("bias_add", (z, bias), f"{unit.name}:z")
    b.aliases[unit.name + ":z"] = z
    out = z
    if unit.activation != "identity":
        out = b.emit(unit.activation, (z,), unit.name, **dict(unit.activation_args))
    if unit.dropout and b.training:
        mask = f"random:{unit.name}.dropout"
        b.random.append(RandomSlot(mask, b.model.shapes[unit.name], "dropout", unit.dropout))
        out = b.emit("dropout", (out, mask), unit.name + ":dropped")
    b.aliases[unit.name] = out


def _lower_sample(b: _Builder, unit: UnitSpec) -> None:
    eps = f"random:{unit.name}.eps"
    b.random.append(RandomSlot(eps, b.model.shapes[unit.name], "normal"))
    mu, logvar = (b.value(p) for p in unit.sample_params)
    b.aliases[unit.name] = b.emit("gaussian_sample", (mu, logvar, eps), unit.name)


FUSED_LOSS = {("bce", "sigmoid"): "bce_logits", ("cross_entropy", "softmax"): "softmax_cross_entropy",
              ("cross_entropy", "identity"): "softmax_cross_entropy", ("bce", "identity"): "bce",
              ("mse", None): "mse"}
LOGIT_LOSSES = ("bce_logits", "softmax_cross_entropy")


def scored_unit(losses: tuple[LossTerm, ...], outputs: list[str]) -> str | None:
    """The unit the data's targets are compared with: the one a loss term without a target unit names
    (the check makes every such term name a unit of the same shape), else the first output."""
    return next((t.unit for t in losses if t.target is None and t.kind != "kl"), outputs[0] if outputs else None)


def loss_op(term: LossTerm, unit: UnitSpec) -> str:
    """The loss op of a term: fused with the unit's sigmoid or softmax where it has one."""
    return FUSED_LOSS.get((term.kind, unit.activation)) or FUSED_LOSS.get((term.kind, None))


def reads_logits(op: str, unit: UnitSpec) -> bool:
    """Whether the loss reads the unit's pre-activation: a fused sigmoid or softmax, whose output it
    never forms. An identity unit's logits are its value, so with dropout the loss reads the dropped
    value, as every other loss does (the check refuses dropout on a sigmoid or softmax unit that such a
    loss reads: it would drop probabilities)."""
    return op in LOGIT_LOSSES and not (unit.activation == "identity" and unit.dropout)


def _lower_loss(b: _Builder, plan: Plan, term: LossTerm, sum_units: bool) -> None:
    unit = b.model.unit(term.unit)
    label = term.label
    slot = f"loss:{label}"
    weight, op = term.weight, "kl_normal"
    if term.kind == "kl":
        mu, logvar = (b.value(p) for p in unit.sample_params)
        b.emit(op, (mu, logvar), slot)
    else:
        op = loss_op(term, unit)
        pred = b.value(term.unit + ":z") if reads_logits(op, unit) else b.value(term.unit)
        target = b.value(term.target) if term.target else TARGET
        b.emit(op, (pred, target), slot)
        if sum_units and term.kind != "cross_entropy":
            weight *= math.prod(b.model.shapes[term.unit])  # mean over units -> sum over units
    plan.losses.append(LossSlot(label, slot, weight, op, term.target))


# ops that skip computing an input's gradient when told it is not needed: op -> (input index, attr)
GRADIENT_FLAGS = {"dense": (0, "needs_input_grad"), "matmul": (0, "needs_input_grad"),
                  "conv2d": (0, "needs_input_grad"),
                  **{op: (1, "needs_target_grad") for op in ("mse", "bce", "bce_logits", "softmax_cross_entropy")}}


def _mark_gradients(instrs: list[Instr], constant: set[str]) -> list[Instr]:
    """Which inputs of each instruction need a gradient: those that depend on a parameter."""
    varying: set[str] = {s for ins in instrs for s in ins.inputs if s and not s.startswith(PARAM)} - constant
    varying -= {ins.output for ins in instrs}
    marked = []
    for ins in instrs:
        needs = tuple(s is not None and (s.startswith(PARAM) or s in varying) for s in ins.inputs)
        if any(needs):
            varying.add(ins.output)
        flag = GRADIENT_FLAGS.get(ins.op.name)
        attrs = dict(ins.attrs, **{flag[1]: needs[flag[0]]}) if flag else ins.attrs
        marked.append(Instr(ins.op, ins.inputs, ins.output, attrs, needs))
    return marked
