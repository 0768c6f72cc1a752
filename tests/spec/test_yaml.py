"""The YAML surface: same AST as .nn, exact round trips, positioned errors; and load.py."""

import re
from pathlib import Path

import pytest
from hypothesis import given

from nngraph.errors import SourceError, SpecSyntaxError
from nngraph.spec import ast
from nngraph.spec.format import format_spec
from nngraph.spec.load import convert, load_spec, load_spec_text
from nngraph.spec.parser import parse
from nngraph.spec.yaml_surface import parse_yaml, to_yaml

from .test_format import CONSTRUCT_SPECS, ROUND_TRIP_SETTINGS, specs

REPO_SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.nn"))


def assert_round_trips(spec: ast.Spec) -> None:
    back = parse_yaml(to_yaml(spec), "rt.yaml")
    assert back == spec
    assert parse(format_spec(back)) == back


@pytest.mark.parametrize("name", sorted(CONSTRUCT_SPECS))
def test_nn_to_yaml_to_nn(name):
    assert_round_trips(parse(CONSTRUCT_SPECS[name]))


@pytest.mark.skipif(not REPO_SPECS, reason="specs/ holds no .nn file yet")
@pytest.mark.parametrize("path", REPO_SPECS, ids=lambda p: p.name)
def test_repo_specs_round_trip(path):
    spec = load_spec(path)
    assert_round_trips(spec)
    assert parse(format_spec(spec)) == spec


@ROUND_TRIP_SETTINGS
@given(specs)
def test_random_asts_survive_yaml(spec):
    assert_round_trips(spec)


BRIEF_YAML = """\
model xor:                       # a comment
  units:
    - input x[2]
    - layer h[4] tanh dropout=0.5
    - output y[1] sigmoid
  connections:
    - x -> h -> y
    - h -> h delay 1
  uses:
    - use b1 = conv_pool(filters=8)
block conv_pool(filters):
  units: [layer c relu]
train:
  model: xor
  data: xor(n=200)
  loss: bce(y) + 0.5 * kl(z)
  optimizer: sgd(lr=0.5, momentum=0.9)
  batch: 4
  lr: 1e-3
  early_stopping: {monitor: val_loss, patience: 10}
  method: {value: cd(k=1), chains: 100}
  shuffle:
  verbose: true
  sizes: [1, [2], []]
"""

BRIEF_NN = """\
model xor {
  input x[2]; layer h[4] tanh dropout=0.5; output y[1] sigmoid
  use b1 = conv_pool(filters=8)
  x -> h -> y; h -> h delay 1
}
block conv_pool(filters) { layer c relu }
train {
  model xor; data xor(n=200); loss bce(y) + 0.5 * kl(z)
  optimizer sgd(lr=0.5, momentum=0.9); batch 4; lr 0.001
  early_stopping monitor=val_loss patience=10; method cd(k=1) chains=100
  shuffle; verbose true; sizes [1, [2], []]
}
"""


def test_hand_written_yaml_means_the_same_as_nn():
    # Sections are read as units, uses, connections whatever their order in the file.
    assert parse_yaml(BRIEF_YAML, "b.yaml") == parse(BRIEF_NN)


def test_yaml_scalars_are_nn_text():
    train = parse_yaml(BRIEF_YAML, "b.yaml").trains[0]
    assert train.get("verbose").value == ast.Ref("true")
    assert train.get("lr").value == ast.Number(0.001)
    assert train.get("batch").value == ast.Number(4)
    assert train.get("shuffle") == ast.Setting("shuffle")
    data = parse_yaml("train:\n  data: '\"digits.npz\"'\n  n: -3", "s.yaml").trains[0]
    assert data.get("data").value == ast.String("digits.npz")
    assert data.get("n").value == ast.Negate(ast.Number(3))


def test_spans_point_into_the_yaml_file():
    spec = parse_yaml(BRIEF_YAML, "b.yaml")
    units = spec.models[0].statements
    assert str(units[1].span) == "b.yaml:4:7"
    train = spec.trains[0]
    assert str(train.get("loss").value.right.span) == "b.yaml:16:18"
    kwargs = train.get("early_stopping").kwargs
    assert [str(k.value.span) for k in kwargs] == ["b.yaml:20:29", "b.yaml:20:49"]


def test_spans_of_quoted_and_block_scalars():
    text = 'model m:\n  units:\n    - "layer h"\n    - |\n      input x\n'
    quoted, block = parse_yaml(text, "q.yaml").models[0].statements
    assert (quoted.span.line, quoted.span.column) == (3, 8)
    assert (block.span.line, block.span.column) == (5, 7)


def test_emitter_keeps_sections_only_when_order_allows():
    grouped = to_yaml(parse("model m { input x\n use u = f()\n x -> y }"))
    assert "units:" in grouped and "uses:" in grouped and "statements:" not in grouped
    mixed = to_yaml(parse("model m { x -> y\n input x }"))
    assert "statements:\n    - x -> y\n    - input x" in mixed


def test_repeated_names_use_list_forms():
    spec = parse("train { loss a\n loss b }\ntrain { }\nmodel m { }")
    text = to_yaml(spec)
    assert text.startswith("- train:\n    - loss a\n    - loss b\n")
    assert parse_yaml(text, "l.yaml") == spec


# ---- errors: (yaml text, message pattern, line, column) -------------------------------------

ERRORS = [
    ("model m:\n  units: [a\n", r"invalid YAML", 3, 1),
    ("model m:\n\tunits: []\n", r"invalid YAML", 2, 1),
    ("model m: {}\ntrain: {}\nmodel m: {}\n", r"duplicate key 'model m' \(first on line 1\)", 3, 1),
    ("train:\n  lr: 1\n  lr: 2\n", r"duplicate key 'lr'", 3, 3),
    ("modle m: {}\n", r"unknown top-level key 'modle m'", 1, 1),
    ("model m:\n  unit: []\n", r"unknown section 'unit'", 2, 3),
    ("model m:\n  units: []\n  statements: []\n", r"cannot be mixed", 3, 3),
    ("model m:\n  - input x\n", r"expected a mapping of sections, found a list", 2, 3),
    ("model m:\n  units: input x\n", r"expected a list, found the text", 2, 10),
    ("model m:\n  units:\n    - {input: x}\n", r"expected a statement written as text", 3, 7),
    ("model m:\n  units:\n    - x -> y\n", r"'x -> y' is a connection, listed under", 3, 7),
    ("model m:\n  connections: [model -> b]\n", r"unexpected 'model'", 2, 17),
    ("model m:\n  units:\n    -\n", r"missing statement", 3, 6),
    ("train:\n  lr: ''\n", r"missing value", 2, 7),
    ("model m: {}\n---\nmodel n: {}\n", r"expected a single document", 2, 1),
    ("model m:\n  units:\n    - layer h[2\n", r"unexpected end of file", 3, 15),
    ("model m:\n  units:\n    - layer h = 1\n", r"unexpected '='", 3, 15),
    ("train:\n  lr: {value: {a: 1}}\n", r"cannot be a mapping", 2, 15),
    ("train:\n  es: {patience: }\n", r"missing value", 2, 17),
    ("train:\n  es: {2x: 1}\n", r"'2x' is not a keyword name", 2, 8),
    ("train:\n  input: 1\n", r"unexpected 'input'", 2, 3),
    ("train:\n  lr 0.1: 1\n", r"'lr 0.1' is not a setting name", 2, 3),
    ("train:\n  loss: bce(y\n", r"unexpected end of file", 2, 13),
    ("train: [[a]]\n", r"expected a one-key mapping", 1, 9),
    ("model a b: {}\n", r"unexpected 'b'", 1, 9),
    ("block b: {}\n", r"unexpected '\{'", 1, 9),
    ("model m:\n  units: &u [input x]\nmodel n:\n  units: *u\n", r"alias \*u", 4, 10),
    # tags outside the core schema were dropped without a word (`data: !custom xor` read as `data: xor`)
    ("train:\n  data: !custom xor\n", r"YAML tag !custom is not supported", 2, 9),
    ("x: !!python/object/apply:os.system [id]\n", r"YAML tag !!python/object/apply:os.system", 1, 4),
    ("train:\n  data: !!binary aGVsbG8=\n", r"YAML tag !!binary", 2, 9),
    ("[1, 2]\n", r"expected a one-key mapping", 1, 2),
    ("just text\n", r"expected a mapping at the top level", 1, 1),
    ("? [a]\n: 1\n", r"expected a key written as text", 1, 3),
    ("train:\n  - loss a; lr 1\n", r"expected one setting", 2, 5),
    # a lone carriage return is a line break to PyYAML, not to us (lines end at \n): the position is its offset's
    ("model m:\n  units:\n    - \rinput x[1]\n  connections:\n    - x -> y: z: w\n", r"could not find expected ':'",
     4, 14),
]


@pytest.mark.parametrize("text, pattern, line, column", ERRORS)
def test_yaml_errors_are_positioned(text, pattern, line, column):
    with pytest.raises(SpecSyntaxError, match=pattern) as info:
        parse_yaml(text, "bad.yaml")
    span = info.value.span
    assert (span.path, span.line, span.column) == ("bad.yaml", line, column)


def test_error_hints():
    with pytest.raises(SpecSyntaxError) as info:
        parse_yaml("modle m: {}\n", "h.yaml")
    assert info.value.hint == "did you mean 'model'?"
    with pytest.raises(SpecSyntaxError) as info:
        parse_yaml("model m:\n  conections: []\n", "h.yaml")
    assert info.value.hint == "did you mean 'connections'?"
    with pytest.raises(SpecSyntaxError) as info:
        parse_yaml("model m:\n  uses:\n    - layer h\n", "h.yaml")
    assert info.value.hint == "move it under `units:`"
    with pytest.raises(SpecSyntaxError) as info:
        parse_yaml("model m:\n\tunits: []\n", "h.yaml")
    assert info.value.hint == "YAML indents with spaces, not tabs"


def test_empty_yaml_is_a_source_error():
    with pytest.raises(SourceError, match="empty"):
        parse_yaml("# nothing\n", "e.yaml")


# ---- load.py ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nn", ".yaml", ".yml"])
def test_load_spec_picks_the_surface_by_suffix(tmp_path, suffix):
    spec = parse(CONSTRUCT_SPECS["xor"])
    path = tmp_path / f"xor{suffix}"
    path.write_text(convert(spec, "nn" if suffix == ".nn" else "yaml"), encoding="utf-8")
    loaded = load_spec(path)
    assert loaded == spec and loaded.path == str(path)
    assert load_spec_text(path.read_text("utf-8"), str(path)) == spec


def test_unknown_suffix_names_both_surfaces(tmp_path):
    with pytest.raises(SourceError, match=re.escape("unknown spec suffix '.json'")) as info:
        load_spec(tmp_path / "x.json")
    assert ".nn" in info.value.hint and ".yaml" in info.value.hint


def test_load_spec_refuses_what_read_source_refuses(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        load_spec(tmp_path / "missing.yaml")
    binary = tmp_path / "b.nn"
    binary.write_bytes(b"model\0")
    with pytest.raises(SourceError, match="binary"):
        load_spec(binary)


def test_convert_both_ways_and_refuses_other_targets():
    spec = parse(CONSTRUCT_SPECS["blocks"])
    assert parse(convert(spec, "nn")) == spec
    assert parse_yaml(convert(spec, "yaml"), "c.yaml") == spec
    with pytest.raises(ValueError, match="json"):
        convert(spec, "json")
