"""The export table op by op: small models that use every op a forward plan holds, in the shapes and layouts
the specs under specs/ leave out, each run by ONNX Runtime against nngraph's own forward pass with random
parameters (biases too, so no term hides behind a zero)."""

from dataclasses import replace

import numpy as np
import pytest

import nngraph
from nngraph.compile import compile_model
from nngraph.compile.plan import Instr
from nngraph.errors import BuildError
from nngraph.export import build_model
from nngraph.export.graph import OnnxGraph
from nngraph.export.ops import BATCH_DEPENDENT, EXPORTS, TRAINING_ONLY, export_instrs
from nngraph.export.products import forward_pass, product
from nngraph.ops import OPS, get_op

from .helpers import assert_matches, run_onnx

BATCH, STEPS = 5, 7


def randomised(program, seed: int = 0):
    """The program with every parameter drawn from N(0, 0.5^2), biases and initial states too, and its
    running statistics (batch normalisation's buffers) away from their start: means N(0, 0.5^2), variances
    uniform in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    for name, value in program.params.items():
        program.set(name, rng.normal(0.0, 0.5, value.shape))
    for name, value in program.buffers.items():
        low, high = (0.5, 2.0) if name.endswith("var") else (-0.5, 0.5)
        value[...] = rng.uniform(low, high, value.shape)
    return program


def check(text: str, tmp_path, inputs: dict, model: str | None = None) -> None:
    check_program(nngraph.program(nngraph.loads(text), model), tmp_path, inputs)


def check_program(program, tmp_path, inputs: dict) -> None:
    """ONNX Runtime on the export of `program` (parameters randomised) against the program's forward pass."""
    randomised(program)
    path = tmp_path / "model.onnx"
    path.write_bytes(build_model(forward_pass(program.eval_plan.model, program)).SerializeToString())
    values = program.forward(inputs)
    assert_matches(run_onnx(path, inputs), {u: values[u] for u in program.eval_plan.outputs})


def data(*shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_activations_sums_of_edges_two_inputs_and_an_identity_output(tmp_path):
    text = """model m {
      input a[3]
      input b[2]
      layer e[4] elu(alpha=0.5)
      layer s[4] softplus
      layer k[4] leaky_relu(slope=0.1)
      layer r[4] relu nobias
      output y[3] softmax
      output z[2] identity
      a -> e
      b -> s
      a -> k
      b -> k
      a -> r
      e -> y
      s -> y
      k -> y
      r -> y
      r -> z
    }"""
    check(text, tmp_path, {"a": data(BATCH, 3), "b": data(BATCH, 2)})


def test_convolution_pooling_and_a_bias_per_value(tmp_path):
    """Strided, padded convolution; overlapping, padded max and average pooling (a padded value never wins
    a max, and counts in an average); a unit fed by a conv and a dense edge has one bias per value."""
    text = """model m {
      input x[2, 9, 9]
      layer c relu
      layer mp
      layer ap
      layer both[2, 3, 3] tanh
      layer d[2, 3, 3] sigmoid
      output y[4] softmax
      x -> c conv(filters=3, kernel=3, stride=2, padding=1)
      c -> mp maxpool(kernel=3, stride=2, padding=1)
      c -> ap avgpool(kernel=3, stride=2, padding=1)
      mp -> both conv(filters=2, kernel=3, padding=same)
      ap -> both
      x -> d
      both -> y
      d -> y
    }"""
    check(text, tmp_path, {"x": data(BATCH, 2, 9, 9)})


def test_upsampling_links(tmp_path):
    """Resize (nearest, bilinear, bicubic: edges repeated, pixel centres aligned), ConvTranspose (strided,
    padded, with and without a bias) and DepthToSpace after a conv (ESPCN's sub-pixel convolution)."""
    text = """model m {
      input x[2, 4, 5]
      layer near
      layer lin
      layer cub
      layer d relu
      layer raw nobias
      layer c
      layer p
      output y[1, 8, 10] sigmoid
      x -> near upsample(2)
      x -> lin upsample(factor=2, mode=bilinear)
      x -> cub upsample(2, bicubic)
      x -> d deconv(filters=3, kernel=4, stride=2, padding=1)
      x -> raw deconv(filters=1, kernel=[2, 3], stride=[2, 1], padding=[0, 1])
      x -> c conv(filters=8, kernel=3, padding=1)
      c -> p pixelshuffle(2)
      near -> y conv(filters=1, kernel=3, padding=1)
      lin -> y conv(filters=1, kernel=1)
      cub -> y conv(filters=1, kernel=1)
      d -> y conv(filters=1, kernel=1)
      raw -> y upsample(factor=[1, 2])
      p -> y conv(filters=1, kernel=1)
    }"""
    check(text, tmp_path, {"x": data(BATCH, 2, 4, 5)})


def test_normalisation_residual_and_tied_links(tmp_path):
    """Batch normalisation per channel (of a conv unit and of a dense one) with its running statistics, layer
    normalisation of vectors and of images, an identity (residual) link, a link through another's weight."""
    text = """model m {
      input x[2, 5, 5]
      layer c relu batchnorm
      layer d[6] tanh batchnorm
      layer k[2, 3, 3] layernorm
      layer h[6] relu layernorm
      layer r[6] relu
      output y[3] softmax
      output back[6] sigmoid
      x -> c conv(filters=2, kernel=3)
      x -> d
      c -> k conv(filters=2, kernel=1)
      k -> h
      d -> h
      h -> r
      d -> r identity
      r -> y
      y -> back tied(r, y)
    }"""
    check(text, tmp_path, {"x": data(BATCH, 2, 5, 5)})


RECURRENT = {
    "stacked LSTMs with feedback (lstm_gates in a Scan)": """model m {
      input x[3] sequence
      layer h1[4] lstm
      layer h2[5] lstm
      output y[2] identity
      x -> h1 -> h2 -> y
      h2 -> h1 delay 1
    }""",
    "a GRU with output feedback (gru_gates in a Scan)": """model m {
      input x[3] sequence
      layer h[4] gru
      output y[2] tanh
      x -> h -> y
      y -> h delay 1
    }""",
    "an LSTM fed by two inputs (ONNX's LSTM on the prologue's sum)": """model m {
      input a[2] sequence
      input b[3] sequence
      layer h[4] lstm
      output y[1] sigmoid
      a -> h
      b -> h
      h -> y
    }""",
    "cells without biases (ONNX's LSTM, GRU and RNN)": """model m {
      input x[3] sequence
      layer l[4] lstm nobias
      layer g[3] gru nobias
      layer e[2] tanh nobias
      output y[2] identity
      x -> l -> g -> e -> y
      e -> e delay 1
    }""",
    "an Elman layer read two steps back from outside its loop (delayed, a state of two blocks)": """model m {
      input x[2] sequence
      layer h[4] tanh
      output y[3] softmax
      x -> h -> y
      h -> h delay 1
      h -> y delay 2
    }""",
    "bidirectional cells (ONNX's GRU, LSTM and RNN run in reverse)": """model m {
      input x[2] sequence
      layer a[3] gru bidirectional
      layer p[4] tanh
      layer b[2] lstm bidirectional
      layer q[3] relu
      layer e[3] tanh bidirectional
      output y[2] identity
      x -> a -> p -> b -> q -> e -> y
      e -> e delay 1
    }""",
    "a bidirectional MGU and relu recurrence (Scans in reverse)": """model m {
      input x[2] sequence
      layer u[3] mgu bidirectional
      layer p[4] tanh
      layer r[2] relu bidirectional
      output y[1] sigmoid
      x -> u -> p -> r -> y
      r -> r delay 1
    }""",
    "layer normalisation inside a loop, a learned state": """model m {
      input x[2] sequence
      layer h[4] tanh layernorm initial=learned
      layer l[3] lstm initial=learned
      output y[2] identity
      x -> h -> l -> y
      h -> h delay 1
    }""",
    "a relu recurrence and an MGU after a time-parallel layer": """model m {
      input x[2] sequence
      layer a[3] relu
      layer r[4] relu
      layer u[3] mgu
      output y[1] identity
      x -> a -> r -> u -> y
      r -> r delay 1
    }""",
}


def sequences(program, steps: int = STEPS) -> dict:
    return {unit: data(BATCH, steps, *program.eval_plan.shapes[unit], seed=i)
            for i, unit in enumerate(program.eval_plan.feeds)}


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_models(name, tmp_path):
    check(RECURRENT[name], tmp_path, sequences(nngraph.program(nngraph.loads(RECURRENT[name]))))


def test_a_window_shorter_than_a_delay_reads_the_state_before_it(tmp_path):
    text = next(text for name, text in RECURRENT.items() if "two steps back" in name)
    check(text, tmp_path, {"x": data(BATCH, 1, 2)})


@pytest.mark.parametrize("name", RECURRENT)
def test_learned_initial_states(name, tmp_path):
    """States before the first step that are not zeros (`learn_initial`, an API option): the first steps
    of ONNX's cell ops and of a Scan read them."""
    checked = nngraph.loads(RECURRENT[name])
    program = compile_model(next(iter(checked.models.values())), learn_initial=True)
    assert any(name.endswith(".initial") for name in program.params)
    check_program(program, tmp_path, sequences(program))


def test_every_op_of_a_forward_pass_has_an_export():
    """A new op needs its entry: only the training plans' own ops (dropout, batch_norm with its batch
    statistics), the batch-dependent ones (refused at their link) and the losses (scalars) never reach an
    export."""
    forward_ops = {name for name, op in OPS.items() if op.batched_output}
    forward_ops -= set(TRAINING_ONLY) | set(BATCH_DEPENDENT)
    assert forward_ops - set(EXPORTS) == set()


def test_an_op_without_an_export_is_an_error_naming_it():
    g = OnnxGraph({})
    g.set("h", "h", (3,))
    with pytest.raises(BuildError, match=r"op 'dropout' \(computing 'h:dropped'\) has no ONNX export"):
        export_instrs(g, [Instr(get_op("dropout"), ("h", "random:h.dropout"), "h:dropped")])


def test_a_method_without_an_export_is_an_error_naming_it():
    with pytest.raises(BuildError, match="method 'sarsa' has no ONNX export yet"):
        product("sarsa", object(), None)


def test_a_loop_with_an_attribute_the_export_does_not_know_is_refused():
    """A scan that runs otherwise (backwards, say) must not quietly export as a forward one."""
    program = nngraph.program(nngraph.loads(RECURRENT[next(iter(RECURRENT))]))
    plan = program.eval_plan
    plan.instrs = [replace(i, attrs={**i.attrs, "reverse": True}) if i.op.name == "scan" else i for i in plan.instrs]
    with pytest.raises(BuildError, match="has attributes the export does not know: reverse"):
        build_model(forward_pass(plan.model, program))
