"""AST -> canonical .nn text.

The formatter is the inverse of the parser: `parse(format_spec(s)) == s` for every AST that
the parser (or the YAML reader) can produce. Negative `Number`s, which only hand-built ASTs
hold, are written `-n` and so read back as `Negate(Number(n))`: the same meaning, another node.

`format_source` is `nngraph fmt`: the same layout for a spec's text, its comments kept where they were
(each attached by position to the line of the layout it precedes or trails) and single blank lines inside a
block kept where the author left them.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field

from nngraph.spec import ast

INDENT = "  "

# Binding strength of each kind of value: an operand binding more loosely than its position
# demands gets parentheses, and only then.
_SUM, _PRODUCT, _UNARY, _ATOM = 1, 2, 3, 4


# ---- values -----------------------------------------------------------------------------


def format_value(value: ast.Value) -> str:
    """One value in .nn syntax, parenthesised only where precedence requires."""
    return _value(value, _SUM)


def spoken(value) -> str:
    """A value for an error message, in the user's words: an AST value (a call that could not be read as
    a number, say) as .nn text in backticks, a Python value as its literal; lists of either alike."""
    if isinstance(value, list):
        return "[" + ", ".join(spoken(v) for v in value) + "]"
    if isinstance(value, (ast.Number, ast.String, ast.Ref, ast.Call, ast.ListValue, ast.BinaryOp, ast.Negate)):
        return f"`{format_value(value)}`"
    return repr(value)


def _value(value: ast.Value, min_strength: int) -> str:
    text = _bare_value(value)
    return f"({text})" if _strength(value) < min_strength else text


def _strength(value: ast.Value) -> int:
    if isinstance(value, ast.BinaryOp):
        return _PRODUCT if value.op == "*" else _SUM
    if isinstance(value, ast.Negate) or (isinstance(value, ast.Number) and value.value < 0):
        return _UNARY
    return _ATOM


def _bare_value(value: ast.Value) -> str:
    if isinstance(value, ast.Number):
        return format_number(value.value)
    if isinstance(value, ast.String):
        return format_string(value.value)
    if isinstance(value, ast.Ref):
        return value.name
    if isinstance(value, ast.Call):
        return format_call(value)
    if isinstance(value, ast.ListValue):
        return "[" + ", ".join(format_value(v) for v in value.items) + "]"
    if isinstance(value, ast.BinaryOp):
        return _binary(value)
    if isinstance(value, ast.Negate):
        return "-" + _value(value.operand, _UNARY)
    raise TypeError(f"not a spec value: {value!r}")


def _binary(op: ast.BinaryOp) -> str:
    # Left-associative: the right operand needs one level more than the left.
    own = _strength(op)
    return f"{_value(op.left, own)} {op.op} {_value(op.right, own + 1)}"


def format_call(call: ast.Call) -> str:
    args = [format_value(a) for a in call.args] + [_kwarg(k) for k in call.kwargs]
    return f"{call.name}({', '.join(args)})"


def _kwarg(kwarg: ast.KeywordArg) -> str:
    return f"{kwarg.name}={format_value(kwarg.value)}"


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


# ---- statements ---------------------------------------------------------------------------


def format_statement(statement: ast.Statement) -> str:
    """One unit, connection or use, on one line, in .nn syntax."""
    if isinstance(statement, ast.Unit):
        return _unit(statement)
    if isinstance(statement, ast.Connection):
        return _connection(statement)
    if isinstance(statement, ast.Use):
        parts = ["use", statement.name, "=", format_call(statement.call)]
        return " ".join(parts + [_attr(a) for a in statement.attrs])
    raise TypeError(f"not a statement: {statement!r}")


def _unit(unit: ast.Unit) -> str:
    head = unit.name + (_shape(unit.shape) if unit.shape is not None else "")
    parts = [unit.role, head]
    if unit.sampler is not None:
        parts.append("~ " + format_call(unit.sampler))
    return " ".join(parts + [_attr(a) for a in unit.attrs])


def _shape(shape: tuple[int | ast.Ref, ...]) -> str:
    if not shape:
        raise ValueError("a shape has at least one dimension")
    return "[" + ", ".join(d.name if isinstance(d, ast.Ref) else str(d) for d in shape) + "]"


def _attr(attr: ast.Attr) -> str:
    if isinstance(attr, ast.Flag):
        return attr.name
    if isinstance(attr, ast.Call):
        return format_call(attr)
    if isinstance(attr, ast.Setting):
        if attr.value is None or attr.kwargs:
            raise ValueError(f"attribute {attr.name!r} must be written name=value")
        return f"{attr.name}={format_value(attr.value)}"
    raise TypeError(f"not a unit attribute: {attr!r}")


def _connection(connection: ast.Connection) -> str:
    return connection.source.name + "".join(" " + _link(link) for link in connection.links)


def _link(link: ast.Link) -> str:
    return " ".join([link.arrow, link.target.name] + [_edge_mod(m) for m in link.mods])


def _edge_mod(mod: ast.EdgeMod) -> str:
    if isinstance(mod, ast.Delay):
        return f"delay {mod.steps}"
    return _attr(mod)


def format_setting(setting: ast.Setting) -> str:
    """One train setting: `key [value] kw=v ...`."""
    parts = [setting.name]
    if setting.value is not None:
        parts.append(format_value(setting.value))
    return " ".join(parts + [_kwarg(k) for k in setting.kwargs])


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
    body = "".join(f"{INDENT}{_body_line(node)}\n" for node in _body(item))
    return f"{format_header(item)} {{\n{body}}}\n"


def _body(item: ast.Item) -> tuple:
    return item.settings if isinstance(item, ast.Train) else item.statements


def _body_line(node) -> str:
    return format_setting(node) if isinstance(node, ast.Setting) else format_statement(node)


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
    leading: list = field(default_factory=list)
    trailing: list = field(default_factory=list)


def format_commented(spec: ast.Spec, comments) -> str:
    """`format_spec`'s layout with `comments` (objects with line, column, text, in source order, positions in
    `spec.source`) where they were: a comment after code on its line trails the layout line of that code, an
    own-line comment precedes the line of what follows it (a closing `}`: at the end of the block; nothing:
    at the end of the file)."""
    return _emit(*commented_lines(spec, comments))


def commented_lines(spec: ast.Spec, comments) -> tuple[list[_Line], list]:
    """The layout's lines, three or more an item (its header, one per statement or setting, its `}`), each with
    the comments it leads and trails; and the comments after the last line. Both surfaces' ASTs work: a YAML
    item's span covers its header key only, so its `}` stands after its last statement."""
    lines = [line for item in spec.items for line in _item_lines(item)]
    tail = _attach(lines, comments, spec.source.splitlines())
    return lines, tail


def _item_lines(item: ast.Item) -> list[_Line]:
    span = item.span
    header = _Line(f"{format_header(item)} {{", "", (span.line, span.column), span.line, "", opens_item=True)
    body = [_Line(_body_line(node), INDENT, (node.span.line, node.span.column),
                  max(node.span.line, node.span.end_line), INDENT)
            for node in _body(item)]
    close_at = (span.end_line, span.end_column - 1)
    if body and close_at <= body[-1].start:
        close_at = (body[-1].end_line, math.inf)
    close = _Line("}", "", close_at, close_at[0], INDENT, closes_item=True)
    return [header, *body, close]


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


def _emit(lines: list[_Line], tail: list) -> str:
    out: list[str] = []
    last_line = None  # the source line written last, where a blank line after it is kept; None: none kept

    def put(text: str, first_line: int, end_line: int, keep_blank: bool = True) -> None:
        nonlocal last_line
        if keep_blank and last_line is not None and first_line - last_line > 1:
            out.append("")
        out.append(text)
        last_line = end_line

    for line in lines:
        if line.opens_item and out:
            out.append("")  # items are one blank line apart, whatever the source had
        if line.opens_item:
            last_line = None
        for comment in line.leading:
            put(line.comment_indent + comment.text, comment.line, comment.line)
        trailing = "".join("  " + comment.text for comment in line.trailing)
        put(line.indent + line.text + trailing, line.start[0], line.end_line, keep_blank=not line.closes_item)
        if line.opens_item:
            last_line = None  # no blank line at the top of a block
    if tail and out:
        out.append("")
        last_line = None
    for comment in tail:
        put(comment.text, comment.line, comment.line)
    return "".join(f"{text}\n" for text in out)
