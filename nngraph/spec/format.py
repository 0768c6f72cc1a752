"""AST -> canonical .nn text.

The formatter is the inverse of the parser: `parse(format_spec(s)) == s` for every AST that
the parser (or the YAML reader) can produce. Negative `Number`s, which only hand-built ASTs
hold, are written `-n` and so read back as `Negate(Number(n))`: the same meaning, another node.

`format_source` is `nngraph fmt`: the same layout for a spec's text, its comments kept where they were
(each attached by position to the line of the layout it precedes or trails) and single blank lines inside a
block kept where the author left them, written as the example specs are (`format_commented`, shared by
`convert` to .nn):

- Numbers keep the author's spelling (`2.3e-3`, `1e-2`, `0.001`) where their span shows it in `spec.source`
  and it reads back as the same number; a value from elsewhere (`--set`) is spelled by `format_number`.
- First words are aligned in runs: the role words of consecutive unit declarations, and `use`, are padded
  to the longest of the run and at least to `output`'s width (`input  x[2]` / `layer  h[4] tanh` /
  `output y[1]`; `visible`/`hidden  h`; `use    b1 = ...`), so a block's ports line up with the models
  beside it; in a train block, consecutive `model` and `env` settings likewise (`model agent` / `env   cartpole`).
  A run is broken by a blank line or a line of another kind; an own-line comment inside it does not break it.
- Trailing comments of consecutive lines start in one column (gofmt's rule: a run is broken by a blank line,
  an own-line comment, a line without a trailing comment, and a wrapped line is a run of its own): the
  column the author gave the run's first comment if its line holds the same code and the column leaves two
  spaces after every line's code, else two spaces after the longest.
- A line longer than 110 characters is wrapped after a comma between a call's arguments with a `\\`
  continuation, the next line aligned after the call's `(` (as `method dqn(...)` in specs/cartpole_dqn.nn);
  a long chain of links breaks before an arrow, the next line under its first arrow.
The column rules themselves are `layout.py`'s.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass, field

from nngraph.spec import ast, layout

INDENT = "  "

# Binding strength of each kind of value: an operand binding more loosely than its position
# demands gets parentheses, and only then.
_SUM, _PRODUCT, _UNARY, _ATOM = 1, 2, 3, 4


# ---- values and statements ----------------------------------------------------------------


class _Writer:
    """The .nn text of values, statements and settings. Numbers are spelled by `number`: here canonically
    (`format_number`); `_AsWritten` spells them as the author did."""

    def number(self, number: ast.Number) -> str:
        return format_number(number.value)

    def value(self, value: ast.Value, min_strength: int = _SUM) -> str:
        text = self._bare_value(value)
        return f"({text})" if _strength(value) < min_strength else text

    def _bare_value(self, value: ast.Value) -> str:
        if isinstance(value, ast.Number):
            return self.number(value)
        if isinstance(value, ast.String):
            return format_string(value.value)
        if isinstance(value, ast.Ref):
            return value.name
        if isinstance(value, ast.Call):
            return self.call(value)
        if isinstance(value, ast.ListValue):
            return "[" + ", ".join(self.value(v) for v in value.items) + "]"
        if isinstance(value, ast.BinaryOp):
            return self._binary(value)
        if isinstance(value, ast.Negate):
            return "-" + self.value(value.operand, _UNARY)
        raise TypeError(f"not a spec value: {value!r}")

    def _binary(self, op: ast.BinaryOp) -> str:
        # Left-associative: the right operand needs one level more than the left.
        own = _strength(op)
        return f"{self.value(op.left, own)} {op.op} {self.value(op.right, own + 1)}"

    def call(self, call: ast.Call) -> str:
        args = [self.value(a) for a in call.args] + [self.kwarg(k) for k in call.kwargs]
        return f"{call.name}({', '.join(args)})"

    def kwarg(self, kwarg: ast.KeywordArg) -> str:
        return f"{kwarg.name}={self.value(kwarg.value)}"

    def statement(self, statement: ast.Statement) -> str:
        if isinstance(statement, ast.Unit):
            return self._unit(statement)
        if isinstance(statement, ast.Connection):
            return statement.source.name + "".join(" " + self._link(link) for link in statement.links)
        if isinstance(statement, ast.Use):
            parts = ["use", statement.name, "=", self.call(statement.call)]
            return " ".join(parts + [self._attr(a) for a in statement.attrs])
        raise TypeError(f"not a statement: {statement!r}")

    def _unit(self, unit: ast.Unit) -> str:
        head = unit.name + (_shape(unit.shape) if unit.shape is not None else "")
        parts = [unit.role, head]
        if unit.sampler is not None:
            parts.append("~ " + self.call(unit.sampler))
        return " ".join(parts + [self._attr(a) for a in unit.attrs])

    def _attr(self, attr: ast.Attr) -> str:
        if isinstance(attr, ast.Flag):
            return attr.name
        if isinstance(attr, ast.Call):
            return self.call(attr)
        if isinstance(attr, ast.Setting):
            if attr.value is None or attr.kwargs:
                raise ValueError(f"attribute {attr.name!r} must be written name=value")
            return f"{attr.name}={self.value(attr.value)}"
        raise TypeError(f"not a unit attribute: {attr!r}")

    def _link(self, link: ast.Link) -> str:
        return " ".join([link.arrow, link.target.name] + [self._edge_mod(m) for m in link.mods])

    def _edge_mod(self, mod: ast.EdgeMod) -> str:
        if isinstance(mod, ast.Delay):
            return f"delay {mod.steps}"
        return self._attr(mod)

    def setting(self, setting: ast.Setting) -> str:
        parts = [setting.name]
        if setting.value is not None:
            parts.append(self.value(setting.value))
        return " ".join(parts + [self.kwarg(k) for k in setting.kwargs])

    def body_line(self, node) -> str:
        return self.setting(node) if isinstance(node, ast.Setting) else self.statement(node)


class _AsWritten(_Writer):
    """Numbers as the author spelled them (`2.3e-3` stays `2.3e-3`) wherever a number's span shows its text
    in `spec.source` and that text reads back as the same number; elsewhere (a value from `--set`, a span
    that does not fit) canonically."""

    def __init__(self, spec: ast.Spec):
        self.path = spec.path
        self.source_lines = _source_lines(spec)

    def number(self, number: ast.Number) -> str:
        written = self._written(number.span)
        return written if written is not None and _reads_as(written, number.value) else super().number(number)

    def _written(self, span) -> str | None:
        if span.path != self.path or span.line != span.end_line or not 0 < span.line <= len(self.source_lines):
            return None
        return self.source_lines[span.line - 1][span.column - 1: span.end_column - 1]


def _source_lines(spec: ast.Spec) -> list[str]:
    """`spec.source` cut into lines as the lexer counts them (at `\\n` only: `str.splitlines` also cuts at a
    form feed or U+2028, which a string or a comment may hold)."""
    return spec.source.split("\n")


_NUMBER = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")  # the grammar's NUMBER


def _reads_as(text: str, value: int | float) -> bool:
    """Whether the parser reads `text` as exactly `value` (an int as an int, a float as a float)."""
    if not _NUMBER.fullmatch(text):
        return False
    read = int(text) if text.isdigit() else float(text)
    return type(read) is type(value) and read == value


_CANONICAL = _Writer()


def format_value(value: ast.Value) -> str:
    """One value in .nn syntax, parenthesised only where precedence requires."""
    return _CANONICAL.value(value)


def spoken(value) -> str:
    """A value for an error message, in the user's words: an AST value (a call that could not be read as
    a number, say) as .nn text in backticks, a Python value as its literal; lists of either alike."""
    if isinstance(value, list):
        return "[" + ", ".join(spoken(v) for v in value) + "]"
    if isinstance(value, (ast.Number, ast.String, ast.Ref, ast.Call, ast.ListValue, ast.BinaryOp, ast.Negate)):
        return f"`{format_value(value)}`"
    return repr(value)


def _strength(value: ast.Value) -> int:
    if isinstance(value, ast.BinaryOp):
        return _PRODUCT if value.op == "*" else _SUM
    if isinstance(value, ast.Negate) or (isinstance(value, ast.Number) and value.value < 0):
        return _UNARY
    return _ATOM


def format_call(call: ast.Call) -> str:
    return _CANONICAL.call(call)


def format_string(text: str) -> str:
    """JSON quoting; everything is escaped once anything would be invisible or unsafe raw."""
    return json.dumps(text, ensure_ascii=not text.isprintable())


def format_number(x: float) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"not a number: {x!r}")
    if x < 0:
        return "-" + format_number(-x)
    if isinstance(x, int):
        return str(x)
    return _format_float(x)


def _format_float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{x} has no .nn spelling (the parser refuses numbers that overflow)")
    text = _tidy_exponent(repr(x))
    if x < 1:  # learning rates and the like read better as 1e-3 than 0.001
        shorter = _scientific(x)
        if len(shorter) < len(text):
            return shorter
    return text


def _scientific(x: float) -> str:
    """The shortest `d.ddde-n` that reads back as exactly x."""
    for digits in range(17):
        text = f"{x:.{digits}e}"
        if float(text) == x:
            return _tidy_exponent(text)
    return repr(x)


def _tidy_exponent(text: str) -> str:
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def format_statement(statement: ast.Statement) -> str:
    """One unit, connection or use, on one line, in .nn syntax."""
    return _CANONICAL.statement(statement)


def _shape(shape: tuple[int | ast.Ref, ...]) -> str:
    if not shape:
        raise ValueError("a shape has at least one dimension")
    return "[" + ", ".join(d.name if isinstance(d, ast.Ref) else str(d) for d in shape) + "]"


def format_setting(setting: ast.Setting) -> str:
    """One train setting: `key [value] kw=v ...`."""
    return _CANONICAL.setting(setting)


# ---- items ------------------------------------------------------------------------------------


def format_header(item: ast.Item) -> str:
    """The words before an item's `{`: `model xor`, `block conv(f, k)`, `train`, `train gan`."""
    if isinstance(item, ast.Model):
        return f"model {item.name}"
    if isinstance(item, ast.Block):
        return f"block {item.name}({', '.join(item.params)})"
    if isinstance(item, ast.Train):
        return "train" if item.name is None else f"train {item.name}"
    raise TypeError(f"not a top-level item: {item!r}")


def format_item(item: ast.Item) -> str:
    body = "".join(f"{INDENT}{_CANONICAL.body_line(node)}\n" for node in _body(item))
    return f"{format_header(item)} {{\n{body}}}\n"


def _body(item: ast.Item) -> tuple:
    return item.settings if isinstance(item, ast.Train) else item.statements


def format_spec(spec: ast.Spec) -> str:
    """The whole spec as canonical .nn text: one statement a line, a blank line between items."""
    return "\n".join(format_item(item) for item in spec.items)


# ---- the layout with the author's comments (nngraph fmt) ------------------------------------------


def format_source(text: str, path: str = "<string>") -> str:
    """Spec text in the canonical layout, every comment kept: what `nngraph fmt` writes."""
    from nngraph.spec.parser import parse_commented

    spec, comments = parse_commented(text, path)
    return format_commented(spec, comments)


@dataclass
class _Line:
    """One line of the layout: its text, where it came from, and the comments that go with it."""

    text: str
    indent: str
    start: tuple[int, int]  # the source position of its first word
    end_line: int
    comment_indent: str  # the indent of own-line comments before it
    opens_item: bool = False
    closes_item: bool = False
    align: str | None = None  # the kind of line whose first word is padded with its neighbours' (_align_first_words)
    leading: list = field(default_factory=list)
    trailing: list = field(default_factory=list)


def format_commented(spec: ast.Spec, comments) -> str:
    """`format_spec`'s layout with `comments` (objects with line, column, text, in source order, positions in
    `spec.source`) where they were: a comment after code on its line trails the layout line of that code, an
    own-line comment precedes the line of what follows it (a closing `}`: at the end of the block; nothing:
    at the end of the file). Numbers are spelled as in `spec.source`, columns aligned and long lines wrapped
    as the module's docstring says."""
    return _emit(*commented_lines(spec, comments), _source_lines(spec))


def commented_lines(spec: ast.Spec, comments) -> tuple[list[_Line], list]:
    """The layout's lines, three or more an item (its header, one per statement or setting, its `}`), each with
    the comments it leads and trails; and the comments after the last line. Both surfaces' ASTs work: a YAML
    item's span covers its header key only, so its `}` stands after its last statement."""
    writer = _AsWritten(spec)
    lines = [line for item in spec.items for line in _item_lines(item, writer)]
    tail = _attach(lines, comments, _source_lines(spec))
    return lines, tail


def _item_lines(item: ast.Item, writer: _Writer) -> list[_Line]:
    span = item.span
    header = _Line(f"{format_header(item)} {{", "", (span.line, span.column), span.line, "", opens_item=True)
    body = [_Line(writer.body_line(node), INDENT, (node.span.line, node.span.column),
                  max(node.span.line, node.span.end_line), INDENT, align=_alignment(node))
            for node in _body(item)]
    close_at = (span.end_line, span.end_column - 1)
    if body and close_at <= body[-1].start:
        close_at = (body[-1].end_line, math.inf)
    close = _Line("}", "", close_at, close_at[0], INDENT, closes_item=True)
    return [header, *body, close]


_DECLARATION = "declaration"
_MODEL_AND_ENV = "model and env"
_DECLARATION_WIDTH = len("output")  # the role nearly every model has; a block's ports line up with it


def _alignment(node) -> str | None:
    """The kind of a body line for first-word alignment: a unit or a use; a train block's `model` or `env`
    (the agent and the world it acts in, read as a pair)."""
    if isinstance(node, (ast.Unit, ast.Use)):
        return _DECLARATION
    if isinstance(node, ast.Setting) and node.name in ("model", "env"):
        return _MODEL_AND_ENV
    return None


def _attach(lines: list[_Line], comments, source_lines: list[str]) -> list:
    """Give each comment to its line; the comments after the last line are returned."""
    starts = [line.start for line in lines]
    tail = []
    for comment in comments:
        where = (comment.line, comment.column)
        before = bisect.bisect_left(starts, where) - 1
        if _follows_code(comment, source_lines) and before >= 0:
            lines[before].trailing.append(comment)
        elif before + 1 < len(lines):
            lines[before + 1].leading.append(comment)
        else:
            tail.append(comment)
    return tail


def _follows_code(comment, source_lines: list[str]) -> bool:
    # A `;` alone before a comment is no code to trail.
    return bool(source_lines[comment.line - 1][: comment.column - 1].strip(" \t\f;"))


@dataclass
class _Row:
    """One line of fmt's output before its columns are set: a layout line (`line`), an own-line comment, or a
    blank line (no text)."""

    text: str = ""
    line: _Line | None = None

    @property
    def is_comment(self) -> bool:
        return self.line is None and bool(self.text)


def _emit(lines: list[_Line], tail: list, source_lines: list[str]) -> str:
    rows = _rows(lines, tail)
    _align_first_words(rows)
    physical = [layout.wrapped(row.text) if row.line else [row.text] for row in rows]
    _align_trailing_comments(rows, physical, source_lines)
    return "".join(f"{text}\n" for texts in physical for text in texts)


def _rows(lines: list[_Line], tail: list) -> list[_Row]:
    """The output's lines in order: each layout line after its own-line comments, items one blank line apart,
    a single blank line the author left between two lines of a block kept."""
    rows: list[_Row] = []
    last_line = None  # the source line written last, where a blank line after it is kept; None: none kept

    def put(row: _Row, first_line: int, end_line: int, keep_blank: bool = True) -> None:
        nonlocal last_line
        if keep_blank and last_line is not None and first_line - last_line > 1:
            rows.append(_Row())
        rows.append(row)
        last_line = end_line

    for line in lines:
        if line.opens_item and rows:
            rows.append(_Row())  # items are one blank line apart, whatever the source had
        if line.opens_item:
            last_line = None
        for comment in line.leading:
            put(_Row(line.comment_indent + comment.text), comment.line, comment.line)
        put(_Row(line.indent + line.text, line), line.start[0], line.end_line, keep_blank=not line.closes_item)
        if line.opens_item:
            last_line = None  # no blank line at the top of a block
    if tail and rows:
        rows.append(_Row())
        last_line = None
    for comment in tail:
        put(_Row(comment.text), comment.line, comment.line)
    return rows


def _align_first_words(rows: list[_Row]) -> None:
    """Pad the first words of each run of consecutive lines of one alignment kind to one width; a blank line
    or a line of another kind ends a run, an own-line comment between two lines does not."""
    run: list[_Row] = []
    for row in [*rows, _Row()]:
        if row.is_comment:
            continue
        kind = row.line.align if row.line else None
        if run and kind != run[0].line.align:
            _pad_first_words(run)
            run = []
        if kind:
            run.append(row)


def _pad_first_words(run: list[_Row]) -> None:
    minimum = _DECLARATION_WIDTH if run[0].line.align == _DECLARATION else 0
    texts = layout.padded_first_words([row.line.text for row in run], minimum)
    for row, text in zip(run, texts, strict=True):
        row.text = row.line.indent + text


def _align_trailing_comments(rows: list[_Row], physical: list[list[str]], source_lines: list[str]) -> None:
    """Start the trailing comments of each run of consecutive lines that have one in one column (gofmt's rule:
    a blank line, an own-line comment or a line without a trailing comment ends a run). A wrapped line is a
    run of its own, its comment after its last physical line."""
    run: list[tuple[list, list[str]]] = []
    for row, texts in zip([*rows, _Row()], [*physical, [""]], strict=True):
        commented = row.line is not None and bool(row.line.trailing)
        if run and (not commented or len(texts) > 1 or len(run[-1][1]) > 1):
            _place_comments(run, source_lines)
            run = []
        if commented:
            run.append((row.line.trailing, texts))


def _place_comments(run: list[tuple[list, list[str]]], source_lines: list[str]) -> None:
    comments, texts = run[0]
    written = _written_column(comments[0], texts[-1], source_lines)
    column = layout.comment_column([len(texts[-1]) for _, texts in run], written)
    for comments, texts in run:
        texts[-1] = texts[-1].ljust(column) + "  ".join(comment.text for comment in comments)


def _written_column(comment, code: str, source_lines: list[str]) -> int:
    """Where the author put `comment`, if the code before it on its line is `code`, spacing aside (-1 if not:
    a column chosen for other code, joined by `;` or on another surface, says nothing about this line)."""
    written = source_lines[comment.line - 1][: comment.column - 1] if comment.line <= len(source_lines) else ""
    return comment.column - 1 if written.split() and "".join(written.split()) == "".join(code.split()) else -1
