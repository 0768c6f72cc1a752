"""Parse failures as compilers report them: what was found, what was expected, and a hint for common mistakes."""

from __future__ import annotations

import re

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from nngraph.errors import Span, SpecSyntaxError

_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "NUMBER": "a number",
    "ESCAPED_STRING": "a string",
    "ARROW": "'->' or '<->'",
    "_NL": "end of line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "$END": "end of file",
}

_ROLES = ("input", "output", "layer", "visible", "hidden", "noise", "sample")


def _describe(token_type: str, parser: Lark) -> str:
    if token_type in _TOKEN_WORDS:
        return _TOKEN_WORDS[token_type]
    try:
        pattern = parser.get_terminal(token_type).pattern
    except KeyError:
        return token_type.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else token_type.lower()


def syntax_error(e: UnexpectedInput, text: str, path: str, dl: int, dc: int, parser: Lark) -> SpecSyntaxError:
    """A Lark parse failure as a positioned error with the most helpful hint we know for it.
    `dl`/`dc` shift positions for fragments embedded in another file (YAML)."""
    line = (e.line if e.line and e.line > 0 else text.count("\n") + 1) + dl
    column = (e.column if e.column and e.column > 0 else 1) + (dc if line == dl + 1 else 0)
    span = Span(path, line, column)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        return SpecSyntaxError(f"unexpected character {ch!r}", span, _char_hint(ch))
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        return SpecSyntaxError("unexpected end of file" + _expected_words(e.expected, parser), span,
                               _unclosed_hint(text))
    assert isinstance(e, UnexpectedToken)
    reserved = _reserved_name_declared(text, path, e.line, dl, dc)
    if reserved is not None:
        return reserved
    tok = e.token
    got = "end of line" if tok.type == "_NL" else repr(str(tok))
    message = f"unexpected {got}" + _expected_words(e.expected, parser)
    hint = _token_hint(tok, e.expected) or _open_call_hint(tok, text, e.pos_in_stream) or _expected_hint(e.expected)
    return SpecSyntaxError(message, span, hint)


def _expected_words(expected, parser: Lark) -> str:
    words = sorted({_describe(t, parser) for t in expected or () if not t.startswith("__")})
    return ", expected " + " or ".join(words) if words and len(words) <= 6 else ""


def _unclosed_hint(text: str) -> str | None:
    """Only where a bracket really is left open (comments and strings aside, as a rough count)."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"|#[^\n]*', "", text)
    if any(code.count(a) > code.count(b) for a, b in ("{}", "()", "[]")):
        return "a '{', '(' or '[' is not closed"
    return None


def _open_call_hint(tok: Token, text: str, pos: int | None) -> str | None:
    """A line break inside unclosed parentheses: calls stay on one line."""
    if tok.type != "_NL" or pos is None:
        return None
    before = text[:pos]
    if before.count("(") > before.count(")"):
        return "a call's arguments stay on one line (or end the line with '\\')"
    return None


def _expected_hint(expected) -> str | None:
    if set(expected) <= {"NAME", "DOT"}:
        return "a name goes here: letters, digits and '_', starting with a letter or '_'"
    return None


_DECLARED_ROLE_NAME = re.compile(r"^([ \t]*(?:" + "|".join(_ROLES) + r")[ \t]+)(" + "|".join(_ROLES) + r")\b",
                                 re.MULTILINE)


def _reserved_name_declared(text: str, path: str, error_line: int, dl: int, dc: int):
    """`layer input[3]` parses (names are read in context) but the unit could never start a connection;
    when a later line then fails, the declaration is the real mistake."""
    for m in _DECLARED_ROLE_NAME.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if line > (error_line or 0):
            break
        column = len(m.group(1)) + 1 + (dc if line == 1 else 0)
        return SpecSyntaxError(f"'{m.group(2)}' cannot name a unit", Span(path, line + dl, column),
                               f"'{m.group(2)}' is a reserved word (a unit role); pick another name")
    return None


def _char_hint(ch: str) -> str | None:
    if ch == ":":
        return "settings are written `key value`, not `key: value` (that is the YAML surface)"
    if ch in "<>":
        return "connections are written `a -> b` or `a <-> b`"
    if ch == "'":
        return 'strings use double quotes: "path/to/file.npz"'
    return None


def _token_hint(tok: Token, expected) -> str | None:
    value = str(tok)
    if value in _ROLES and "NAME" in expected:
        return f"'{value}' is a reserved word (a unit role); pick another name"
    if value in ("model", "block", "train") and "NAME" in expected:
        return f"'{value}' is a reserved word; pick another name"
    if tok.type == "_NL" and "RPAR" in expected:
        return "a call's arguments stay on one line (or end the line with '\\')"
    if value == "=" and "ARROW" in expected:
        return "connections use '->'"
    if tok.type == "ARROW":
        return "a connection is a statement of its own: `a -> b`"
    if tok.type == "NAME" and tok.value in _ROLES:
        return None
    if value in ("->", "<->"):
        return "a connection starts with a unit name"
    return None
