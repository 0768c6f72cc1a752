"""The export table: one function per op of nngraph's op table, each writing that op's ONNX nodes.

`export_instrs(g, instrs)` walks a plan's instructions in order; `EXPORTS[op name](g, ins, shape)` adds the
nodes of one instruction to the graph `g` and records its output slot (`g.set`). `shape` is the output's
per-example shape from the op's own shape rule. An op without an entry is an export error naming it, so a
new op is one entry here (`scan`, the loop over time steps, has its entries in export/scan.py).

Slots keep the plan's layout: examples along the first axis, and in a recurrent plan time-major rows
(step t of b sequences is rows [t b, (t + 1) b)), so an op exports alike inside and outside a loop.
"""

from __future__ import annotations

import numpy as np

from nngraph.compile.fuse import unfused
from nngraph.compile.plan import Instr
from nngraph.errors import BuildError, did_you_mean
from nngraph.export.graph import BATCH, OnnxGraph
from nngraph.ops.windows import geometry, pair

EXPORTS: dict = {}
TRAINING_ONLY = ("dropout", "batch_norm")  # ops of training plans alone: an export reads the evaluation plan
# ops whose value for one example depends on its batch: no graph computes them as `predict` does; the model
# is refused at its link before an export is built (products.py)
BATCH_DEPENDENT = ("minibatch_std",)


def exports(*names: str):
    def register(fn):
        for name in names:
            EXPORTS[name] = fn
        return fn
    return register


def export_instrs(g: OnnxGraph, instrs) -> None:
    for ins in instrs:
        entry = EXPORTS.get(ins.op.name)
        if entry is None:
            raise BuildError(f"op '{ins.op.name}' (computing '{_first(ins.output)}') has no ONNX export",
                             hint=f"the ops that export: {', '.join(sorted(EXPORTS))}; a new op needs an entry in "
                                  f"nngraph/export/ops.py ({did_you_mean(ins.op.name, EXPORTS)})")
        entry(g, ins, output_shape(g, ins))


def output_shape(g: OnnxGraph, ins: Instr):
    """The op's shape rule on the shapes of its inputs (parameters and buffers whole, other inputs per example;
    an unbatched input that is neither, such as the loss rows, as None)."""
    shapes = tuple(None if s is None or (i in ins.op.params and g.constant(s) is None) else g.shape(s)
                   for i, s in enumerate(ins.inputs))
    return ins.op.shape(shapes, ins.attrs)


def _first(output) -> str:
    return output[0] if isinstance(output, tuple) else output


def _emit(g: OnnxGraph, ins: Instr, shape, op_type: str, inputs, **attrs) -> None:
    """One node computing the instruction's output slot."""
    g.set(ins.output, g.node(op_type, inputs, ins.output, **attrs), shape)


# ---- activations ------------------------------------------------------------------------------------

_ELEMENTWISE = {"identity": "Identity", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
                "softplus": "Softplus"}


def _elementwise(op_type: str):
    def export(g, ins, shape):
        _emit(g, ins, shape, op_type, [g.value(ins.inputs[0])])
    return export


for _name, _type in _ELEMENTWISE.items():
    EXPORTS[_name] = _elementwise(_type)


@exports("leaky_relu")
def _leaky_relu(g, ins, shape):
    _emit(g, ins, shape, "LeakyRelu", [g.value(ins.inputs[0])], alpha=float(ins.attrs.get("slope", 0.01)))


@exports("elu")
def _elu(g, ins, shape):
    _emit(g, ins, shape, "Elu", [g.value(ins.inputs[0])], alpha=float(ins.attrs.get("alpha", 1.0)))


@exports("softmax")
def _softmax(g, ins, shape):
    _emit(g, ins, shape, "Softmax", [g.value(ins.inputs[0])], axis=-1)


# ---- linear ops -------------------------------------------------------------------------------------


def flat_rows(g: OnnxGraph, slot: str) -> str:
    """A slot as (rows, features): dense flattens each example."""
    if len(g.shape(slot)) == 1:
        return g.value(slot)
    return g.node("Flatten", [g.value(slot)], f"{slot}:flat", axis=1)


@exports("dense_activation", "conv2d_activation", "conv2d_rectified")
def _with_activation(g, ins, shape):
    """What compile/fuse.py made of a dense layer or a convolution (on the CUDA path; a rectified one on the
    CPU): its two instructions again."""
    export_instrs(g, unfused(ins))


@exports("dense", "matmul")
def _dense(g, ins, shape):
    x, weight = flat_rows(g, ins.inputs[0]), g.value(ins.inputs[1])
    bias = ins.inputs[2] if len(ins.inputs) > 2 else None
    if bias is None:
        _emit(g, ins, shape, "MatMul", [x, weight])
    else:
        _emit(g, ins, shape, "Gemm", [x, weight, g.value(bias)])


@exports("autoregressive_dense")
def _autoregressive_dense(g, ins, shape):
    """x triu(W, 1) + b: the masked weight is just a weight, exported with its mask applied (its masked entries
    are zero already; masking again keeps the graph right whatever they hold)."""
    weight = g.initializer(ins.inputs[1].split(":", 1)[1], np.triu(g.constant(ins.inputs[1]), 1))
    inputs = [flat_rows(g, ins.inputs[0]), weight] + [g.value(s) for s in ins.inputs[2:] if s is not None]
    _emit(g, ins, shape, "Gemm" if len(inputs) > 2 else "MatMul", inputs)


@exports("dense_transposed")
def _dense_transposed(g, ins, shape):
    """x W^T + b through another link's weight (a tied link): the one initializer, read transposed."""
    inputs = [flat_rows(g, ins.inputs[0])] + [g.value(s) for s in ins.inputs[1:] if s is not None]
    _emit(g, ins, shape, "Gemm", inputs, transB=1)


@exports("add")
def _add(g, ins, shape):
    _emit(g, ins, shape, "Sum", [g.value(s) for s in ins.inputs])


@exports("concat")
def _concat(g, ins, shape):
    _emit(g, ins, shape, "Concat", [g.value(s) for s in ins.inputs], axis=1)


@exports("bias_add")
def _bias_add(g, ins, shape):
    """One bias per channel (axis 1 of z) broadcasts as (C, 1, 1, ...), one per value as z's example shape
    (ops/dense.py: `_bias_view`)."""
    z, bias = ins.inputs
    count = g.shape(bias)[0]
    view = (count,) + (1,) * (len(shape) - 1) if count == shape[0] else shape
    _emit(g, ins, shape, "Add", [g.value(z), reshaped(g, bias, view)])


def reshaped(g: OnnxGraph, slot: str, shape) -> str:
    """A parameter or buffer (or any other value) with another whole shape: a constant keeps its name."""
    constant = g.constant(slot)
    if constant is not None:
        return g.initializer(slot.split(":", 1)[1], constant.reshape(shape))
    return g.node("Reshape", [g.value(slot), g.ints(shape)], f"{slot}:shaped")


@exports("reshape")
def _reshape(g, ins, shape):
    # 0 keeps the first axis: the examples, or a recurrent plan's rows
    _emit(g, ins, shape, "Reshape", [g.value(ins.inputs[0]), g.ints([0, *ins.attrs["shape"]])])


# ---- normalisation -----------------------------------------------------------------------------------


@exports("batch_norm_eval")
def _batch_norm_eval(g, ins, shape):
    """Per channel (axis 1) with the running statistics, the buffers `NAME.norm.running_mean`, `..._var`."""
    _emit(g, ins, shape, "BatchNormalization", [g.value(s) for s in ins.inputs], epsilon=float(ins.attrs["eps"]))


@exports("layer_norm")
def _layer_norm(g, ins, shape):
    """Over all the values of an example; the scale and shift, one per value, shaped as the example."""
    x, weight, bias = ins.inputs
    _emit(g, ins, shape, "LayerNormalization", [g.value(x), reshaped(g, weight, shape), reshaped(g, bias, shape)],
          axis=1, epsilon=float(ins.attrs["eps"]))


# ---- convolution and pooling --------------------------------------------------------------------


def _onnx_pads(pads) -> list[int]:
    top, bottom, left, right = pads
    return [top, left, bottom, right]


@exports("conv2d")
def _conv2d(g, ins, shape):
    x, weight = ins.inputs[0], ins.inputs[1]
    kernel = g.shape(weight)[2:]
    geo = geometry(g.shape(x)[1:], kernel, ins.attrs.get("stride", 1), ins.attrs.get("padding", 0))
    _emit(g, ins, shape, "Conv", [g.value(s) for s in ins.inputs if s is not None], kernel_shape=list(kernel),
          strides=list(geo.stride), pads=_onnx_pads(geo.pads))


def _pool(op_type: str, **extra):
    def export(g, ins, shape):
        kernel = ins.attrs["kernel"]
        geo = geometry(g.shape(ins.inputs[0])[1:], kernel, ins.attrs.get("stride") or kernel,
                       ins.attrs.get("padding", 0))
        _emit(g, ins, shape, op_type, [g.value(ins.inputs[0])], kernel_shape=list(geo.kernel),
              strides=list(geo.stride), pads=_onnx_pads(geo.pads), **extra)
    return export


EXPORTS["maxpool2d"] = _pool("MaxPool")  # a padded value never wins, as nngraph's -inf padding
EXPORTS["avgpool2d"] = _pool("AveragePool", count_include_pad=1)  # padding counts, as in ops/pool.py


# ---- upsampling ---------------------------------------------------------------------------------------

# ops/upsample.py's interpolations: nearest reads source pixel out // factor (`asymmetric` coordinates,
# rounded down); the others align pixel centres (`half_pixel`), Keys' cubic at a = -0.5, edge pixels repeated
_RESIZE = {"nearest": dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
           "bilinear": dict(mode="linear", coordinate_transformation_mode="half_pixel"),
           "bicubic": dict(mode="cubic", coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.5,
                           exclude_outside=0)}


@exports("upsample2d")
def _upsample2d(g, ins, shape):
    fh, fw = pair(ins.attrs.get("factor", 2))
    scales = g.initializer(f"scales[1, 1, {fh}, {fw}]", np.asarray([1, 1, fh, fw], np.float32))
    _emit(g, ins, shape, "Resize", [g.value(ins.inputs[0]), "", scales], **_RESIZE[ins.attrs.get("mode", "nearest")])


@exports("conv_transpose2d")
def _conv_transpose2d(g, ins, shape):
    kernel = g.shape(ins.inputs[1])[2:]
    stride, padding = pair(ins.attrs.get("stride", 1)), pair(ins.attrs.get("padding", 0))
    _emit(g, ins, shape, "ConvTranspose", [g.value(s) for s in ins.inputs if s is not None],
          kernel_shape=list(kernel), strides=list(stride), pads=[*padding, *padding])


@exports("pixel_shuffle")
def _pixel_shuffle(g, ins, shape):
    _emit(g, ins, shape, "DepthToSpace", [g.value(ins.inputs[0])], blocksize=int(ins.attrs.get("factor", 2)),
          mode="CRD")


# ---- sampling -----------------------------------------------------------------------------------------


@exports("gaussian_sample")
def _gaussian_sample(g, ins, shape):
    """mu + exp(logvar / 2) * eps with eps at zero: a VAE exports its latent at the mean, as it predicts."""
    mu, _, eps = ins.inputs
    if not g.is_zero(eps):
        raise BuildError(f"sample unit '{ins.output}' draws noise; it exports at its mean only (eps = 0)")
    _emit(g, ins, shape, "Identity", [g.value(mu)])


# ---- sequences (time-major rows) ------------------------------------------------------------------


def blocks(g: OnnxGraph, slot: str, name: str) -> str:
    """A time-major slot viewed as (steps, batch, *shape)."""
    return g.node("Reshape", [g.value(slot), g.dims(-1, BATCH, *g.shape(slot))], name)


def rows(g: OnnxGraph, value: str, shape, name: str) -> str:
    """(steps, batch, *shape) back to time-major rows."""
    return g.node("Reshape", [value, g.ints([-1, *shape])], name)


def take_steps(g: OnnxGraph, value: str, start: int, stop: int, name: str) -> str:
    """Steps [start, stop) of a (steps, batch, ...) value (stop may count from the end, as in Python)."""
    return g.node("Slice", [value, g.ints([start]), g.ints([stop]), g.ints([0], "axes")], name)


@exports("delayed")
def _delayed(g, ins, shape):
    """`value` k steps back: the last k of the `depth` initial blocks, then value's steps but the last k."""
    value, initial = ins.inputs
    k, depth = ins.attrs["k"], ins.attrs["depth"]
    past = take_steps(g, blocks(g, initial, f"{initial}:steps"), depth - k, depth, f"{ins.output}:initial")
    joined = g.node("Concat", [past, blocks(g, value, f"{value}:steps")], f"{ins.output}:joined", axis=0)
    shifted = take_steps(g, joined, 0, -k, f"{ins.output}:steps")
    g.set(ins.output, rows(g, shifted, shape, ins.output), shape)


@exports("take_rows")
def _take_rows(g, ins, shape):
    """The loss rows of a window: every row when a model predicts (no rows are picked)."""
    _emit(g, ins, shape, "Identity", [g.value(ins.inputs[0])])


@exports("columns")
def _columns(g, ins, shape):
    start, stop = ins.attrs["start"], ins.attrs["stop"]
    _emit(g, ins, shape, "Slice", [g.value(ins.inputs[0]), g.ints([start]), g.ints([stop]), g.ints([1], "axes")])


# ---- gated cells, one step (a loop that ONNX's LSTM, GRU and RNN ops do not run exactly) ------------


def _gate_blocks(g: OnnxGraph, value: str, count: int, width: int, name: str) -> list[str]:
    return g.node("Split", [value, g.ints([width] * count, "split")], name, outputs=count, axis=1)


def _binary(g, op_type, a, b, name):
    return g.node(op_type, [a, b], name)


@exports("lstm_gates")
def _lstm_gates(g, ins, shape):
    """[h, c] of one LSTM step from a = x_proj + h_prev U, gate blocks i, f, g, o (ops/recurrent.py)."""
    a, c_prev = ins.inputs
    width, out = g.shape(c_prev)[0], ins.output
    i, f, cand, o = _gate_blocks(g, g.value(a), 4, width, f"{out}:blocks")
    i, f, o = (g.node("Sigmoid", [v], f"{out}:{n}") for v, n in ((i, "i"), (f, "f"), (o, "o")))
    cand = g.node("Tanh", [cand], f"{out}:g")
    kept = _binary(g, "Mul", f, g.value(c_prev), f"{out}:kept")
    c = _binary(g, "Add", kept, _binary(g, "Mul", i, cand, f"{out}:written"), f"{out}:c")
    h = _binary(g, "Mul", o, g.node("Tanh", [c], f"{out}:tanh_c"), f"{out}:h")
    _emit(g, ins, shape, "Concat", [h, c], axis=1)


def _gated_update(g, out: str, gate: str, candidate: str, h_prev: str) -> str:
    """(1 - z) n + z h_prev, written n + z (h_prev - n) as the cells' ops compute it (backend/twins.py:
    gru_step_forward; ops/recurrent.py: mgu_gates)."""
    change = _binary(g, "Mul", gate, _binary(g, "Sub", h_prev, candidate, f"{out}:to_prev"), f"{out}:kept")
    return _binary(g, "Add", candidate, change, out)


@exports("gru_gates")
def _gru_gates(g, ins, shape):
    """One GRU step, blocks r, z, n: n = tanh(x_n + r hu_n), h = (1 - z) n + z h_prev (PyTorch's)."""
    x_proj, hu, h_prev = ins.inputs
    width, out = g.shape(h_prev)[0], ins.output
    x_r, x_z, x_n = _gate_blocks(g, g.value(x_proj), 3, width, f"{out}:x_blocks")
    u_r, u_z, u_n = _gate_blocks(g, g.value(hu), 3, width, f"{out}:hu_blocks")
    r = g.node("Sigmoid", [_binary(g, "Add", x_r, u_r, f"{out}:r_in")], f"{out}:r")
    z = g.node("Sigmoid", [_binary(g, "Add", x_z, u_z, f"{out}:z_in")], f"{out}:z")
    n = g.node("Tanh", [_binary(g, "Add", x_n, _binary(g, "Mul", r, u_n, f"{out}:reset"), f"{out}:n_in")],
               f"{out}:n")
    g.set(out, _gated_update(g, out, z, n, g.value(h_prev)), shape)


@exports("mgu_gates")
def _mgu_gates(g, ins, shape):
    """One MGU step: f = sigmoid(x_f + hu_f), n = tanh(x_n + f hu_n), h = n + f (h_prev - n)."""
    x_proj, hu, h_prev = ins.inputs
    width, out = g.shape(h_prev)[0], ins.output
    x_f, x_n = _gate_blocks(g, g.value(x_proj), 2, width, f"{out}:x_blocks")
    u_f, u_n = _gate_blocks(g, g.value(hu), 2, width, f"{out}:hu_blocks")
    f = g.node("Sigmoid", [_binary(g, "Add", x_f, u_f, f"{out}:f_in")], f"{out}:f")
    n = g.node("Tanh", [_binary(g, "Add", x_n, _binary(g, "Mul", f, u_n, f"{out}:gated"), f"{out}:n_in")],
               f"{out}:n")
    g.set(out, _gated_update(g, out, f, n, g.value(h_prev)), shape)
