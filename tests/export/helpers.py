"""Shared pieces of the export tests: brief training runs, the export command, ONNX Runtime, and what nngraph
itself computes for the same inputs (the methods' `predict`, which `nngraph predict` runs)."""

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from tests.cli.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
TOLERANCE = 1e-5  # float32, max abs difference
ROWS = 256  # examples compared per spec


def train_briefly(spec: Path, folder: Path, overrides=("epochs=1",)):
    """(checked spec, checkpoint) of a one-epoch run of `spec` in `folder`."""
    checked = nngraph.load(spec, list(overrides))
    nngraph.fit(checked, out=folder)
    return checked, folder / "checkpoint.npz"


def export(spec: Path, checkpoint: Path, output: Path, part: str | None = None):
    """`nngraph export` in-process: the loaded ONNX model, checked in full (shapes and types inferred)."""
    result = run_cli("export", spec, "--checkpoint", checkpoint, "-o", output, *(["--part", part] if part else []))
    assert result.code == 0 and f"wrote {output}" in result.out, result.both
    model = onnx.load(output)
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(path: Path, feeds: dict, dtype=np.float32) -> dict:
    """Every output of the ONNX model at `path` (or a ModelProto), by name, for inputs by name."""
    source = path.SerializeToString() if isinstance(path, onnx.ModelProto) else str(path)
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    arrays = session.run(names, {k: np.asarray(v, dtype) for k, v in feeds.items()})
    return dict(zip(names, arrays))


def onnx_rounding(path: Path, feeds: dict, got: dict) -> dict:
    """Per output, max |float32 - float64| of ONNX Runtime's own results: the model run again with its float
    tensors made double. ONNX Runtime's float32 kernels round in their own order (a recurrence can amplify it
    past nngraph's own float32 rounding), and no float32 implementation can be held closer than that."""
    exact = run_onnx(float64_model(onnx.load(path)), feeds, np.float64)
    return {name: float(np.abs(got[name] - exact[name]).max()) for name in got}


# no float64 kernel in ONNX Runtime's CPU provider: they compute in float32 between casts
SINGLE_OPS = ("Conv", "ConvTranspose", "RNN", "GRU", "LSTM", "Resize", "AveragePool")


def float64_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` that computes in float64: its float tensors, values and constants made double. The
    SINGLE_OPS still round in float32, so the rounding measured against it leaves theirs out (an underestimate)."""
    model = copy.deepcopy(model)
    integers = {t.name for t in model.graph.initializer if t.data_type != TensorProto.FLOAT}
    for tensor in model.graph.initializer:
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(_double(tensor))
    _make_double(model.graph, integers)
    return model


def _in_float32(graph, integers: set) -> None:
    """Each node of SINGLE_OPS given float32 casts of its inputs (but `integers`), its output cast back."""
    nodes = []
    for node in graph.node:
        if node.op_type not in SINGLE_OPS:
            nodes.append(node)
            continue
        for i, name in enumerate(node.input):
            if name and name not in integers:
                nodes.append(helper.make_node("Cast", [name], [f"{name}:single:{node.name}"], to=TensorProto.FLOAT))
                node.input[i] = f"{name}:single:{node.name}"
        result = node.output[0]
        node.output[0] = f"{result}:single"
        nodes += [node, helper.make_node("Cast", [node.output[0]], [result], to=TensorProto.DOUBLE)]
    graph.ClearField("node")
    graph.node.extend(nodes)


def _double(tensor):
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float64), tensor.name)


def _make_double(graph, integers: set) -> None:
    """The graph's float values, constants and casts made double; subgraphs (Scan bodies) too."""
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT:
            info.type.tensor_type.elem_type = TensorProto.DOUBLE
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
            zero = numpy_helper.from_array(np.zeros(1, np.float64))
            node.attribute.append(helper.make_attribute("value", zero))  # float32 by default
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _make_double(attr.g, integers)
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(_double(attr.t))
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.DOUBLE
    _in_float32(graph, integers)


def compared_rows(session, pack: int = 1) -> np.ndarray:
    """Up to ROWS examples of the test split, else the validation split, else the training split."""
    splits = session.splits
    data = next(s for s in (splits.test, splits.validation, splits.train) if s is not None and len(s))
    count = min(ROWS, len(data)) // pack * pack
    return data.x[:count]


def assert_matches(got: dict, want: dict, rounding: dict | None = None) -> None:
    """ONNX Runtime's outputs against nngraph's, unit by unit, within TOLERANCE. `rounding` (unit -> the max
    difference between a float32 result and the float64 one on the same data: nngraph's, ONNX Runtime's or
    their sum) widens it by as much: float32 rounding alone moves each result that far from the exact one."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    for unit, expected in want.items():
        expected = np.asarray(expected)
        assert got[unit].shape == expected.shape, (unit, got[unit].shape, expected.shape)
        difference = float(np.abs(got[unit] - expected).max())
        allowed = TOLERANCE + (rounding or {}).get(unit, 0.0)
        assert difference <= allowed, f"{unit}: max abs difference {difference:.3g} > {allowed:.3g}"


def float64_rounding(method, feeds: dict, want: dict) -> dict:
    """Per unit, max |float32 - float64| of nngraph's own forward pass (the method's program, recompiled in
    float64 with the same parameters) on these inputs."""
    program = method.program
    twin = compile_model(method.model, method.config.loss, get_backend("numpy", "float64"))
    for name in program.params:
        twin.set(name, program.get(name).astype(np.float64))
    values = twin.forward({k: np.asarray(v, np.float64) for k, v in feeds.items()})
    return {unit: float(np.abs(np.asarray(values[unit]) - want[unit]).max()) for unit in want}


def feeds_of(method, x: np.ndarray) -> dict:
    """The model's inputs by unit, as the method's `predict` splits (and for text, one-hot encodes) x."""
    return method.inputs(x if x.dtype.kind in "iu" else x.astype(np.float32))  # text codes become one-hot
