"""Shape inference, parameter counts and FLOPs, all before any array exists."""

from __future__ import annotations

import math

import networkx as nx

from nngraph.errors import Collector, ShapeError, did_you_mean
from nngraph.graph import vocabulary as V
from nngraph.graph.ir import EdgeSpec, ModelGraph, Shape
from nngraph.graph.validate import same_step_graph
from nngraph.spec.format import spoken

GATES = {**V.CELLS, None: 1}
SIZED_BY_TARGET = ("dense", "symmetric", "tied")  # link kinds that deliver whatever shape their target has
CONVOLUTIONS = ("conv", "deconv")  # weighted links over images: a kernel per (filter, channel), a bias per channel
UPSAMPLING = ("upsample", "deconv", "pixelshuffle")
UPSAMPLE_TAPS = {"nearest": 1, "bilinear": 4, "bicubic": 16}  # source pixels that one output pixel reads


def infer_shapes(model: ModelGraph, errors: Collector) -> None:
    """Fill `model.shapes` in same-step topological order; report what cannot be inferred."""
    g = same_step_graph(model)
    if not nx.is_directed_acyclic_graph(g):
        return  # already reported as a cycle
    for name in nx.topological_sort(g):
        unit = model.unit(name)
        if unit.declared_shape is None and _fed_by_a_failure(model, name):
            continue  # its source's error is the cause: a guess at this one's would only mislead
        try:
            shape = _unit_shape(model, name)
            # a bidirectional layer's value: both directions' [H] side by side
            model.shapes[name] = (shape[0] * unit.directions,) + shape[1:]
        except ShapeError as e:
            errors.add(e)
            if unit.declared_shape:
                model.shapes[name] = unit.declared_shape
    for edge in model.edges:
        if edge.kind == "identity" and model.unit(edge.target).cell:
            cell = model.unit(edge.target).cell
            errors.error(f"an identity link cannot feed {cell} unit '{edge.target}'", edge.span,
                         f"every link into a cell feeds its {GATES[cell]} gates through weights: use a dense link",
                         kind=ShapeError)
        elif edge.delay and edge.source in model.shapes and edge.target in model.shapes:
            _check_edge(model, edge, errors)
        if edge.kind == "tied":
            _check_tied(model, edge, errors)


def _fed_by_a_failure(model: ModelGraph, name: str) -> bool:
    """Whether a same-step source of the unit has no shape: its own error was reported (units are visited
    in topological order, so every source has been)."""
    return any(e.delay == 0 and not e.symmetric and e.source not in model.shapes for e in model.incoming(name))


def _unit_shape(model: ModelGraph, name: str) -> Shape:
    unit = model.unit(name)
    edges = [e for e in model.incoming(name) if e.delay == 0 and not e.symmetric and e.source in model.shapes]
    # links that deliver a shape of their own (identity, conv, pooling) first: a dense link then fills it
    edges.sort(key=lambda e: e.kind in SIZED_BY_TARGET)
    produced, known = [], unit.declared_shape
    for e in edges:
        produced.append((e, edge_output_shape(e, model.shapes[e.source], known)))
        known = known or produced[-1][1]
    if unit.role == "sample":
        produced = [(e, s) for e, s in produced if e.source == unit.sample_params[0]] or produced
    shape = unit.declared_shape
    for edge, out in produced:
        if shape is not None and out != shape:
            what = f"'{name}' is declared {list(shape)}" if unit.declared_shape else f"another input gives {list(shape)}"
            hint = "an identity link adds its source unchanged: the two shapes must be equal" \
                if edge.kind == "identity" else None
            raise ShapeError(f"connection {edge.source} -> {name} gives shape {list(out)}, but {what}", edge.span,
                             hint)
        shape = out
    if shape is None:
        raise ShapeError(f"cannot infer the shape of '{name}'", unit.span,
                         f"give it a size: `{unit.role} {name}[64]`; only conv, pooling and upsampling connections infer one")
    if unit.cell and len(shape) != 1:
        raise ShapeError(f"{unit.cell} unit '{name}' must be a vector, got {list(shape)}", unit.span)
    if unit.role == "sample":
        _check_sample(model, unit, shape)
    return shape


def _check_sample(model, unit, shape):
    for param in unit.sample_params:
        got = model.shapes.get(param)
        if got is not None and got != shape:
            raise ShapeError(f"'{unit.name}' samples from '{param}' of shape {list(got)}, expected {list(shape)}",
                             unit.span, "the mean and log-variance units must have the same shape")


def tied_edge(model: ModelGraph, edge: EdgeSpec) -> EdgeSpec | None:
    """The dense same-step link whose weight a tied link uses, or None where the model has none."""
    source, target = edge.tied_to
    return next((e for e in model.incoming(target) if e.source == source and e.kind == "dense" and not e.delay
                 and not e.implicit), None) if target in model.graph else None


def weight_shape(model: ModelGraph, edge: EdgeSpec) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense link's weight: [prod(source), prod(target) * the target's gates]."""
    return (math.prod(model.shapes[edge.source]),
            math.prod(model.shapes[edge.target]) * GATES[model.unit(edge.target).cell])


def _check_tied(model: ModelGraph, edge: EdgeSpec, errors: Collector) -> None:
    """A tied link borrows an existing dense link's weight, transposed: the shapes must fit exactly."""
    source, target = edge.tied_to
    tied = tied_edge(model, edge)
    if tied is None:
        errors.error(f"tied({source}, {target}): the model has no dense link {source} -> {target} to share",
                     edge.span, "a tied link uses the transpose of a dense, same-step link's weight", kind=ShapeError)
        return
    if not all(u in model.shapes for u in (edge.source, edge.target, source, target)):
        return  # a shape error of its own was reported
    if model.unit(target).bidirectional or model.unit(edge.target).bidirectional:
        errors.error("a tied link cannot share the weights of a bidirectional layer (one per direction)",
                     edge.span, "tie links between one-way units", kind=ShapeError)
        return
    borrowed, needed = weight_shape(model, tied)[::-1], weight_shape(model, edge)
    if borrowed != needed:
        errors.error(f"{edge.source} -> {edge.target} needs a weight {list(needed)}, but {source} -> {target}'s "
                     f"transposed is {list(borrowed)}", edge.span,
                     f"a tied link maps {target}'s size back to {source}'s: here [{needed[0]}] to [{needed[1]}]",
                     kind=ShapeError)


def _check_edge(model: ModelGraph, edge: EdgeSpec, errors: Collector) -> None:
    target = model.unit(edge.target)
    try:
        out = edge_output_shape(edge, model.shapes[edge.source], model.shapes[edge.target])
    except ShapeError as e:
        errors.add(e)
        return
    if out != model.shapes[edge.target]:
        errors.error(f"recurrent connection {edge.source} -> {edge.target} gives {list(out)}, "
                     f"but '{target.name}' has shape {list(model.shapes[edge.target])}", edge.span,
                     kind=ShapeError)


def edge_output_shape(edge: EdgeSpec, source: Shape, target: Shape | None) -> Shape:
    """The shape a connection delivers into its target."""
    if edge.kind in SIZED_BY_TARGET:
        if target is None:
            raise ShapeError(f"a dense connection cannot size '{edge.target}'", edge.span,
                             f"declare its size: `layer {edge.target}[64]`")
        return target
    if edge.kind in ("sample", "identity"):
        return source
    if edge.kind == "minibatch_std":
        return _with_spread(edge, source)
    if edge.kind == "autoregressive":
        return _autoregressive(edge, source, target)
    if len(source) != 3:
        raise ShapeError(f"{edge.kind} needs a [channels, height, width] input; '{edge.source}' is {list(source)}",
                         edge.span, f"declare it as an image, e.g. `input {edge.source}[1, 8, 8]`")
    if edge.kind in UPSAMPLING:
        return _upsampled(edge, source, target)
    return _spatial(edge, source, target)


def minibatch_group(edge: EdgeSpec) -> int:
    group = edge.option("group", 4)
    if not _whole(group):
        raise ShapeError(f"minibatch_std group: expected a whole number >= 1, got {spoken(group)}", edge.span,
                         "ProGAN's is 4")
    return group


def _with_spread(edge: EdgeSpec, source: Shape) -> Shape:
    """The source and the spread of its group: one more value of a vector, one more channel of an image."""
    minibatch_group(edge)
    return (source[0] + 1,) + tuple(source[1:])


def _autoregressive(edge: EdgeSpec, source: Shape, target: Shape | None) -> Shape:
    """Value i of the target reads values j < i of the source: the two ends hold as many values (their shapes
    may differ, `x[1, 8, 8] -> p[64]`); an undeclared target takes the source's shape."""
    if target is not None and math.prod(target) != math.prod(source):
        raise ShapeError(f"an autoregressive link needs as many values at both ends: '{edge.source}' has "
                         f"{math.prod(source)}, '{edge.target}' {math.prod(target)}", edge.span,
                         "value i of the target reads the source's values before i: use a dense link between "
                         "units of different sizes")
    return target or source


def _pair(value, name, edge):
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return tuple(value)
    raise ShapeError(f"{edge.kind} {name}: expected a whole number or [h, w], got {spoken(value)}", edge.span)


def conv_geometry(edge: EdgeSpec, source: Shape):
    """(kernel, stride, padding) as (h, w) pairs, with 'same' padding resolved."""
    kernel = _pair(edge.option("kernel"), "kernel", edge)
    stride = edge.option("stride")  # None: pooling's default, the kernel; 0 is a mistake, refused below
    stride = _pair(edge.option("kernel") if stride is None else stride, "stride", edge)
    padding = edge.option("padding", 0)
    if padding == "same":
        if stride != (1, 1):
            raise ShapeError("padding='same' needs stride 1", edge.span)
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise ShapeError("padding='same' needs an odd kernel", edge.span)
        padding = (kernel[0] // 2, kernel[1] // 2)
    else:
        padding = _pair(padding, "padding", edge)
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ShapeError(f"{edge.kind}: kernel and stride must be >= 1, padding >= 0", edge.span)
    return kernel, stride, padding


def _spatial(edge: EdgeSpec, source: Shape, target: Shape | None) -> Shape:
    if edge.kind == "conv" and edge.option("kernel") is None:
        raise ShapeError("conv needs a kernel size", edge.span, "e.g. conv(filters=8, kernel=3)")
    kernel, stride, padding = conv_geometry(edge, source)
    if edge.kind != "conv" and (2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]):
        # the pooling ops' own rule (and PyTorch's): a window could otherwise lie wholly in the padding
        raise ShapeError(f"{edge.kind} padding {list(padding)} must be at most half its kernel {list(kernel)}",
                         edge.span, "a window that lies wholly in the padding pools nothing: use less padding")
    c, h, w = source
    if kernel[0] > h + 2 * padding[0] or kernel[1] > w + 2 * padding[1]:
        raise ShapeError(f"{edge.kind} kernel {list(kernel)} is larger than its input "
                         f"{[h, w]} (padding {list(padding)})", edge.span,
                         f"use a kernel of at most {[h + 2 * padding[0], w + 2 * padding[1]]}, or pad the input")
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if edge.kind != "conv":
        return (c, ho, wo)
    return (_filters(edge, target), ho, wo)


def _filters(edge: EdgeSpec, target: Shape | None) -> int:
    filters = edge.option("filters") or (target[0] if target and len(target) == 3 else None)
    if not _whole(filters):
        raise ShapeError(f"{edge.kind} needs filters=N (a whole number >= 1)", edge.span,
                         "or declare the target's shape [filters, height, width]")
    return filters


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def upsample_factor(edge: EdgeSpec) -> tuple[int, int]:
    """An upsample link's (rows, cols) factor; a pixel shuffle's is one whole number for both axes."""
    factor = edge.option("factor", 2)
    if edge.kind == "pixelshuffle" and not _whole(factor):
        raise ShapeError(f"pixelshuffle factor: expected a whole number >= 1, got {spoken(factor)}", edge.span)
    rows, cols = _pair(factor, "factor", edge)
    if min(rows, cols) < 1:
        raise ShapeError(f"{edge.kind} factor must be at least 1, got {spoken(factor)}", edge.span)
    return rows, cols


def _upsampled(edge: EdgeSpec, source: Shape, target: Shape | None) -> Shape:
    """What an upsampling link makes of an image [C, H, W]."""
    c, h, w = source
    if edge.kind == "deconv":
        return _deconvolved(edge, source, target)
    fh, fw = upsample_factor(edge)
    if edge.kind == "upsample":
        mode = edge.option("mode", "nearest")
        if mode not in V.UPSAMPLE_MODES:
            raise ShapeError(f"upsample mode {spoken(mode)} is not one of {', '.join(V.UPSAMPLE_MODES)}",
                             edge.span, did_you_mean(mode, V.UPSAMPLE_MODES) if isinstance(mode, str) else None)
        return (c, h * fh, w * fw)
    if c % (fh * fw):
        raise ShapeError(f"pixelshuffle({fh}) needs channels in multiples of {fh * fw}; '{edge.source}' has {c}",
                         edge.span, f"give '{edge.source}' {fh * fw} x the channels wanted, e.g. "
                                    f"conv(filters={fh * fw}, ...) for one channel")
    return (c // (fh * fw), h * fh, w * fw)


def _deconvolved(edge: EdgeSpec, source: Shape, target: Shape | None) -> Shape:
    """A transposed convolution's output: (H - 1) stride - 2 padding + kernel along each axis."""
    if edge.option("kernel") is None:
        raise ShapeError("deconv needs a kernel size", edge.span, "e.g. deconv(filters=8, kernel=4, stride=2)")
    kernel, stride, padding = conv_geometry(edge, source)
    out = [(n - 1) * s - 2 * p + k for n, k, s, p in zip(source[1:], kernel, stride, padding)]
    if min(out) < 1:
        raise ShapeError(f"deconv of a {list(source[1:])} input with kernel {list(kernel)}, stride {list(stride)} "
                         f"and padding {list(padding)} leaves no output", edge.span, "use less padding")
    return (_filters(edge, target), *out)


# ---- counting --------------------------------------------------------------------------------


def edge_parameters(model: ModelGraph, edge: EdgeSpec) -> int:
    src, dst = model.shapes.get(edge.source), model.shapes.get(edge.target)
    if src is None or dst is None or not edge.has_weights or edge.kind == "tied":
        return 0  # a tied link's weight is counted once, with the link it borrows from
    if edge.kind in CONVOLUTIONS:
        kernel, _, _ = conv_geometry(edge, src)
        return dst[0] * src[0] * kernel[0] * kernel[1]
    if own_recurrence_of_a_bidirectional(model, edge):
        return _bidirectional_recurrence(model, edge)
    fan_out = math.prod(dst) * GATES[model.unit(edge.target).cell]
    if edge.kind == "autoregressive":
        return fan_out * (fan_out - 1) // 2  # the free weights: strictly above the diagonal of [n, n]
    if edge.symmetric and edge.source == edge.target:
        return math.prod(dst) * (math.prod(dst) - 1) // 2  # lateral: symmetric, zero diagonal
    return math.prod(src) * fan_out


def own_recurrence_of_a_bidirectional(model: ModelGraph, edge: EdgeSpec) -> bool:
    return edge.source == edge.target and model.unit(edge.target).bidirectional


def _bidirectional_recurrence(model: ModelGraph, edge: EdgeSpec) -> int:
    """Each direction reads its own [H] state back: two [H, G * H] matrices, not one of the whole [2H]."""
    width = model.shapes[edge.target][0] // 2
    return 2 * width * width * GATES[model.unit(edge.target).cell]


def unit_bias(model: ModelGraph, name: str) -> tuple[int, bool] | None:
    """(size, per_channel) of a unit's bias parameter, or None where it has none: one bias per channel
    when every weighted connection into it is a conv (pooling links carry no weights), else one per
    value (per gate value of a cell). The one rule that counting and every executor read."""
    unit, shape = model.unit(name), model.shapes.get(name)
    if shape is None or not unit.bias or unit.is_input or unit.norm == "batchnorm":
        return None  # batch normalisation subtracts any bias with the mean; its shift takes the bias's place
    if unit.is_stochastic:
        return math.prod(shape), False
    weighted = [e for e in model.incoming(name) if e.has_weights and not e.implicit]
    if not weighted:
        return None
    if all(e.kind in CONVOLUTIONS for e in weighted):
        return shape[0], True
    return math.prod(shape) * GATES[unit.cell], False


def unit_bias_parameters(model: ModelGraph, name: str) -> int:
    bias = unit_bias(model, name)
    return bias[0] if bias else 0


def unit_parameters(model: ModelGraph, name: str) -> int:
    """Weights of every connection into the unit (symmetric links counted once) plus its bias and its own
    parameters (a learned initial state)."""
    weights = sum(edge_parameters(model, e) for e in model.incoming(name))
    return weights + unit_bias_parameters(model, name) + unit_own_parameters(model, name)


def unit_own_parameters(model: ModelGraph, name: str) -> int:
    """A learned initial state (h.initial, and an LSTM's h.initial_cell), a normalisation's scale and shift
    (per channel for batchnorm, per value for layernorm) and a learned prior's means and log-variances."""
    unit, shape = model.unit(name), model.shapes.get(name)
    if shape is None:
        return 0
    initial = math.prod(shape) * (2 if unit.cell == "lstm" else 1) if unit.learned_initial else 0
    return initial + 2 * norm_width(unit, shape) + 2 * prior_parameters(unit, shape)


def prior_parameters(unit, shape: Shape) -> int:
    """A learned mixture prior's means (and as many log-variances): components x the latent's values."""
    return unit.prior_components * math.prod(shape)


def norm_width(unit, shape: Shape) -> int:
    """The size of a normalisation's scale (and of its shift): one per channel (batchnorm), one per value
    (layernorm), 0 without one."""
    return {"batchnorm": shape[0], "layernorm": math.prod(shape)}.get(unit.norm, 0)


def total_parameters(model: ModelGraph) -> int:
    return sum(unit_parameters(model, n) for n in model.graph.nodes)


def edge_flops(model: ModelGraph, edge: EdgeSpec) -> int:
    """Forward multiply-adds x2 per example (per time step for recurrent models)."""
    src, dst = model.shapes.get(edge.source), model.shapes.get(edge.target)
    if src is None or dst is None:
        return 0
    if edge.kind == "conv":
        kernel, _, _ = conv_geometry(edge, src)
        return 2 * math.prod(dst) * src[0] * kernel[0] * kernel[1]
    if edge.kind == "deconv":  # every input pixel times the whole kernel
        kernel, _, _ = conv_geometry(edge, src)
        return 2 * math.prod(src) * dst[0] * kernel[0] * kernel[1]
    if edge.kind in ("maxpool", "avgpool"):
        kernel, _, _ = conv_geometry(edge, src)
        return math.prod(dst) * kernel[0] * kernel[1]
    if edge.kind == "upsample":
        return 2 * math.prod(dst) * UPSAMPLE_TAPS.get(edge.option("mode", "nearest"), 1)
    if own_recurrence_of_a_bidirectional(model, edge):
        return 2 * _bidirectional_recurrence(model, edge)
    if edge.has_weights:
        return 2 * math.prod(src) * math.prod(dst) * GATES[model.unit(edge.target).cell]
    return 0


def unit_flops(model: ModelGraph, name: str) -> int:
    return sum(edge_flops(model, e) for e in model.incoming(name))


# ---- what the arrays of a run hold, per example (graph/memory.py adds them up) ----------------------


def largest_parameter(model: ModelGraph) -> int:
    """The most values one parameter array holds (initialisation draws it whole, in float64)."""
    weights = (edge_parameters(model, e) for e in model.edges)
    biases = (unit_bias_parameters(model, n) for n in model.graph.nodes)
    priors = (prior_parameters(u, model.shapes[u.name]) for u in model.units if u.name in model.shapes)
    return max((*weights, *biases, *priors), default=0)


def coupling_parameters(model: ModelGraph) -> int:
    """A Boltzmann machine's stored couplings: [visible, hidden] when every link joins a visible unit to a
    hidden one, else the full [N, N] matrix (compile/energy.py), plus one bias per unit."""
    sizes = {u.name: math.prod(model.shapes.get(u.name, ())) for u in model.units}
    visible = sum(sizes[u.name] for u in model.units_with_role("visible"))
    units = sum(sizes.values())
    restricted = all((model.unit(e.source).role == "visible") != (model.unit(e.target).role == "visible")
                     for e in model.edges if e.symmetric)
    return (visible * (units - visible) if restricted else units * units) + units


def activation_values(model: ModelGraph, training: bool) -> int:
    """Values one example keeps alive through a step: each unit's output and pre-activation (and while
    training their gradients and a dropout mask), and each conv or pooling connection's unfolded windows
    (im2col), with their gradient while training, and a mixture prior's values per component."""
    total = 0
    for name in model.graph.nodes:
        unit, shape = model.unit(name), model.shapes.get(name)
        if shape is None:
            continue
        size = math.prod(shape)
        total += size + size * GATES[unit.cell]  # the value, the pre-activation(s)
        if training:
            total += 2 * size * GATES[unit.cell] + (size if unit.dropout else 0)
        total += 2 * unit.prior_components  # kl to a mixture: each example's responsibilities and densities
    for edge in model.edges:
        total += _window_values(model, edge) * (2 if training else 1)
    return total


def _window_values(model: ModelGraph, edge: EdgeSpec) -> int:
    src, dst = model.shapes.get(edge.source), model.shapes.get(edge.target)
    if edge.kind not in ("conv", "deconv", "maxpool", "avgpool") or src is None or dst is None or len(src) != 3:
        return 0
    kernel, _, _ = conv_geometry(edge, src)
    if edge.kind == "deconv":  # the columns every input pixel scatters: [filters * kh * kw, H * W]
        return math.prod(src[1:]) * dst[0] * kernel[0] * kernel[1]
    return math.prod(dst[1:]) * src[0] * kernel[0] * kernel[1]
