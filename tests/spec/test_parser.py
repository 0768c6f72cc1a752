"""The .nn parser: the exact AST of every grammar construct, positioned syntax errors, unreadable inputs."""

import dataclasses

import pytest

from nngraph.errors import SourceError, Span, SpecSyntaxError
from nngraph.spec import ast as A
from nngraph.spec.parser import MAX_NESTING, MAX_SOURCE_BYTES, parse, parse_file, read_source

N, R, S, F = A.Number, A.Ref, A.String, A.Flag


def kw(name, value):
    return A.KeywordArg(name, value)


def statements(body: str) -> tuple:
    return parse("model m {\n" + body + "\n}").items[0].statements


def statement(body: str):
    (only,) = statements(body)
    return only


def setting(line: str) -> A.Setting:
    (only,) = parse("train {\n" + line + "\n}").items[0].settings
    return only


def arrow(target: str, *mods, kind: str = "->") -> A.Link:
    return A.Link(kind, R(target), tuple(mods))


# ---- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["input", "output", "layer", "visible", "hidden", "noise", "sample"])
def test_every_unit_role(role):
    assert statement(f"{role} u[3]") == A.Unit(role, "u", (3,))


@pytest.mark.parametrize("text, unit", [
    ("input x[1, 28, 28]", A.Unit("input", "x", (1, 28, 28))),
    ("layer c relu", A.Unit("layer", "c", None, None, (F("relu"),))),
    ("input x[2] sequence", A.Unit("input", "x", (2,), None, (F("sequence"),))),
    ("layer h[3] dropout=0.5 repeat=2",
     A.Unit("layer", "h", (3,), None, (A.Setting("dropout", N(0.5)), A.Setting("repeat", N(2))))),
    ("output y[1] leaky_relu(slope=0.2) nobias",
     A.Unit("output", "y", (1,), None, (A.Call("leaky_relu", (), (kw("slope", N(0.2)),)), F("nobias")))),
    ("sample z ~ normal(mu, logvar)", A.Unit("sample", "z", None, A.Call("normal", (R("mu"), R("logvar"))))),
    ("noise z[4] ~ normal(0, 1) uniform",
     A.Unit("noise", "z", (4,), A.Call("normal", (N(0), N(1))), (F("uniform"),))),
])
def test_unit_statements(text, unit):
    assert statement(text) == unit


def test_block_with_parameters_and_parameter_dims():
    (block,) = parse("block blk(n, k) {\n  layer h[n, 3, k] relu\n}").items
    assert block == A.Block("blk", ("n", "k"), (A.Unit("layer", "h", (R("n"), 3, R("k")), None, (F("relu"),)),))


def test_block_without_parameters_and_empty_bodies():
    assert parse("block b() {}\nmodel m {\n}").items == (A.Block("b", (), ()), A.Model("m", ()))


# ---- connections and blocks --------------------------------------------------------------------


@pytest.mark.parametrize("text, links", [
    ("x -> h", (arrow("h"),)),
    ("x -> c conv(filters=6, kernel=5) -> s maxpool(2) -> y",
     (arrow("c", A.Call("conv", (), (kw("filters", N(6)), kw("kernel", N(5))))),
      arrow("s", A.Call("maxpool", (N(2),))), arrow("y"))),
    ("x -> h delay 1", (arrow("h", A.Delay(1)),)),
    ("x -> h dense delay 12", (arrow("h", F("dense"), A.Delay(12)),)),
    ("x <-> h", (arrow("h", kind="<->"),)),
    ("x -> h <-> v -> y", (arrow("h"), arrow("v", kind="<->"), arrow("y"))),
])
def test_chains_with_per_link_modifiers(text, links):
    assert statement(text) == A.Connection(R("x"), links)


def test_dotted_references():
    assert statement("b1.c -> b2.in.x") == A.Connection(R("b1.c"), (arrow("b2.in.x"),))


def test_use_with_arguments_and_repeat():
    assert statement("use b = blk(3, n=4) repeat=2") == A.Use(
        "b", A.Call("blk", (N(3),), (kw("n", N(4)),)), (A.Setting("repeat", N(2)),))


# ---- train blocks and values ---------------------------------------------------------------------


def test_named_and_unnamed_train_blocks():
    spec = parse("train {\n  epochs 5\n}\ntrain pretrain {\n}")
    assert spec.items == (A.Train(None, (A.Setting("epochs", N(5)),)), A.Train("pretrain", ()))


@pytest.mark.parametrize("line, expected", [
    ("model xor", A.Setting("model", R("xor"))),
    ("epochs 5", A.Setting("epochs", N(5))),
    ("shuffle", A.Setting("shuffle")),
    ("optimizer adam", A.Setting("optimizer", R("adam"))),
    ("optimizer sgd(lr=0.5, momentum=0.9)",
     A.Setting("optimizer", A.Call("sgd", (), (kw("lr", N(0.5)), kw("momentum", N(0.9)))))),
    ("early_stopping monitor=val_loss patience=15",
     A.Setting("early_stopping", None, (kw("monitor", R("val_loss")), kw("patience", N(15))))),
    ("method cd(k=1) chains=100", A.Setting("method", A.Call("cd", (), (kw("k", N(1)),)), (kw("chains", N(100)),))),
    ('data npz("a b.npz")', A.Setting("data", A.Call("npz", (S("a b.npz"),)))),
    ('path "say \\"hi\\"\\n"', A.Setting("path", S('say "hi"\n'))),
    ("shape []", A.Setting("shape", A.ListValue(()))),
    ("anneal [[20, 2], [1.5, 3]]", A.Setting("anneal", A.ListValue((
        A.ListValue((N(20), N(2))), A.ListValue((N(1.5), N(3))))))),
    ("l2 -0.5", A.Setting("l2", A.Negate(N(0.5)))),
    ("lr 1e-3", A.Setting("lr", N(0.001))),
    ("x 2.5E+2", A.Setting("x", N(250.0))),
    ("x .5", A.Setting("x", N(0.5))),
    ("x 99999999999", A.Setting("x", N(99999999999))),
    ("loss bce(y) + 0.5 * kl(z)", A.Setting("loss", A.BinaryOp(
        "+", A.Call("bce", (R("y"),)), A.BinaryOp("*", N(0.5), A.Call("kl", (R("z"),)))))),
    ("x 1 - 2 - 3", A.Setting("x", A.BinaryOp("-", A.BinaryOp("-", N(1), N(2)), N(3)))),
    ("x 2 * (1 + -a)", A.Setting("x", A.BinaryOp("*", N(2), A.BinaryOp("+", N(1), A.Negate(R("a")))))),
])
def test_train_settings(line, expected):
    assert setting(line) == expected


def test_number_types_int_and_float():
    assert type(setting("x 5").value.value) is int
    assert type(setting("x 5.0").value.value) is float
    assert type(setting("x 1e3").value.value) is float


# ---- layout: comments, separators, blank lines, CRLF, continuation ---------------------------------

CANONICAL = parse("model m {\n  input x[2]\n  output y[1]\n  x -> y\n}\ntrain {\n  epochs 5\n}")


@pytest.mark.parametrize("text", [
    ("# a comment\nmodel m {   # trailing\n  input x[2]  # two\n  # alone\n  output y[1]\n  x -> y\n}\n"
     "train {  # t\n  epochs 5 # five\n}\n# end"),
    "model m { input x[2]; output y[1]; x -> y }; train { epochs 5 }",
    "model m { input x[2];; output y[1]; x -> y; }\ntrain {epochs 5;}",
    "\n\n\nmodel m {\n\n  input x[2]\n\n\n  output y[1]\n  x -> y\n\n}\n\n\ntrain {\n\n  epochs 5\n\n}\n\n",
    "model m {\r\n  input x[2]\r\n  output y[1]\r\n  x -> y\r\n}\r\ntrain {\r\n  epochs 5\r\n}\r\n",
    "model m {\n  input \\\n  x[2]\n  output y[1]\n  x -> \\\n y\n}\ntrain {\n  epochs \\\r\n 5\n}",
    "model m {\n\tinput\tx[2]\n\toutput y[ 1 ]\n\tx->y\n}\ntrain{epochs 5}",
])
def test_layout_variants_give_the_same_ast(text):
    assert parse(text) == CANONICAL


def test_crlf_keeps_line_and_column_numbers():
    lf = parse("model m {\n  input x[2]\n  x -> y\n}\n")
    crlf = parse("model m {\r\n  input x[2]\r\n  x -> y\r\n}\r\n")
    for a, b in zip(lf.items[0].statements, crlf.items[0].statements):
        assert (a.span.line, a.span.column) == (b.span.line, b.span.column)


def test_lines_ended_by_a_lone_carriage_return_are_lines(tmp_path):
    # classic Mac OS line ends: the first line's comment hid the whole spec ("the spec defines no model")
    (tmp_path / "mac.nn").write_bytes(b"# a comment\rmodel m {\r  input x[2]\r  x -> y\r}\r")
    lf = parse("# a comment\nmodel m {\n  input x[2]\n  x -> y\n}\n")
    mac = parse_file(tmp_path / "mac.nn")
    assert [(s.span.line, s.span.column) for s in mac.items[0].statements] == \
           [(s.span.line, s.span.column) for s in lf.items[0].statements]


def _nodes(node):
    yield node
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(v) and not isinstance(v, Span):
                yield from _nodes(v)


def test_every_node_carries_its_span():
    text = ("block b(n) {\n  layer h[n] relu\n}\nmodel m {\n  input x[2] sequence\n  use u = b(n=3) repeat=2\n"
            "  x -> u delay 1 <-> v conv(k=[1, -2])\n}\ntrain t {\n  loss bce(y) + 0.5 * kl(z)\n  s \"a\"\n}")
    spec = parse(text, "f.nn")
    nodes = [n for item in spec.items for n in _nodes(item)]
    assert len(nodes) > 30
    for node in nodes:
        assert node.span.path == "f.nn" and node.span.line >= 1 and node.span.column >= 1, node
    use = spec.items[1].statements[1]
    assert (use.span.line, use.span.column) == (6, 3)
    assert (use.call.span.line, use.call.span.column) == (6, 11)


# ---- syntax errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, line, column, message, hint", [
    ("train {\n  epochs: 5\n}", 2, 9, "unexpected character ':'", "not `key: value`"),
    ("train {\n  data npz('a.npz')\n}", 2, 12, "unexpected character \"'\"", "double quotes"),
    ("model m {\n  x => y\n}", 2, 5, "unexpected '='", "connections use '->'"),
    ("model m {\n  x < y\n}", 2, 5, "unexpected character '<'", "`a -> b` or `a <-> b`"),
    ("model m {\n  -> y\n}", 2, 3, "unexpected '->'", "a connection is a statement of its own"),
    ("model m {\n  input x[2]\n", 2, 13, "unexpected end of file", "is not closed"),
    ("train {\n  optimizer adam(lr=1\n  , beta1=0.5)\n}", 2, 22, "unexpected end of line",
     "arguments stay on one line"),
    ("model m {\n  input x[2\n}", 2, 12, "unexpected end of line, expected ',' or ']'", None),
    ("model m {\n  input x[]\n}", 2, 11, "unexpected ']'", None),
    ("model m {\n  input x[-2]\n}", 2, 11, "unexpected '-'", None),
    ("model m {\n  h -> h delay k\n}", 2, 16, "unexpected 'k', expected a whole number", None),
    ("model m {\n  input x[2] output y[1]\n}", 2, 22, "unexpected '['", None),
    ("modle m {\n}", 1, 1, "unexpected 'modle', expected", None),
    ("model m {\n\tinput x[2] @\n}", 2, 13, "unexpected character '@'", None),
])
def test_syntax_errors_are_positioned(text, line, column, message, hint):
    with pytest.raises(SpecSyntaxError) as info:
        parse(text, "bad.nn")
    err = info.value
    assert (err.span.path, err.span.line, err.span.column) == ("bad.nn", line, column)
    assert message in err.message
    assert err.hint is None if hint is None else hint in err.hint


def test_call_wrapped_after_a_comma_gets_the_one_line_hint():
    with pytest.raises(SpecSyntaxError) as info:
        parse("train {\n  optimizer adam(lr=1,\n    beta1=0.5)\n}")
    assert (info.value.span.line, info.value.span.column) == (2, 23)
    assert "arguments stay on one line" in (info.value.hint or "")


def test_a_role_word_as_unit_name_is_refused_where_declared():
    with pytest.raises(SpecSyntaxError) as info:
        parse("model m {\n  layer input[3]\n  output y[1]\n  input -> y\n}")
    assert (info.value.span.line, info.value.span.column) == (2, 9)
    assert "reserved word" in (info.value.hint or "")


def test_crlf_error_at_end_of_line_has_the_lf_column():
    for text in ("model m {\n  x -> \n}\n", "model m {\r\n  x -> \r\n}\r\n"):
        with pytest.raises(SpecSyntaxError) as info:
            parse(text)
        assert (info.value.span.line, info.value.span.column) == (2, 8)


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.nn"
    path.write_bytes(b"\xef\xbb\xbfmodel m {\n  input x[2]\n}\n")
    assert parse_file(path).items[0].name == "m"


def test_deeply_nested_brackets_are_refused_at_the_bracket():
    text = "train {\n  x " + "[" * (MAX_NESTING + 5) + "]" * (MAX_NESTING + 5) + "\n}"
    with pytest.raises(SpecSyntaxError, match="nested more than") as info:
        parse(text, "deep.nn")
    # the train block's '{' is the first level, so the 64th '[' (at column 4 + 64) is one too many
    assert (info.value.span.line, info.value.span.column) == (2, 4 + MAX_NESTING)


# ---- input files -----------------------------------------------------------------------------------


def _source_error(path, match):
    with pytest.raises(SourceError, match=match) as info:
        parse_file(path)
    return info.value.span


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.nn"
    path.write_bytes(content)
    assert _source_error(path, "is empty") == Span(str(path), 1, 1)


def test_binary_file(tmp_path):
    path = tmp_path / "b.nn"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    assert _source_error(path, "binary") == Span(str(path), 1, 1)


def test_non_utf8_file_points_at_the_bad_byte(tmp_path):
    path = tmp_path / "latin1.nn"
    path.write_bytes("model m {\n  input caf\xe9[2]\n}\n".encode("latin-1"))
    span = _source_error(path, "not UTF-8 text \\(byte 0xe9\\)")
    assert (span.line, span.column) == (2, 12)


def test_directory(tmp_path):
    assert _source_error(tmp_path, "is a directory") == Span(str(tmp_path), 1, 1)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.nn"
    assert _source_error(path, "no such file") == Span(str(path), 1, 1)


def test_huge_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.nn"
    path.write_bytes(b"# x\n" * (MAX_SOURCE_BYTES // 4 + 1))
    with pytest.raises(SourceError, match="bytes; specs are limited to") as info:
        read_source(path)
    assert info.value.span == Span(str(path), 1, 1)


def test_read_source_returns_the_text(tmp_path):
    path = tmp_path / "ok.nn"
    path.write_text("model m {\n}\n", encoding="utf-8")
    assert read_source(path) == "model m {\n}\n"
    assert parse_file(path).path == str(path)
