"""Checked model graph -> Plan. One lowering function per IR construct, registered by edge kind.

Units are lowered in same-step topological order: their incoming connections each give a contribution, the
contributions sum, the bias is added, then the activation and (in training) dropout. A unit with a single dense
or conv connection gets one fused op (matmul or conv plus bias). A recurrent model gets the same lowering over
time-major rows, its loops as `scan` instructions (`compile/loops.py`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import networkx as nx

from nngraph.compile.plan import (
    BUFFER,
    MASKED_INIT,
    PARAM,
    ROWS,
    TARGET,
    BufferSpec,
    Instr,
    LossSlot,
    ParamSpec,
    Plan,
    RandomSlot,
)
from nngraph.errors import BuildError
from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.graph.shapes import GATES, conv_geometry, minibatch_group, norm_width, unit_bias, upsample_factor
from nngraph.graph.training import LossTerm
from nngraph.graph.validate import same_step_graph
from nngraph.ops import get_op
from nngraph.ops.fused import FUSED_OPS

LOWER_EDGE = {}


def lowers(kind: str):
    def register(fn):
        LOWER_EDGE[kind] = fn
        return fn
    return register


class Builder:
    """Emits instructions for one instruction list (a plan, or a scan's prologue or step); the parameter
    table and random slots are shared by every list of a plan. `read(edge)` says which slot holds an edge's
    source as this list sees it (a delayed copy, a carried value, the loss rows); `scope` prefixes the slots
    it names, so a scan's prologue and step never name a slot alike."""

    def __init__(self, model: ModelGraph, training: bool, params=None, random=None, read=None, scope: str = "",
                 direction: str = ""):
        self.model, self.training, self.scope = model, training, scope
        self.direction = direction  # ".reverse": a bidirectional layer's backward direction names its own
        self.instrs: list[Instr] = []
        self.params: dict[str, ParamSpec] = {} if params is None else params
        self.random: list[RandomSlot] = [] if random is None else random
        self.buffers: dict[str, BufferSpec] = {}
        self.buffer_updates: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.read = read

    def emit(self, op: str, inputs, output: str, **attrs) -> str:
        output = self.scope + output
        self.instrs.append(Instr(get_op(op), tuple(inputs), output, attrs))
        return output

    def emit_many(self, op: str, inputs, outputs: tuple[str, ...], **attrs) -> tuple[str, ...]:
        """An instruction with several outputs (batch_norm's value and updated running statistics)."""
        outputs = tuple(self.scope + o for o in outputs)
        self.instrs.append(Instr(get_op(op), tuple(inputs), outputs, attrs))
        return outputs

    def buffer(self, name, shape, init) -> str:
        self.buffers[name] = BufferSpec(name, tuple(shape), init)
        return BUFFER + name

    def param(self, name, shape, init, fan_in=1, fan_out=1) -> str:
        name = self.directed(name)
        self.params[name] = ParamSpec(name, tuple(shape), init, fan_in, fan_out)
        return PARAM + name

    def directed(self, name: str) -> str:
        """A parameter's or a draw's name in this builder's direction: `x->h.weight` is `x->h.reverse.weight`
        in a bidirectional layer's backward direction (PyTorch's `_reverse`), the forward one keeps it."""
        if not self.direction:
            return name
        head, _, tail = name.rpartition(".")
        return f"{head}{self.direction}.{tail}"

    def value(self, unit: str) -> str:
        return self.aliases.get(unit, unit)

    def source(self, edge: EdgeSpec) -> str:
        return self.read(edge) if self.read else self.value(edge.source)


def weight_name(edge: EdgeSpec) -> str:
    return f"{edge.source}->{edge.target}" + (f"@{edge.delay}" if edge.delay else "")


def _init_for(unit: UnitSpec) -> str:
    return "he" if unit.activation in ("relu", "leaky_relu", "elu") else "glorot"


@lowers("dense")
def _dense(b: Builder, edge: EdgeSpec, bias: str | None) -> str:
    src, dst = b.model.shapes[edge.source], b.model.shapes[edge.target]
    target = b.model.unit(edge.target)
    fan_in, fan_out = math.prod(src), math.prod(dst) * GATES[target.cell]
    w = b.param(weight_name(edge) + ".weight", (fan_in, fan_out), _init_for(target), fan_in, fan_out)
    return _weighted(b, edge, "dense" if bias else "matmul", w, bias, "out")


def _weighted(b: Builder, edge: EdgeSpec, op: str, weight: str, bias: str | None, suffix: str) -> str:
    """`op` of the edge's source and `weight` (plus `bias`), reshaped to the target's shape where it has several
    axes: the flat product every weighted link's op gives (dense, autoregressive, tied)."""
    out = f"{edge.target}:z" if bias else f"{weight_name(edge)}:{suffix}"
    out = b.emit(op, (b.source(edge), weight) + ((bias,) if bias else ()), out)
    dst = b.model.shapes[edge.target]
    if len(dst) > 1:
        return b.emit("reshape", (out,), f"{weight_name(edge)}:shaped", shape=list(dst))
    return out


@lowers("autoregressive")
def _autoregressive(b: Builder, edge: EdgeSpec, bias: str | None) -> str:
    """A square weight used through MADE's mask (ops/dense.py): output i reads source values j < i. It starts
    with its masked entries zero (`init_parameter`) and their gradient is zero, so they stay zero; a value's fan-in
    is on average half the source's."""
    n = math.prod(b.model.shapes[edge.source])
    fan = max(1, n // 2)
    w = b.param(weight_name(edge) + ".weight", (n, n), MASKED_INIT + _init_for(b.model.unit(edge.target)), fan, fan)
    return _weighted(b, edge, "autoregressive_dense", w, bias, "out")


@lowers("conv")
def _conv(b: Builder, edge: EdgeSpec, bias: str | None) -> str:
    src, dst = b.model.shapes[edge.source], b.model.shapes[edge.target]
    kernel, stride, padding = conv_geometry(edge, src)
    shape = (dst[0], src[0], *kernel)
    fan_in, fan_out = src[0] * kernel[0] * kernel[1], dst[0] * kernel[0] * kernel[1]
    w = b.param(weight_name(edge) + ".weight", shape, _init_for(b.model.unit(edge.target)), fan_in, fan_out)
    out = f"{edge.target}:z" if bias else f"{weight_name(edge)}:out"
    inputs = (b.source(edge), w) + ((bias,) if bias else ())
    return b.emit("conv2d", inputs, out, stride=list(stride), padding=list(padding))


def _pool(op):
    def lower(b: Builder, edge: EdgeSpec, bias) -> str:
        kernel, stride, padding = conv_geometry(edge, b.model.shapes[edge.source])
        return b.emit(op, (b.source(edge),), f"{weight_name(edge)}:out",
                      kernel=list(kernel), stride=list(stride), padding=list(padding))
    return lower


LOWER_EDGE["maxpool"] = _pool("maxpool2d")
LOWER_EDGE["avgpool"] = _pool("avgpool2d")


@lowers("deconv")
def _deconv(b: Builder, edge: EdgeSpec, bias) -> str:
    """A transposed convolution, weight [channels, filters, kh, kw] as PyTorch and ONNX hold it. Its fan-in
    is what one output pixel sums over: each channel's kernel taps that land on it, about kernel / stride
    per axis."""
    src, dst = b.model.shapes[edge.source], b.model.shapes[edge.target]
    kernel, stride, padding = conv_geometry(edge, src)
    fan_in = src[0] * math.ceil(kernel[0] / stride[0]) * math.ceil(kernel[1] / stride[1])
    w = b.param(weight_name(edge) + ".weight", (src[0], dst[0], *kernel), _init_for(b.model.unit(edge.target)),
                fan_in, dst[0] * kernel[0] * kernel[1])
    return b.emit("conv_transpose2d", (b.source(edge), w), f"{weight_name(edge)}:out", stride=list(stride),
                  padding=list(padding))


@lowers("upsample")
def _upsample(b: Builder, edge: EdgeSpec, bias) -> str:
    return b.emit("upsample2d", (b.source(edge),), f"{weight_name(edge)}:out", factor=list(upsample_factor(edge)),
                  mode=edge.option("mode", "nearest"))


@lowers("pixelshuffle")
def _pixel_shuffle(b: Builder, edge: EdgeSpec, bias) -> str:
    return b.emit("pixel_shuffle", (b.source(edge),), f"{weight_name(edge)}:out", factor=upsample_factor(edge)[0])


@lowers("minibatch_std")
def _minibatch_std(b: Builder, edge: EdgeSpec, bias) -> str:
    """In evaluation too: the statistic is part of what the discriminator judges, batch by batch."""
    return b.emit("minibatch_std", (b.source(edge),), f"{weight_name(edge)}:out", group=minibatch_group(edge),
                  eps=1e-8)


@lowers("tied")
def _tied(b: Builder, edge: EdgeSpec, bias: str | None) -> str:
    """Through the transpose of another dense link's weight: that link's parameter, no new one. Both uses'
    gradients add up in it (the reverse walk accumulates every use of a slot)."""
    source, target = edge.tied_to
    weight = PARAM + weight_name(EdgeSpec(source, target)) + ".weight"
    return _weighted(b, edge, "dense_transposed", weight, bias, "tied")


@lowers("identity")
def _identity(b: Builder, edge: EdgeSpec, bias) -> str:
    return b.source(edge)


def lower_model(model: ModelGraph, losses: tuple[LossTerm, ...] = (), training: bool = True,
                sum_units: bool = False, input_grads: bool = False, learn_initial: bool = False) -> Plan:
    """The plan of a model; `training` adds dropout, `sum_units` sums losses over units, `input_grads`
    makes the backward pass reach the data inputs and noise units too, `learn_initial` gives a recurrent model's loop
    units a learned state before the first step."""
    if model.is_boltzmann:
        raise BuildError(f"model '{model.name}' has symmetric links; it runs with a Boltzmann method",
                         model.span)
    b = Builder(model, training)
    if model.is_recurrent:
        from nngraph.compile.loops import lower_loops

        plan = lower_loops(b, model, losses, learn_initial)
    else:
        plan = Plan(model.name, b.instrs, b.params, _lower_feedforward(b, model), b.random,
                    [u.name for u in model.units if u.role == "output"], b.aliases, shapes=dict(model.shapes))
    plan.buffers, plan.buffer_updates = b.buffers, b.buffer_updates
    plan.body = len(b.instrs)
    plan.scored = scored_unit(losses, plan.outputs)
    for term in losses:
        _lower_loss(b, plan, term, sum_units)
    noise = {u.name for u in model.units if u.role == "noise"}
    constant = {TARGET, ROWS} | {r.slot for r in b.random if not (input_grads and r.slot in noise)} | \
        {BUFFER + n for n in b.buffers} | set(plan.initial_feeds) | (set() if input_grads else set(plan.feeds))
    plan.instrs = mark_gradients(b.instrs, constant)
    return plan


def _lower_feedforward(b: Builder, model: ModelGraph) -> list[str]:
    """Every unit in same-step topological order; returns the input units (the plan's feeds). The random
    draws are then put in the documented order (section 7, `seed`): each unit after every unit it reads, and
    of two that do not read each other the one declared first, as a recurrent plan orders its units
    (loops._components). The units keep their lowering order, so their parameters, and the initial draws made
    in the parameters' order, stay as they were."""
    feeds, owner = [], {}
    graph = same_step_graph(model)
    for name in nx.topological_sort(graph):
        unit, drawn = model.unit(name), len(b.random)
        if unit.role == "input":
            feeds.append(name)
        elif unit.role == "noise":
            b.random.append(RandomSlot(name, model.shapes[name], unit.distribution))
        elif unit.role == "sample":
            _lower_sample(b, unit)
        else:
            lower_unit(b, unit, model.incoming(name))
        owner.update((r.slot, name) for r in b.random[drawn:])
    declared = {u.name: i for i, u in enumerate(model.units)}
    rank = {n: i for i, n in enumerate(nx.lexicographical_topological_sort(graph, key=declared.__getitem__))}
    b.random.sort(key=lambda r: rank[owner[r.slot]])
    return feeds


def unit_bias_param(b: Builder, unit: UnitSpec) -> str | None:
    shape = unit_bias(b.model, unit.name)
    if shape is None:
        return None
    return b.param(f"{unit.name}.bias", shape[:1], "lstm_bias" if unit.cell == "lstm" else "zeros")


def lower_unit(b: Builder, unit: UnitSpec, edges) -> None:
    """A unit from its incoming edges: net input, bias, activation, dropout."""
    activate(b, unit, net_input(b, unit, list(edges), unit_bias_param(b, unit)))


def net_input(b: Builder, unit: UnitSpec, edges: list, bias: str | None, extra: tuple = ()) -> str:
    """The sum of the edges' contributions and of `extra` slots, plus the bias: the slot of z. One dense
    edge takes the bias into its op, and so does one conv edge where the bias is one per channel (a loop's
    prologue may hold a unit's conv edge alone while its bias is one per value)."""
    fusable = ("dense", "conv") if bias and unit_bias(b.model, unit.name)[1] else ("dense", "tied", "autoregressive")
    fused = bias if not extra and len(edges) == 1 and edges[0].kind in fusable else None
    parts = list(extra) + [LOWER_EDGE[e.kind](b, e, fused) for e in edges]
    z = parts[0] if len(parts) == 1 else b.emit("add", parts, f"{unit.name}:sum")
    if bias and not fused:
        z = b.emit("bias_add", (z, bias), f"{unit.name}:z")
    return z


def activate(b: Builder, unit: UnitSpec, z: str, per_sequence: bool = False) -> None:
    """The normalisation and activation of z and, in training, dropout: the unit's value. `per_sequence` (a
    scan's step) draws one dropout mask per sequence, used at every step, instead of one per row."""
    z = normalise(b, unit, z)
    b.aliases[unit.name + ":z"] = z
    out = z if unit.activation == "identity" else b.emit(unit.activation, (z,), unit.name,
                                                         **dict(unit.activation_args))
    b.aliases[unit.name] = dropout(b, unit, out, per_sequence)


def normalise(b: Builder, unit: UnitSpec, z: str) -> str:
    """z normalised (`batchnorm`, `layernorm`), scaled and shifted: parameters `NAME.norm.weight` (ones) and
    `NAME.norm.bias` (zeros); batch normalisation's running statistics are the buffers
    `NAME.norm.running_mean` and `NAME.norm.running_var`, which the training plan's `batch_norm` returns
    updated (written back by the Program) and the eval plan's `batch_norm_eval` reads."""
    if unit.norm is None:
        return z
    shape = b.model.shapes[unit.name]
    width = norm_width(unit, shape)
    args = dict(unit.norm_args)
    scale_shift = (b.param(f"{unit.name}.norm.weight", (width,), "ones"),
                   b.param(f"{unit.name}.norm.bias", (width,), "zeros"))
    out = f"{unit.name}:normed"
    if unit.norm == "layernorm":
        return b.emit("layer_norm", (z, *scale_shift), out, eps=args["eps"])
    stats = (b.buffer(f"{unit.name}.norm.running_mean", (width,), "zeros"),
             b.buffer(f"{unit.name}.norm.running_var", (width,), "ones"))
    if not b.training:
        return b.emit("batch_norm_eval", (z, *scale_shift, *stats), out, eps=args["eps"])
    updated = (f"{unit.name}:running_mean", f"{unit.name}:running_var")
    out, *new = b.emit_many("batch_norm", (z, *scale_shift, *stats), (out, *updated), **args)
    b.buffer_updates.update(zip((s.removeprefix(BUFFER) for s in stats), new))
    return out


def dropout(b: Builder, unit: UnitSpec, out: str, per_sequence: bool = False) -> str:
    if not (unit.dropout and b.training):
        return out
    mask = "random:" + b.directed(f"{unit.name}.dropout")
    b.random.append(RandomSlot(mask, b.model.shapes[unit.name], "dropout", unit.dropout, per_sequence))
    return b.emit("dropout", (out, mask), unit.name + ":dropped")


def _lower_sample(b: Builder, unit: UnitSpec) -> None:
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
    value, as every other loss does; a cell's are its value h (the check refuses dropout on a sigmoid or softmax unit that such a
    loss reads: it would drop probabilities)."""
    return op in LOGIT_LOSSES and unit.cell is None and not (unit.activation == "identity" and unit.dropout)


def _lower_loss(b: Builder, plan: Plan, term: LossTerm, sum_units: bool) -> None:
    unit = b.model.unit(term.unit)
    slot = f"loss:{term.label}"
    weight = term.weight
    if term.kind == "kl":
        op = _lower_kl(b, unit, slot)
    else:
        op = loss_op(term, unit)
        pred = _at_loss_rows(b, plan, term.unit, term.unit + ":z" if reads_logits(op, unit) else term.unit)
        target = _at_loss_rows(b, plan, term.target, term.target) if term.target else TARGET
        b.emit(op, (pred, target), slot)
        if sum_units and term.kind != "cross_entropy":
            weight *= math.prod(b.model.shapes[term.unit])  # mean over units -> sum over units
    plan.losses.append(LossSlot(term.label, slot, weight, op, term.target, term.unit))


def _lower_kl(b: Builder, unit: UnitSpec, slot: str) -> str:
    """KL(q(z | x) || p(z)) of a sample unit: closed form to N(0, I); to a learned mixture of K Gaussians
    (parameters `NAME.prior.mean`, standard normal draws, and `NAME.prior.logvar`, zeros: [K, values]) the
    one-draw estimate at the unit's z."""
    moments = tuple(b.value(p) for p in unit.sample_params)
    if not unit.prior_components:
        b.emit("kl_normal", moments, slot)
        return "kl_normal"
    shape = (unit.prior_components, math.prod(b.model.shapes[unit.name]))
    prior = (b.param(f"{unit.name}.prior.mean", shape, "standard_normal"),
             b.param(f"{unit.name}.prior.logvar", shape, "zeros"))
    b.emit("kl_mixture", (*moments, b.value(unit.name), *prior), slot)
    return "kl_mixture"


def _at_loss_rows(b: Builder, plan: Plan, unit: str, slot: str) -> str:
    """A unit's slot as a loss reads it: in a recurrent plan at the window's loss rows (a unit that only a
    loss reads is computed there alone already)."""
    if not plan.sequence or unit in plan.at_rows:
        return b.value(slot)
    return b.emit("take_rows", (b.value(slot), ROWS), f"{slot}:rows")


# ops that skip computing gradients when told they are not needed: op -> ((input indices, attr), ...); the
# attr is True where any of those inputs needs one (a product's weight and bias come together)
_PRODUCT_FLAGS = (((0,), "needs_input_grad"), ((1, 2), "needs_weight_grad"))
GRADIENT_FLAGS = {**{op: _PRODUCT_FLAGS for op in ("dense", "conv2d", "conv2d_rectified", "autoregressive_dense",
                                                   *FUSED_OPS.values())},
                  **{op: (((0,), "needs_input_grad"),) for op in ("matmul", "dense_transposed")},
                  **{op: (((1,), "needs_target_grad"),) for op in ("mse", "bce", "bce_logits", "softmax_cross_entropy")}}


def mark_gradients(instrs: list[Instr], constant: set[str], sources: set[str] | None = None) -> list[Instr]:
    """Which inputs of each instruction need a gradient: those that depend on a parameter or on a slot the
    list reads from outside that is not `constant`. With `sources`, those that depend on these slots alone
    (no parameter's gradient: a VAE refining its posterior's moments). A scan's body is marked the same way,
    its outer constants passed down."""
    produced = {s for ins in instrs for s in _outputs(ins)}
    if sources is None:
        varying = {s for ins in instrs for s in ins.inputs if s and not s.startswith(PARAM)} - constant - produced
    else:
        varying = set(sources)
    marked = []
    for ins in instrs:
        needs = tuple(s is not None and ((sources is None and s.startswith(PARAM)) or s in varying)
                      for s in ins.inputs)
        if any(needs):
            varying.update(_outputs(ins))
        attrs = dict(ins.attrs, **{attr: any(needs[i] for i in inputs if i < len(needs))
                                   for inputs, attr in GRADIENT_FLAGS.get(ins.op.name, ())})
        if ins.op.name == "scan":
            attrs = dict(attrs, needs=needs,
                         body=_marked_body(attrs["body"], {s for s, n in zip(ins.inputs, needs) if not n}))
        marked.append(Instr(ins.op, ins.inputs, ins.output, attrs, needs))
    return marked


def _marked_body(body, constant: set[str]):
    """A scan's prologue and step, marked with the scan's own constant inputs (its carries and sequences
    vary: they come from parameters)."""
    return replace(body, prologue=tuple(mark_gradients(list(body.prologue), constant)),
                   step=tuple(mark_gradients(list(body.step), constant)))


def _outputs(ins: Instr) -> tuple[str, ...]:
    return ins.output if isinstance(ins.output, tuple) else (ins.output,)
