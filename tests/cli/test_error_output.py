"""What a user sees for a bad spec: `path:line:col: error: ...`, the line, a caret, a hint; exit 1; no traceback."""

import re

import pytest

from .helpers import run_cli, run_subprocess, write

HEAD = re.compile(r"^(?P<path>\S+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): (?P<message>.*)$")

# name -> (spec text, line, column, message, hint)
BAD_SPECS = {
    "syntax.nn": ("train {\n  epochs: 5\n}\n", 2, 9, "unexpected character ':'",
                  "settings are written `key value`, not `key: value` (that is the YAML surface)"),
    "unknown_unit.nn": ("model m {\n  input x[2]\n  layer h[4] tanh\n  output y[1] sigmoid\n  x -> h -> yy\n}\n",
                        5, 13, "unknown unit 'yy'", "did you mean 'y'?"),
    "shape.nn": ("model m {\n  input x[2]\n  layer h\n  output y[1]\n  x -> h -> y\n}\n", 5, 5,
                 "a dense connection cannot size 'h'", "declare its size: `layer h[64]`"),
    "tabs.nn": ("model m {\n\tinput x[2]\n\toutput y[1] sigmod\n\tx -> y\n}\n", 3, 14,
                "unknown unit attribute 'sigmod'", "did you mean 'sigmoid'?"),
    "setting.yaml": (("model m:\n  units:\n    - input x[2]\n    - output y[1] sigmoid\n  connections:\n"
                      "    - x -> y\ntrain:\n  data: xor\n  loss: bce(y)\n  epoch: 3\n"), 10, 3,
                     "unknown train setting 'epoch'", "did you mean 'epochs'?"),
}


def diagnostics(stderr: str) -> list[list[str]]:
    """The rendered diagnostics, each as its lines: head, then source line, caret and hint where present."""
    blocks = []
    for row in stderr.splitlines():
        if HEAD.match(row):
            blocks.append([row])
        elif blocks and row.startswith("  "):
            blocks[-1].append(row)
    return blocks


def assert_rendered(block, path, text, line, column, message, hint):
    head = HEAD.match(block[0])
    assert (head["path"], int(head["line"]), int(head["col"]), head["severity"]) == (str(path), line, column, "error")
    assert head["message"] == message
    shown = text.splitlines()[line - 1].expandtabs(1)
    assert block[1] == "  " + shown
    caret = block[2][2:]
    assert caret.index("^") == column - 1 and set(caret.strip()) <= {"^", "~"}, block
    assert block[3] == f"  hint: {hint}"


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_error_shows_position_line_caret_and_hint(tmp_path, name):
    text, line, column, message, hint = BAD_SPECS[name]
    path = write(tmp_path, name, text)
    result = run_cli("check", path)
    assert result.code == 1
    (block,) = diagnostics(result.err)
    assert_rendered(block, path, text, line, column, message, hint)
    assert "Traceback" not in result.both


def test_as_a_subprocess_every_file_is_reported_and_nothing_else(tmp_path):
    paths = [write(tmp_path, name, text) for name, (text, *_) in sorted(BAD_SPECS.items())]
    result = run_subprocess("check", *paths, tmp_path / "missing.nn", cwd=tmp_path)
    assert result.code == 1
    assert result.out == ""
    assert "Traceback" not in result.both
    blocks = diagnostics(result.err)
    assert len(blocks) == len(paths) + 1
    for path, block in zip(paths, blocks):
        assert_rendered(block, path, *BAD_SPECS[path.name])
    assert blocks[-1] == [f"{tmp_path / 'missing.nn'}:1:1: error: no such file: {tmp_path / 'missing.nn'}",
                          "  hint: check the path"]


def test_several_errors_end_with_a_count(tmp_path):
    path = write(tmp_path, "two.nn", "model m {\n  input x[2]\n  output y[1] sigmod\n  x -> zz\n}\n")
    result = run_cli("check", path)
    assert [b[0].split(": error: ")[1] for b in diagnostics(result.err)] == [
        "unknown unit attribute 'sigmod'", "unknown unit 'zz'"]
    assert result.err.rstrip().endswith("\n2 errors")


@pytest.mark.parametrize("name, content, message", [
    ("empty.nn", b"", "is empty"),
    ("latin1.nn", "model caf\xe9 {\n}\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9)"),
    ("notes.txt", b"model m {\n}\n", "unknown spec suffix '.txt'"),
])
def test_unreadable_inputs_exit_1_with_a_position(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("check", path)
    assert result.code == 1
    assert HEAD.match(result.err.splitlines()[0])
    assert message in result.err and "Traceback" not in result.both


def test_binary_file_error_prints_no_raw_bytes(tmp_path):
    path = tmp_path / "bin.nn"
    path.write_bytes(b"\x00\x01\x02")
    result = run_cli("check", path)
    assert result.code == 1 and "looks like a binary file" in result.err
    assert "\x00" not in result.err


HINTLESS = {
    "end of line": ("model m {\n  x -> \n}\n", "unexpected end of line, expected a name"),
    "batch 0": (("model m {\n  input x[2]\n  output y[1]\n  x -> y\n}\ntrain {\n  data xor\n  loss mse(y)\n"
                 "  batch 0\n}\n"), "batch: 0 is out of range"),
    "kernel": ("model m {\n  input x[1, 4, 4]\n  layer c\n  output y[1]\n  x -> c conv(filters=2, kernel=5) -> y\n}\n",
               "is larger than its input"),
}


@pytest.mark.parametrize("case", sorted(HINTLESS))
def test_every_error_has_a_hint(tmp_path, case):
    text, message = HINTLESS[case]
    result = run_cli("check", write(tmp_path, "h.nn", text))
    assert result.code == 1 and message in result.err
    assert "  hint: " in result.err
