"""The `scan` op's export: a loop of units over time steps (compile/scan.py).

A body with a pattern (compile/fused_scan.py: one LSTM, GRU or tanh layer whose only recurrence is its own;
not an MGU, which ONNX has no op for) becomes ONNX's LSTM, GRU or RNN op, the natural mapping. Their gates come in another order: nngraph keeps
PyTorch's, i f g o for the LSTM and r z n for the GRU; ONNX's LSTM wants i o f c and its GRU z r h. The
GRU runs with `linear_before_reset=1`, PyTorch's placement of the reset gate, with ONNX's R_bh at zero
(nngraph's GRU has no b_hn: ops/recurrent.py). Every other body becomes an ONNX `Scan` whose body graph
is the step's instructions exported through the same table; its state variables are the values the
step reads k steps back (`NAME@1` .. `NAME@depth`), its scan inputs the prologue's outputs, one step at a
time.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from nngraph.compile.scan import Carry, ScanBody
from nngraph.errors import BuildError
from nngraph.export.graph import BATCH, FLOAT, OnnxGraph
from nngraph.export.ops import blocks, export_instrs, exports, flat_rows, rows

# nngraph's gate blocks in the order ONNX's op reads them
GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "elman": [0]}
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "elman": "RNN"}


KNOWN_ATTRS = {"body", "shapes", "fused", "needs"}  # what a scan instruction holds today


@exports("scan")
def _scan(g: OnnxGraph, ins, shapes) -> None:
    unknown = sorted(set(ins.attrs) - KNOWN_ATTRS)
    if unknown:  # a loop that runs otherwise (backwards, say) must not export as a forward one
        raise BuildError(f"the loop computing {', '.join(ins.output)} has attributes the export does not know: "
                         f"{', '.join(unknown)}", hint="nngraph/export/scan.py needs to learn them")
    body: ScanBody = ins.attrs["body"]
    if body.pattern is not None and body.pattern.cell in ONNX_OP and body.pattern.mask is None:
        _cell_op(g, ins, body, shapes)
    else:
        _generic_scan(g, ins, body, shapes)


# ---- one LSTM, GRU or Elman layer: ONNX's own op ----------------------------------------------------


def _reordered(matrix: np.ndarray, cell: str) -> np.ndarray:
    """(G * H, ...) rows in ONNX's gate order, from nngraph's."""
    gates = np.split(matrix, len(GATE_ORDER[cell]))
    return np.concatenate([gates[i] for i in GATE_ORDER[cell]])


def _cell_op(g: OnnxGraph, ins, body: ScanBody, shapes) -> None:
    pattern = body.pattern
    cell = pattern.cell
    recurrent = g.constant(pattern.recurrent)  # (H, G * H): h_prev @ U
    width = recurrent.shape[0]
    x, w, bias = _cell_input(g, body, pattern)
    biases = np.concatenate([_reordered(bias, cell), np.zeros(len(bias), np.float32)])
    name = ins.output[0]  # the unit, or one direction of a bidirectional one (`h:reverse`)
    inputs = [x, g.initializer(f"{name} W ({ONNX_OP[cell]})", _reordered(w.T, cell)[None]),
              g.initializer(f"{name} R ({ONNX_OP[cell]})", _reordered(recurrent.T, cell)[None]),
              g.initializer(f"{name} B ({ONNX_OP[cell]})", biases[None]), "",
              _last_block(g, pattern.initial, pattern.blocks, f"{name}:initial_h")]
    if cell == "lstm":
        inputs.append(_last_block(g, pattern.cell_initial, 1, f"{name}:initial_c"))
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    direction = "reverse" if body.reverse else "forward"  # a reverse scan's output t is still step t's
    y = g.node(ONNX_OP[cell], inputs, f"{name}:{ONNX_OP[cell]}", hidden_size=width, direction=direction, **extra)
    g.set(name, rows(g, y, (width,), name), (width,))  # (steps, 1, batch, H) -> rows
    # an LSTM's stacked c (for a carried state) has no ONNX output: a plan that reads it fails in g.value


def _cell_input(g: OnnxGraph, body: ScanBody, pattern):
    """(X as (steps, batch, I), W as (I, G * H), the bias (G * H)): the layer's one dense input where it has
    one, else the prologue's output (every input projection and the bias) under an identity W."""
    if pattern.dense is not None:
        source, weight, bias = pattern.dense
        w = g.constant(weight)
        b = g.constant(bias) if bias else np.zeros(w.shape[1], np.float32)
        x = g.node("Reshape", [flat_rows(g, source), g.dims(-1, BATCH, w.shape[0])], f"{source}:steps")
        return x, w, b
    export_instrs(g, body.prologue)
    columns = g.shape(pattern.sequence)[0]
    x = blocks(g, pattern.sequence, f"{pattern.sequence}:steps")
    return x, np.eye(columns, dtype=np.float32), np.zeros(columns, np.float32)


def _last_block(g: OnnxGraph, slot: str, count: int, name: str) -> str:
    """The last of `count` blocks of batch rows, as (1, batch, *shape): a state before the first step."""
    whole = blocks(g, slot, f"{slot}:steps")
    return g.node("Slice", [whole, g.ints([count - 1]), g.ints([count]), g.ints([0], "axes")], name)


# ---- any other loop: ONNX Scan ------------------------------------------------------------------------


def _generic_scan(g: OnnxGraph, ins, body: ScanBody, shapes) -> None:
    export_instrs(g, body.prologue)
    name = "loop " + " ".join(dict.fromkeys(c.name for c in body.carries if ":" not in c.name)) + \
        (" (reverse)" if body.reverse else "")
    step = g.child()
    states = [(c, k) for c in body.carries for k in range(1, c.depth + 1)]
    initial = [_state_before(g, c, k, _carry_shape(body, shapes, c)) for c, k in states]
    for c, k in states:
        step.set(c.past(k), step.add_input(step.fresh(f"{c.past(k)} (state)"), _carry_shape(body, shapes, c)),
                 _carry_shape(body, shapes, c))
    for seq in body.sequences:
        step.set(seq, step.add_input(step.fresh(f"{seq} (step)"), g.shape(seq)), g.shape(seq))
    export_instrs(step, body.step)
    for c, k in states:  # the state one step later: the new value, then each past value one further back
        _body_output(step, c.value if k == 1 else c.past(k - 1), f"{c.past(k)} (next)")
    for slot in body.outputs:
        _body_output(step, slot, f"{slot} (out)")
    graph = step.make(name)
    sequences = [blocks(g, seq, f"{seq}:steps") for seq in body.sequences]
    backwards = [int(body.reverse)]  # a reverse scan runs last to first, and stacks its outputs in step order
    outs = g.node("Scan", initial + sequences, name, outputs=len(states) + len(body.outputs), body=graph,
                  num_scan_inputs=len(sequences), scan_input_directions=backwards * len(sequences),
                  scan_output_directions=backwards * len(body.outputs))
    for slot, stacked, shape in zip(ins.output, outs[len(states):], shapes):
        g.set(slot, rows(g, stacked, shape, slot), shape)


def _carry_shape(body: ScanBody, shapes, carry: Carry) -> tuple:
    return tuple(shapes[body.outputs.index(carry.value)])


def _state_before(g: OnnxGraph, carry: Carry, k: int, shape) -> str:
    """The value k steps before the first: block (blocks - k) of the initial state, as (batch, *shape)."""
    whole = blocks(g, carry.initial, f"{carry.initial}:steps")
    index = g.initializer(f"block {carry.blocks - k}", np.asarray(carry.blocks - k, np.int64))
    return g.node("Gather", [whole, index], f"{carry.past(k)}:initial", axis=0)


def _body_output(step: OnnxGraph, slot: str, name: str) -> None:
    """A body output of its own name (an Identity): ONNX gives each graph output its own value."""
    value = step.node("Identity", [step.value(slot)], name)
    step.outputs.append(helper.make_tensor_value_info(value, FLOAT, [BATCH, *step.shape(slot)]))
