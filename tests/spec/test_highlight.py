"""Highlighting: the Pygments lexer (found by name and file name through its entry point, as `pygmentize`,
Sphinx and mkdocs find it), the TextMate grammar made from the same rules (a test fails while the saved one
is stale), and the source line of an error message coloured on a terminal only."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Keyword, Name, Number, Operator

from nngraph.cli.render import render_diagnostic
from nngraph.errors import Diagnostic, Span
from nngraph.graph import vocabulary
from nngraph.graph.methods import METHODS
from nngraph.spec.highlight import (
    BUILTINS,
    KEYWORDS,
    ROLES,
    SETTINGS,
    TEXTMATE_PATH,
    NngraphLexer,
    textmate_text,
)
from nngraph.spec.tables import grammar_text

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").glob("*.nn"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def tokens(text: str) -> list[tuple]:
    return [(t, v) for t, v in NngraphLexer().get_tokens(text) if v.strip()]


def test_pygments_finds_the_lexer_by_name_and_by_file_name():
    assert isinstance(get_lexer_by_name("nngraph"), NngraphLexer)
    assert isinstance(get_lexer_for_filename("xor.nn"), NngraphLexer)


def test_pygmentize_highlights_a_spec():
    pygmentize = Path(sys.executable).with_name("pygmentize")
    done = subprocess.run([pygmentize, "-l", "nngraph", "-f", "html", REPO / "specs" / "xor.nn"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '<span class="k">model</span>' in done.stdout and '<span class="nb">tanh</span>' in done.stdout


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_every_spec_lexes_whole_without_an_error_token(spec):
    text = spec.read_text(encoding="utf-8")
    lexed = list(NngraphLexer().get_tokens(text))
    assert "".join(v for _, v in lexed) == text
    assert not [v for t, v in lexed if t in Error]


def test_each_word_gets_its_class():
    text = 'model m {\n  input x[2] sequence\n  layer h2[8] lstm dropout=0.1\n  h2 -> h2 delay 1 # own\n}\n' \
           'train {\n  model m\n  data text("a.txt")\n  optimizer adam(lr=1e-3)\n  epochs 3\n}\n'
    got = tokens(text)
    assert got[:3] == [(Keyword, "model"), (Name.Class, "m"), (got[2][0], "{")]
    assert (Keyword.Declaration, "input") in got and (Name.Variable, "x") in got
    assert (Name.Attribute, "sequence") in got and (Name.Attribute, "dropout") in got
    assert (Name.Builtin, "lstm") in got and (Name.Builtin, "adam") in got
    assert (Name.Attribute, "lr") in got and (Number, "1e-3") in got and (Number, "8") in got
    assert (Keyword, "delay") in got and (Operator, "->") in got and (Name, "h2") in got
    assert (Name.Attribute, "epochs") in got and (Name.Attribute, "data") in got


def test_the_words_are_the_parsers():
    """The grammar's keywords and the words of every word list of the vocabulary and the method registry, each in
    one class."""
    literals = set(re.findall(r'"([a-z_]+)"', grammar_text()))  # the grammar's quoted words
    assert set(KEYWORDS) == literals - set(vocabulary.ROLES) and {"model", "delay"} <= set(KEYWORDS)
    assert ROLES == vocabulary.ROLES and set(ROLES) <= literals
    words = {w for name, value in vars(vocabulary).items() if name.isupper() and isinstance(value, (tuple, dict))
             for w in value if isinstance(w, str) and w.isidentifier()} | set(METHODS)
    classes = [set(KEYWORDS), set(ROLES), set(BUILTINS), set(SETTINGS)]
    assert words <= set().union(*classes) and set(BUILTINS) | set(SETTINGS) <= words
    assert sum(len(c) for c in classes) == len(set().union(*classes))
    assert {"batchnorm", "tied", "lstm", "adam", "pcd", "gan"} <= set(BUILTINS) and {"epochs", "dropout"} <= set(SETTINGS)


def test_the_saved_textmate_grammar_is_up_to_date():
    saved = TEXTMATE_PATH.read_text(encoding="utf-8") if TEXTMATE_PATH.exists() else ""
    assert saved == textmate_text(), "editors/ is stale: run `python -m nngraph.spec.highlight`"


def test_a_new_word_makes_the_saved_grammar_stale():
    """What the test above guards: a cell added to the vocabulary changes the grammar made from it."""
    code = ("import nngraph.graph.vocabulary as v; v.CELLS['minimal'] = 2\n"
            "from nngraph.spec.highlight import TEXTMATE_PATH, textmate_text\n"
            "print(textmate_text() != TEXTMATE_PATH.read_text(encoding='utf-8'), 'minimal' in textmate_text())")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_the_textmate_grammar_is_what_vs_code_loads():
    grammar = json.loads(TEXTMATE_PATH.read_text(encoding="utf-8"))
    package = json.loads((REPO / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    (entry,) = package["contributes"]["grammars"]
    assert (TEXTMATE_PATH.parent.parent / entry["path"]).resolve() == TEXTMATE_PATH.resolve()
    assert entry["scopeName"] == grammar["scopeName"] == "source.nngraph"
    for pattern in grammar["patterns"]:
        re.compile(pattern["match"])
        assert all(scope.endswith(".nngraph") for scope in
                   [pattern.get("name", "")] + [c["name"] for c in pattern.get("captures", {}).values()] if scope)


def _diagnostic(path: Path) -> Diagnostic:
    return Diagnostic("bad", Span(str(path), 2, 3, 2, 7))


SOURCE = "model m {\n  layer h[4] tanh\n}\n"


def test_the_shown_line_is_coloured_on_request_and_only_the_line():
    sources = {"m.nn": SOURCE}
    plain = render_diagnostic(_diagnostic(Path("m.nn")), sources, colour=False)
    coloured = render_diagnostic(_diagnostic(Path("m.nn")), sources, colour=True)
    assert "\x1b[" not in plain and ANSI.sub("", coloured) == plain
    head, line, caret = coloured.splitlines()
    assert "\x1b[" in line and "\x1b[" not in head + caret


@pytest.mark.parametrize(("terminal", "environment", "expected"), [
    (True, {}, True), (False, {}, False), (True, {"NO_COLOR": "1"}, False), (True, {"TERM": "dumb"}, False)])
def test_colour_by_default_on_a_terminal_that_wants_it(terminal, environment, expected):
    stderr = mock.Mock(isatty=lambda: terminal)
    env = {**{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}, **environment}
    with mock.patch.object(sys, "stderr", stderr), mock.patch.dict(os.environ, env, clear=True):
        text = render_diagnostic(_diagnostic(Path("m.nn")), {"m.nn": SOURCE})
    assert ("\x1b[" in text) == expected


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_command_colours_errors_on_a_terminal_and_not_in_a_pipe(tmp_path):
    spec = tmp_path / "bad.nn"
    spec.write_text("model m {\n  layer h[4] tanh\n  x -> h\n}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    command = [sys.executable, "-m", "nngraph.cli", "check", str(spec)]
    leader, follower = os.openpty()
    try:
        done = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=follower, env=env, timeout=60)
        os.close(follower)
        shown = _read_all(leader)
    finally:
        os.close(leader)
    piped = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == piped.returncode == 1
    assert "\x1b[" in shown and ANSI.sub("", shown).replace("\r\n", "\n") == piped.stderr
    assert "\x1b[" not in piped.stderr


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed (Linux reports EIO)
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")
