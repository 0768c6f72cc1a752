"""`nngraph export`: what it says and writes, what Netron shows of the file, and its errors (exit code 1, a
positioned message, no file written, never a traceback)."""

import json
import sys
from unittest import mock

import onnx
import pytest

from tests.cli.helpers import run_cli, write

from .helpers import SPECS, train_briefly


@pytest.fixture(scope="module")
def xor(tmp_path_factory):
    """A checkpoint of specs/xor.nn after one epoch."""
    return train_briefly(SPECS / "xor.nn", tmp_path_factory.mktemp("xor"))[1]


def test_it_writes_the_model_and_says_what_goes_in_and_out(xor, tmp_path):
    output = tmp_path / "models" / "xor.onnx"  # a missing folder is made
    result = run_cli("export", SPECS / "xor.nn", "--checkpoint", xor, "-o", output)
    assert result.code == 0, result.both
    assert result.out == f"wrote {output}: model xor, x[batch, 2] -> y[batch, 1] (ONNX opset 17)\n"
    model = onnx.load(output)
    assert model.opset_import[0].version == 17 and model.producer_name == "nngraph"


def test_netron_shows_the_units_and_connections_by_name(xor, tmp_path):
    """Node names are the plan's slots (a unit's value, its pre-activation); initializers keep the
    parameters' names."""
    output = tmp_path / "xor.onnx"
    assert run_cli("export", SPECS / "xor.nn", "--checkpoint", xor, "-o", output).code == 0
    graph = onnx.load(output).graph
    assert [(n.name, n.op_type) for n in graph.node] == [("h:z", "Gemm"), ("h", "Tanh"), ("y:z", "Gemm"),
                                                         ("y", "Sigmoid")]
    assert [i.name for i in graph.initializer] == ["x->h.weight", "h.bias", "h->y.weight", "y.bias"]
    assert graph.name == "xor" and [v.name for v in graph.input] == ["x"] and [v.name for v in graph.output] == ["y"]


def test_a_part_the_method_does_not_make_is_an_error(xor, tmp_path):
    output = tmp_path / "xor.onnx"
    result = run_cli("export", SPECS / "xor.nn", "--checkpoint", xor, "-o", output, "--part", "encoder")
    assert result.code == 1 and not output.exists()
    assert result.err == ("error: method 'backprop' has no part 'encoder' to export\n"
                          "  hint: it exports one graph: leave --part out\n")


def test_a_checkpoint_of_another_spec_is_refused(xor, tmp_path):
    other = write(tmp_path, "other.nn", (SPECS / "xor.nn").read_text().replace("h[4]", "h[5]"))
    result = run_cli("export", other, "--checkpoint", xor, "-o", tmp_path / "x.onnx")
    assert result.code == 1 and "error:" in result.err and "Traceback" not in result.both
    assert not (tmp_path / "x.onnx").exists()


def test_a_folder_as_the_output_is_refused(xor, tmp_path):
    result = run_cli("export", SPECS / "xor.nn", "--checkpoint", xor, "-o", tmp_path)
    assert result.code == 1 and f"cannot write {tmp_path}: it is a folder" in result.err


def test_without_the_onnx_package_it_says_how_to_get_it(xor, tmp_path):
    with mock.patch.dict(sys.modules, {"onnx": None}):
        result = run_cli("export", SPECS / "xor.nn", "--checkpoint", xor, "-o", tmp_path / "x.onnx")
    assert result.code == 1 and "error: nngraph export needs the onnx package" in result.err
    assert "hint: pip install 'nngraph[onnx]'" in result.err


def test_a_character_model_carries_its_vocabulary(tmp_path):
    """Its input is one-hot rows: the metadata says which character each column stands for."""
    spec = SPECS / "char_rnn.nn"
    checkpoint = train_briefly(spec, tmp_path / "run")[1]
    assert run_cli("export", spec, "--checkpoint", checkpoint, "-o", tmp_path / "c.onnx").code == 0
    props = {p.key: p.value for p in onnx.load(tmp_path / "c.onnx").metadata_props}
    text = (SPECS / "text" / "networks.txt").read_text(encoding="utf-8")
    assert sorted(json.loads(props["vocabulary"])) == sorted(set(text))


@pytest.mark.parametrize("target", ["spec", "checkpoint"])
def test_the_spec_and_the_checkpoint_are_never_overwritten(xor, tmp_path, target):
    spec = write(tmp_path, "xor.nn", (SPECS / "xor.nn").read_text())
    output = {"spec": spec, "checkpoint": xor}[target]
    before = output.read_bytes()
    result = run_cli("export", spec, "--checkpoint", xor, "-o", output)
    assert result.code == 1 and f"is the {target} being exported" in result.err
    assert output.read_bytes() == before
