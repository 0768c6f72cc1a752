"""One ONNX graph being built: its nodes, inputs and outputs, the parameters it reads, and the ONNX name and
per-example shape of every plan slot it has computed.

Value names are the plan's slot names (`h`, `h:z`, `x->h:out`), and parameters keep their names
(`x->h.weight`), so Netron shows the model's units and connections. Every node is named after its first
output, which is unique: ONNX wants each name assigned once across a graph and its subgraphs (a Scan's
body), so one registry of used names serves the root graph and every body made from it.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from nngraph.compile.plan import BUFFER, PARAM
from nngraph.errors import BuildError

FLOAT = TensorProto.FLOAT
BATCH, STEPS = "batch", "steps"  # the symbolic dimensions of inputs and outputs


class OnnxGraph:
    """A graph under construction. A body graph (`child`) shares its root's parameters, initializers and
    names, and reads any slot of the graphs around it by its outer name (ONNX's outer scope)."""

    def __init__(self, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray] | None = None,
                 parent: OnnxGraph | None = None):
        self.params = params
        self.buffers = buffers or {}  # non-trainable state (batch normalisation's running statistics)
        self.parent = parent
        self.root: OnnxGraph = parent.root if parent else self
        self.nodes: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.names: dict[str, str] = {}  # slot -> ONNX value name
        self.shapes: dict[str, tuple] = {}  # slot -> per-example shape
        self.zeros: set[str] = set()  # slots that hold zeros (`set_zero`)
        self.shape_vectors: dict[tuple, str] = {}  # `dims` made here, by their parts
        if parent is None:
            self.used: set[str] = set()
            self.initializers: dict[str, object] = {}
            self.batch: str | None = None  # int64 [1]: the batch size, where a layout needs it

    def child(self) -> OnnxGraph:
        return OnnxGraph(self.params, self.buffers, self)

    # ---- names ------------------------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        """`base`, or `base#2`, `base#3`... where that name is taken."""
        used, name, k = self.root.used, base, 1
        while name in used:
            k += 1
            name = f"{base}#{k}"
        used.add(name)
        return name

    def reserve(self, names) -> None:
        """Names the graph's inputs and outputs will take: no slot value may take them first."""
        self.root.used.update(names)

    def node(self, op_type: str, inputs, name: str, outputs: int = 1, **attrs):
        """Append a node named `name` (made unique); its output name, or a list of `outputs` names."""
        first = self.fresh(name)
        names = [first] + [self.fresh(f"{first}:{i}") for i in range(1, outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=first, **attrs))
        return first if outputs == 1 else names

    # ---- slots --------------------------------------------------------------------------------------

    def set(self, slot: str, name: str, shape) -> None:
        self.names[slot] = name
        self.shapes[slot] = tuple(shape)

    def value(self, slot: str) -> str:
        """The ONNX name of a slot: a parameter's or buffer's initializer, one computed here, or an outer
        graph's."""
        constant = self.constant(slot)
        if constant is not None:
            return self.initializer(slot.split(":", 1)[1], constant)
        return self._find(slot, "names").names[slot]

    def shape(self, slot: str) -> tuple:
        """A slot's per-example shape (a parameter's or buffer's whole shape)."""
        constant = self.constant(slot)
        if constant is not None:
            return tuple(constant.shape)
        return self._find(slot, "shapes").shapes[slot]

    def constant(self, slot: str) -> np.ndarray | None:
        """The value of a `param:NAME` or `buffer:NAME` slot; None for any other slot."""
        if slot.startswith(PARAM):
            return self.params[slot[len(PARAM):]]
        if slot.startswith(BUFFER):
            return self.buffers[slot[len(BUFFER):]]
        return None

    def _find(self, slot: str, table: str) -> OnnxGraph:
        """This graph or the nearest one around it whose `table` (names, shapes) holds the slot."""
        graph = self
        while graph is not None:
            if slot in getattr(graph, table):
                return graph
            graph = graph.parent
        raise BuildError(f"slot '{slot}' has no value in the exported graph",
                         hint="this is a bug in nngraph's ONNX export; please report it with the spec")

    def set_zero(self, slot: str, shape) -> None:
        """A slot that holds zeros (a VAE's eps at prediction): ops that read it export without it."""
        self.zeros.add(slot)
        self.shapes[slot] = tuple(shape)

    def is_zero(self, slot: str) -> bool:
        return slot in self._find(slot, "shapes").zeros

    # ---- constants and parameters ------------------------------------------------------------------

    def initializer(self, name: str, value: np.ndarray) -> str:
        """A tensor of the root graph under `name` (float arrays as float32); the same name and value
        give the same tensor, another value under a taken name a fresh name."""
        value = np.asarray(value, np.float32 if value.dtype.kind == "f" else value.dtype)
        known = self.root.initializers.get(name)
        if known is not None and np.array_equal(numpy_helper.to_array(known), value) and \
                numpy_helper.to_array(known).dtype == value.dtype:
            return name
        name = name if known is None and name not in self.root.used else self.fresh(name)
        self.root.used.add(name)
        self.root.initializers[name] = numpy_helper.from_array(value, name)
        return name

    def ints(self, values, name: str = "ints") -> str:
        """A constant int64 vector (shapes, axes, split sizes)."""
        return self.initializer(f"{name}{list(values)}", np.asarray(values, np.int64))

    def dims(self, *parts) -> str:
        """An int64 shape vector: each part an int, or BATCH for the data's batch size (root.batch)."""
        if BATCH not in parts:
            return self.ints(parts, "shape")
        if parts not in self.shape_vectors:
            pieces = [self.root.batch if part == BATCH else self.ints([part], "dim") for part in parts]
            self.shape_vectors[parts] = self.node("Concat", pieces, f"shape{list(parts)}", axis=0)
        return self.shape_vectors[parts]

    # ---- the graph ----------------------------------------------------------------------------------

    def add_input(self, name: str, shape, batch_dims=(BATCH,)) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, FLOAT, [*batch_dims, *shape]))
        self.root.used.add(name)
        return name

    def add_output(self, name: str, value: str, shape, batch_dims=(BATCH,)) -> None:
        """Graph output `name` holding `value`, through an Identity node where the names differ (then
        `name` was reserved, so no value took it)."""
        if value != name:
            self.nodes.append(helper.make_node("Identity", [value], [name], name=name))
        self.outputs.append(helper.make_tensor_value_info(name, FLOAT, [*batch_dims, *shape]))

    def make(self, name: str, doc: str = ""):
        initializers = list(self.initializers.values()) if self.parent is None else []
        return helper.make_graph(self.nodes, name, self.inputs, self.outputs, initializers, doc_string=doc)
