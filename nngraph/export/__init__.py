"""A trained model's forward pass as an ONNX file (`nngraph export`), for ONNX Runtime, Netron and the rest of
the ONNX world. Needs the `onnx` extra: `pip install 'nngraph[onnx]'`.

    products.py   what each training method exports (a plan, an RBM's hidden features, a VAE's or GAN's parts)
    plans.py      a plan's instructions from the wanted units back to the inputs; the data's layout
    ops.py        the export table: one function per op, writing its ONNX nodes
    scan.py       loops over time steps: ONNX's LSTM, GRU and RNN ops, or Scan
    graph.py      OnnxGraph: nodes, parameters and value names of the graph being built

The graph computes what `nngraph predict` computes, in float32 (tests/export check both on every spec's
data, to 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nngraph.errors import BuildError

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: runtimes that read opset 17 read it


@dataclass(frozen=True)
class Exported:
    path: Path
    model: str
    part: str | None  # where the method makes several
    inputs: tuple[str, ...]  # "x[batch, 2]"
    outputs: tuple[str, ...]


def export_onnx(checked, train_name, checkpoint, output, part: str | None = None) -> Exported:
    """Write the forward pass of the model that `checkpoint` holds (trained by `checked`'s train block
    `train_name`) to `output` as an ONNX model; `part` picks what to export where the method makes several."""
    _require_onnx()
    from nngraph.atomic import atomic_write_bytes, refuse_overwriting
    from nngraph.export.products import product

    refuse_overwriting(output, {"spec being exported": checked.spec.path, "checkpoint being exported": checkpoint},
                       "write to another name, e.g. -o model.onnx")
    config = checked.train(train_name)
    method = restore(checked, config, checkpoint)
    made = product(config.method.name, method, part, config.method.span)
    where = f"{checked.spec.path}, method {config.method.name}" + (f", part {made.part}" if made.part else "")
    model = build_model(made, where)
    atomic_write_bytes(output, model.SerializeToString())
    return Exported(Path(output), made.model, made.part, _signature(model.graph.input),
                    _signature(model.graph.output))


def build_model(made, doc: str = ""):
    """The checked ONNX model of a product."""
    import onnx
    from onnx import helper

    from nngraph import __version__
    from nngraph.export import scan  # noqa: F401  (registers the scan op's export)
    from nngraph.export.graph import OnnxGraph

    g = OnnxGraph(made.params, made.buffers)
    made.build(g)
    model = helper.make_model(g.make(made.model, doc), producer_name="nngraph", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    helper.set_model_props(model, made.metadata)
    model = onnx.shape_inference.infer_shapes(model)  # shapes on every edge, for Netron
    onnx.checker.check_model(model)
    return model


def restore(checked, config, checkpoint):
    """The training method of `config` holding a checkpoint's parameters (no data is loaded); the checkpoint
    must be of this spec's model (train/provenance.py)."""
    from nngraph.session import restore_trained

    return restore_trained(checked, config.name, checkpoint, command="export").method


def _signature(values) -> tuple[str, ...]:
    def dims(value):
        return ", ".join(d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim)
    return tuple(f"{v.name}[{dims(v)}]" for v in values)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise BuildError(f"nngraph export needs the onnx package ({e})", None,
                         "pip install 'nngraph[onnx]' (onnx, and onnxruntime to run the file)") from None
