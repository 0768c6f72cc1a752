"""Text -> AST: read the file safely, parse with Lark (LALR, positions on), transform thinly."""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from typing import NamedTuple

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from nngraph.errors import NngraphError, SourceError, Span, SpecSyntaxError
from nngraph.safe_files import read_bytes
from nngraph.spec import ast
from nngraph.spec.limits import MAX_NESTING, MAX_SOURCE_BYTES, check_limits, collector_paused  # noqa: F401 (API)
from nngraph.spec.syntax_errors import syntax_error
from nngraph.spec.tables import collecting_comments, grammar_text, load_parser  # noqa: F401  (grammar_text: API)

# ---- reading --------------------------------------------------------------------------


def read_source(path: str | os.PathLike) -> str:
    """The text of a spec file, or a SourceError that says why it cannot be one. Only a regular file of
    at most MAX_SOURCE_BYTES is read (never a FIFO, a device or more than the cap)."""
    raw = read_bytes(path, MAX_SOURCE_BYTES, "specs", source_refusal(path),
                     "is this really a spec? data belongs in a data file")
    return decode_source(raw, str(path))


def source_refusal(path: str | os.PathLike):
    """safe_files' refusals as SourceErrors at the file's start; a FIFO or a device has no line to point at
    (and must not be opened again to show one)."""

    def refuse(message: str, hint: str | None = None) -> SourceError:
        regular_or_missing = os.path.isfile(path) or os.path.isdir(path) or not os.path.lexists(path)
        return SourceError(message, Span(str(path), 1, 1) if regular_or_missing else None, hint)

    return refuse


def decode_source(raw: bytes, path: str) -> str:
    if b"\0" in raw:
        raise SourceError(f"{path} looks like a binary file, not a spec", Span(path, 1, 1))
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as Windows editors write, is skipped
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SourceError(
            f"{path} is not UTF-8 text (byte 0x{raw[e.start]:02x})",
            Span(path, line, col),
            "save the file as UTF-8",
        ) from None
    # lines ended by a lone carriage return (classic Mac OS) are lines too: read as one line, the first comment
    # hid the whole spec ("add `model NAME { ... }`")
    return re.sub(r"\r(?!\n)", "\n", text) if "\r" in text else text


# ---- the grammar ----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _parser() -> Lark:
    """One LALR parser for whole specs and for the fragments YAML embeds (built once per process)."""
    return load_parser()


# ---- AST building -----------------------------------------------------------------------


def _span_of(path: str, meta_or_token) -> Span:
    m = meta_or_token
    if isinstance(m, Token):
        return Span(path, m.line, m.column, m.end_line or m.line, m.end_column or m.column)
    if getattr(m, "empty", False):
        return Span(path, 0, 0)
    return Span(path, m.line, m.column, m.end_line, m.end_column)


def _number(token: Token, path: str) -> int | float:
    """A literal's value; one too large for a float (`1e999`, 400 digits) is an error here, since every
    later step would see it as infinity (or fail converting it)."""
    text = str(token)
    if math.isinf(float(text)):
        raise SpecSyntaxError(f"the number {_abridged(text)} is too large (it overflows to infinity)",
                              _span_of(path, token), f"numbers go up to about {sys.float_info.max:.3g}")
    if float(text) == 0 and any(digit in "123456789" for digit in text.partition("e")[0].partition("E")[0]):
        # `1e-400` read as 0.0, then refused as "lr: 0.0 is out of range", or taken as 0 where 0 is allowed
        raise SpecSyntaxError(f"the number {_abridged(text)} is too small (it underflows to 0)",
                              _span_of(path, token), f"numbers other than 0 start at about {5e-324:.3g}; "
                                                     "write 0 for zero")
    return int(text.lstrip("0") or "0") if text.isdigit() else float(text)


def _string(token: Token, path: str) -> str:
    """A string literal's text, its escapes read as JSON's (`\\n`, `\\"`, `\\u00e9`); another backslash, a raw
    control character or half of a surrogate pair (text no file name or output can hold) is an error here."""
    import json

    try:
        text = json.loads(str(token))
        text.encode("utf-8")
    except ValueError as e:
        why = e.msg.removesuffix(" at") if isinstance(e, json.JSONDecodeError) else "half of a \\u surrogate pair"
        raise SpecSyntaxError(f"cannot read the string {_abridged(str(token))}: {why}", _span_of(path, token),
                              'a backslash starts one of \\n \\t \\" \\\\ \\uXXXX; write \\\\ for a backslash, '
                              "or / in paths") from None
    return text


def _abridged(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-10:]} ({len(text)} characters)"


@v_args(meta=True)
class _ToAst(Transformer):
    """Thin: one method per grammar rule, each returning an AST node with its span."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _s(self, meta) -> Span:
        return _span_of(self.path, meta)

    def start(self, meta, items):
        return tuple(items)

    def statement_only(self, meta, c):
        return c[0]

    value_only = setting_only = statement_only

    def model(self, meta, c):
        name, *stmts = c
        return ast.Model(str(name), tuple(stmts), self._s(meta), self._s(name))

    def block(self, meta, c):
        name, params, *stmts = c
        return ast.Block(str(name), tuple(params or ()), tuple(stmts), self._s(meta))

    def params(self, meta, c):
        return tuple(str(t) for t in c)

    def unit(self, meta, c):
        role, name, shape, sampler, *attrs = c
        return ast.Unit(role, str(name), shape, sampler, tuple(attrs), self._s(meta))

    def role(self, meta, c):
        return str(c[0])

    def shape(self, meta, c):
        return tuple(c)

    def int_dim(self, meta, c):
        return _number(c[0], self.path)

    def ref_dim(self, meta, c):
        return ast.Ref(str(c[0]), self._s(meta))

    def sampler(self, meta, c):
        return c[0]

    def flag(self, meta, c):
        return ast.Flag(str(c[0]), self._s(meta))

    def keyvalue(self, meta, c):
        return ast.Setting(str(c[0]), c[1], (), self._s(meta))

    def connection(self, meta, c):
        return ast.Connection(c[0], tuple(c[1:]), self._s(meta))

    def link(self, meta, c):
        arrow, target, *mods = c
        return ast.Link(str(arrow), target, tuple(mods), self._s(meta))

    def delay(self, meta, c):
        return ast.Delay(_number(c[0], self.path), self._s(meta))

    def use(self, meta, c):
        name, call, *attrs = c
        return ast.Use(str(name), call, tuple(attrs), self._s(meta))

    def train(self, meta, c):
        name, *settings = c
        return ast.Train(str(name) if name is not None else None, tuple(settings), self._s(meta))

    def setting(self, meta, c):
        key, value, *kwargs = c
        return ast.Setting(key, value, tuple(kwargs), self._s(meta))

    def key(self, meta, c):
        return str(c[0])

    def kwarg(self, meta, c):
        return ast.KeywordArg(str(c[0]), c[1], self._s(meta))

    def number(self, meta, c):
        return ast.Number(_number(c[0], self.path), self._s(meta))

    def string(self, meta, c):
        return ast.String(_string(c[0], self.path), self._s(meta))

    def ref(self, meta, c):
        return ast.Ref(".".join(str(t) for t in c), self._s(meta))

    def call(self, meta, c):
        name, *args = c
        args = [a for a in args if a is not None]
        positional = tuple(a for a in args if not isinstance(a, ast.KeywordArg))
        keywords = tuple(a for a in args if isinstance(a, ast.KeywordArg))
        return ast.Call(str(name), positional, keywords, self._s(meta))

    def list(self, meta, c):
        return ast.ListValue(tuple(x for x in c if x is not None), self._s(meta))

    def negate(self, meta, c):
        return ast.Negate(c[0], self._s(meta))

    def _binary(op):
        def rule(self, meta, c):
            return ast.BinaryOp(op, c[0], c[1], self._s(meta))

        return rule

    add = _binary("+")
    subtract = _binary("-")
    multiply = _binary("*")


# ---- entry points ------------------------------------------------------------------------


class Comment(NamedTuple):
    """A `# ...` comment as written: where it starts (lines and columns from 1) and its text, `#` included."""

    line: int
    column: int
    text: str


def parse(text: str, path: str = "<string>") -> ast.Spec:
    """Parse spec text into an AST; raise SpecSyntaxError with a position and hint."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise SourceError(
            f"{path} is empty", Span(path, 1, 1), "a spec holds at least one `model NAME { ... }`"
        )
    check_limits(text, path)
    with collector_paused():
        tree = _parse_tree(text, path, "start")
        return ast.Spec(_transform(tree, path), path=path, source=text)


def parse_commented(text: str, path: str = "<string>") -> tuple[ast.Spec, tuple[Comment, ...]]:
    """Like `parse`, and the comments too (the AST has no place for them): what `nngraph fmt` keeps."""
    with collecting_comments() as tokens:
        spec = parse(text, path)
    return spec, tuple(Comment(t.line, t.column, str(t).rstrip()) for t in tokens)


def parse_file(path: str | os.PathLike) -> ast.Spec:
    return parse(read_source(path), str(path))


def parse_fragment(text: str, rule: str, path: str, line: int = 1, column: int = 1):
    """Parse one statement or value (YAML embeds these); positions are shifted to the file."""
    check_limits(text, path, line, column)
    tree = _parse_tree(text, path, rule, line - 1, column - 1)
    try:
        result = _transform(tree, path)
    except SpecSyntaxError as e:  # a literal a rule refuses (1e999, a bad escape): at its place in the file
        raise SpecSyntaxError(e.message, e.span and _shifted_span(e.span, line - 1, column - 1), e.hint) from None
    return _shift(result, line - 1, column - 1) if (line, column) != (1, 1) else result


def _parse_tree(text, path, start, line_offset=0, col_offset=0):
    try:
        return _parser().parse(text, start=start)
    except UnexpectedInput as e:
        raise syntax_error(e, text, path, line_offset, col_offset, _parser()) from None


def _transform(tree, path: str):
    """The AST of a parse tree; an error a rule raises (a number too large) comes out as itself."""
    try:
        return _ToAst(path).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NngraphError):
            raise e.orig_exc from None
        raise


# ---- span shifting for embedded fragments ----------------------------------------------------


def _shift(node, dl: int, dc: int):
    import dataclasses

    if isinstance(node, tuple):
        return tuple(_shift(n, dl, dc) for n in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, Span):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Span):
            changes[f.name] = _shifted_span(v, dl, dc)
        elif isinstance(v, tuple) or dataclasses.is_dataclass(v):
            changes[f.name] = _shift(v, dl, dc)
    return dataclasses.replace(node, **changes)


def _shifted_span(v: Span, dl: int, dc: int) -> Span:
    return Span(v.path, v.line + dl, v.column + (dc if v.line == 1 else 0), v.end_line + dl,
                v.end_column + (dc if v.end_line == 1 else 0))
