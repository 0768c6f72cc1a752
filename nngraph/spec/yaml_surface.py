"""YAML <-> the spec AST: the second surface of the same language.

Reading walks the composed YAML nodes (never constructed Python objects), so every scalar
keeps its exact text and position. A scalar is .nn text: statements are parsed as .nn
statements and values as .nn values, with spans pointing into the YAML file. YAML's own
types play no part: `true` is the name `true` (how .nn spells booleans), `0.5` the number 0.5.

Layout: a top-level mapping (or, where keys repeat, a list of one-key mappings) of
`model NAME`, `block NAME(params)` and `train [NAME]`. A model or block maps
`units`/`uses`/`connections` (read in that order) or one `statements` list (any order) to
lists of statement text. A train maps setting names to a value (text, or a list), to `{}`
(a bare setting), or to `{value: v, kw: v, ...}`; where names repeat it is a list of
.nn setting lines instead.

Comments cross over in `nngraph convert`: `yaml_comments` finds a YAML file's comments (PyYAML's scanner skips
them; its tokens say where the YAML is), and `to_yaml` writes a .nn spec's comments as YAML comments, each
beside or before the line of the statement it was beside or before (`format.commented_lines` attaches them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import yaml

from nngraph.errors import SourceError, Span, SpecSyntaxError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.format import (
    commented_lines,
    format_header,
    format_setting,
    format_statement,
    format_value,
)
from nngraph.spec.limits import MAX_NESTING, collector_paused
from nngraph.spec.parser import Comment
from nngraph.spec.parser import parse_fragment as _parse_fragment

ITEM_WORDS = ("model", "block", "train")
SECTIONS = {"units": ast.Unit, "uses": ast.Use, "connections": ast.Connection}
ALL_STATEMENTS = "statements"
VALUE_KEY = "value"  # in `{value: v, kw: v}`, the setting's own value
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the grammar's NAME
# A statement or setting is (also) parsed where the formatter writes it: inside a body, after
# a separator. There the grammar reserves a few words it lets a lone fragment use as names
# (`model -> b`); checking in this context keeps YAML to what .nn can write back.
_BODY_PREFIX = {"statement": "model _ {;", "setting": "train {;"}
_KIND_WORDS = {ast.Unit: "a unit", ast.Use: "a use", ast.Connection: "a connection"}


# ---- reading ---------------------------------------------------------------------------------


@dataclass
class _Context:
    path: str
    lines: list[str]

    def span(self, node: yaml.Node) -> Span:
        return _mark_span(self.path, node.start_mark)

    def error(self, node: yaml.Node, message: str, hint: str | None = None) -> SpecSyntaxError:
        return SpecSyntaxError(message, self.span(node), hint)


def _mark_span(path: str, mark) -> Span:
    return Span(path, mark.line + 1, mark.column + 1)


# the tags of YAML's core schema: a spec may spell out what a value is, but no other type is made from its text
CORE_TAGS = {"!", *(f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "seq", "map"))}


class _Loader(yaml.SafeLoader):
    """Composes nodes only; refuses aliases, which would let one node stand in many places, and tags outside
    YAML's core schema (`!!python/object`, `!custom`), which would otherwise be dropped without a word."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise SpecSyntaxError(
                f"YAML alias *{event.anchor} is not supported in a spec", _mark_span(self.name, event.start_mark),
                "write the text out again, or use a block for repeated structure",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in CORE_TAGS:
            raise SpecSyntaxError(f"YAML tag {_shown_tag(tag)} is not supported in a spec",
                                  _mark_span(self.name, event.start_mark), "leave the tag out: values are text")
        return super().compose_node(parent, index)


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def parse_yaml(text: str, path: str = "<string>") -> ast.Spec:
    """Parse the YAML surface into the same AST as the .nn surface."""
    with collector_paused():  # as parse does (spec/limits.py)
        return _parse_yaml(text, path)


def _parse_yaml(text: str, path: str) -> ast.Spec:
    root = _compose(text, path)
    if root is None:
        hint = "a spec holds at least one `model NAME:`"
        raise SourceError(f"{path} is empty", Span(path, 1, 1), hint)
    ctx = _Context(path, text.splitlines())
    items = tuple(_item(ctx, key, body) for key, body in _entries(ctx, root, "the top level"))
    return ast.Spec(items, path=path, source=text, surface="yaml")


def parse_yaml_commented(text: str, path: str = "<string>") -> tuple[ast.Spec, tuple[Comment, ...]]:
    """Like `parse_yaml`, and the comments too."""
    spec = parse_yaml(text, path)
    return spec, yaml_comments(spec.source)


def yaml_comments(text: str) -> tuple[Comment, ...]:
    """The comments of (valid) YAML text: a `#` after whitespace, past the last token on its line or on a line
    with none. A block scalar's lines are inside its token, so a `#` there is text, not a comment."""
    rows = text.splitlines()
    covered = [0] * (len(rows) + 1)  # per line: the column where its last token ends
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        start, end = token.start_mark, token.end_mark
        for line in range(start.line, min(end.line, len(rows)) + 1):
            covered[line] = max(covered[line], end.column if line == end.line else len(rows[line]))
    found = []
    for number, row in enumerate(rows):
        rest = row[covered[number]:]
        at = covered[number] + len(rest) - len(rest.lstrip())
        if rest.lstrip().startswith("#") and (at == 0 or row[at - 1].isspace()):
            found.append(Comment(number + 1, at + 1, row[at:].rstrip()))
    return tuple(found)


def _compose(text: str, path: str) -> yaml.Node | None:
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        loader.name = path
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        message = "invalid YAML: " + "; ".join(filter(None, [e.context, e.problem]))
        mark = e.problem_mark or e.context_mark
        # from the offset: PyYAML counts a lone '\r' as a line break, where lines are '\n'-separated to us
        span = _offset_span(text, path, mark.index) if mark is not None else Span(path, 1, 1)
        raise SpecSyntaxError(message, span, _yaml_hint(e)) from None
    except yaml.YAMLError as e:  # a ReaderError: a character YAML does not allow
        span = _offset_span(text, path, getattr(e, "position", 0))
        char = getattr(e, "character", None)
        what = f"character #x{char:04x}" if isinstance(char, int) else "character"
        raise SpecSyntaxError(f"invalid YAML: {what} is not allowed", span,
                              "YAML text cannot hold control characters") from None
    except RecursionError:
        raise SpecSyntaxError("YAML nested too deeply", Span(path, 1, 1)) from None
    finally:
        if loader is not None:
            loader.dispose()


def _offset_span(text: str, path: str, offset: int) -> Span:
    line = text.count("\n", 0, offset) + 1
    return Span(path, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _yaml_hint(e: yaml.MarkedYAMLError) -> str | None:
    problem = e.problem or ""
    if "'\\t'" in problem:
        return "YAML indents with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': '"
    return None


def _pairs(ctx: _Context, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's (key, value) nodes in order; a repeated key is refused (PyYAML keeps the last
    one silently)."""
    first_seen: dict[str, yaml.Node] = {}
    for key, _ in node.value:
        text = _scalar_text(ctx, key, "a key")
        if text in first_seen:
            line = first_seen[text].start_mark.line + 1
            message = f"duplicate key {text!r} (first on line {line})"
            raise ctx.error(key, message, "each key may appear once")
        first_seen[text] = key
    return list(node.value)


def _entries(ctx: _Context, node: yaml.Node, where: str, text_allowed=False):
    """(key, value) pairs of a mapping, or of a list of one-key mappings (where keys repeat).

    Where `text_allowed`, a list element may also be plain text: it comes back as (node, None).
    """
    if isinstance(node, yaml.MappingNode):
        return _pairs(ctx, node)
    if _is_empty(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        message = f"expected a mapping at {where}, found {_kind(node)}"
        raise ctx.error(node, message, _layout_hint(where))
    return [_list_entry(ctx, element, where, text_allowed) for element in node.value]


def _list_entry(ctx, element, where, text_allowed):
    if text_allowed and isinstance(element, yaml.ScalarNode):
        return element, None
    if isinstance(element, yaml.MappingNode) and len(element.value) == 1:
        return _pairs(ctx, element)[0]
    message = f"expected a one-key mapping in the list at {where}, found {_kind(element)}"
    raise ctx.error(element, message)


def _layout_hint(where: str) -> str:
    if where == "the top level":
        return "a YAML spec maps `model NAME`, `block NAME(params)` and `train [NAME]` to bodies"
    return "write `key: value` lines"


def _item(ctx: _Context, key: yaml.Node, body: yaml.Node) -> ast.Item:
    header = _header(ctx, key)
    if isinstance(header, ast.Train):
        return replace(header, settings=_settings(ctx, body))
    return replace(header, statements=_statements(ctx, body))


def _header(ctx: _Context, key: yaml.Node) -> ast.Item:
    """`model NAME` and the like, checked by the .nn grammar itself."""
    text = _scalar_text(ctx, key, "a top-level key")
    word = _NAME.match(text.strip())
    if word is None or word.group() not in ITEM_WORDS:
        hint = did_you_mean(word.group() if word else text, ITEM_WORDS)
        raise ctx.error(key, f"unknown top-level key {text!r}", hint)
    items = _fragment(ctx, text + " {}", "start", *_text_start(ctx, key))
    if len(items) != 1 or _body(items[0]):
        hint = "one key per model, block or train"
        raise ctx.error(key, f"{text!r} names more than one item", hint)
    return items[0]


def _statements(ctx: _Context, body: yaml.Node) -> tuple[ast.Statement, ...]:
    if _is_empty(body):
        return ()
    if not isinstance(body, yaml.MappingNode):
        message = f"expected a mapping of sections, found {_kind(body)}"
        raise ctx.error(body, message, _sections_hint())
    sections = {}
    for key, value in _pairs(ctx, body):
        name = key.value
        if name not in SECTIONS and name != ALL_STATEMENTS:
            hint = did_you_mean(name, [*SECTIONS, ALL_STATEMENTS])
            raise ctx.error(key, f"unknown section {name!r}", hint)
        if sections and (ALL_STATEMENTS in sections or name == ALL_STATEMENTS):
            message = f"`{ALL_STATEMENTS}:` cannot be mixed with other sections"
            raise ctx.error(key, message, _sections_hint())
        sections[name] = [_statement(ctx, e, SECTIONS.get(name), name) for e in _list(ctx, value)]
    if ALL_STATEMENTS in sections:
        return tuple(sections[ALL_STATEMENTS])
    return tuple(s for name in SECTIONS for s in sections.get(name, ()))


def _sections_hint() -> str:
    return "list statements under `units:`, `uses:` and `connections:`, or all under `statements:`"


def _statement(ctx: _Context, node: yaml.Node, expected: type | None, section: str):
    text = _text(ctx, node, "a statement")
    try:
        statement = _in_body(ctx, node, "statement")  # parsed once where valid (half the time of a large spec)
    except SpecSyntaxError:
        # the fragment rule's errors read best ("unexpected end of file"); where it accepts the text, the
        # body's refusal (a reserved word as a name) stands
        _fragment(ctx, text, "statement_only", *_text_start(ctx, node))
        raise
    if expected is not None and not isinstance(statement, expected):
        right = next(name for name, kind in SECTIONS.items() if isinstance(statement, kind))
        message = f"{text.strip()!r} is {_KIND_WORDS[type(statement)]}, listed under `{section}:`"
        raise ctx.error(node, message, f"move it under `{right}:`")
    return statement


def _settings(ctx: _Context, body: yaml.Node) -> tuple[ast.Setting, ...]:
    entries = _entries(ctx, body, "a train", text_allowed=True)
    return tuple(
        _in_body(ctx, key, "setting") if value is None else _setting(ctx, key, value)
        for key, value in entries
    )


def _in_body(ctx: _Context, node: yaml.Node, kind: str):
    """The one statement or setting a scalar holds, parsed inside a body of the right kind."""
    text = _text(ctx, node, f"a {kind}")
    prefix = _BODY_PREFIX[kind]
    line, column = _text_start(ctx, node)
    items = _fragment(ctx, prefix + text + "}", "start", line, column - len(prefix))
    body = _body(items[0]) if len(items) == 1 else ()
    if len(body) != 1:
        raise ctx.error(node, f"expected one {kind}, found {text!r}", f"one {kind} per entry")
    return body[0]


def _body(item: ast.Item) -> tuple:
    return item.settings if isinstance(item, ast.Train) else item.statements


def _setting(ctx: _Context, key: yaml.Node, value: yaml.Node) -> ast.Setting:
    name = _setting_name(ctx, key)
    if isinstance(value, yaml.MappingNode):
        return _setting_with_kwargs(ctx, name, key, value)
    if _is_empty(value):
        return ast.Setting(name, None, (), ctx.span(key))
    return ast.Setting(name, _value(ctx, value), (), ctx.span(key))


def _setting_name(ctx: _Context, key: yaml.Node) -> str:
    bare = _in_body(ctx, key, "setting")  # the grammar decides which words may name a setting
    if bare.value is not None or bare.kwargs:
        raise ctx.error(key, f"{key.value!r} is not a setting name", "write `key: value`")
    return bare.name


def _setting_with_kwargs(ctx, name: str, key: yaml.Node, mapping: yaml.MappingNode) -> ast.Setting:
    value, kwargs = None, []
    for kw_key, kw_value in _pairs(ctx, mapping):
        if kw_key.value == VALUE_KEY:
            value = _value(ctx, kw_value)
        elif _NAME.fullmatch(kw_key.value):
            kwargs.append(ast.KeywordArg(kw_key.value, _value(ctx, kw_value), ctx.span(kw_key)))
        else:
            message = f"{kw_key.value!r} is not a keyword name"
            raise ctx.error(kw_key, message, "names are letters, digits and _")
    return ast.Setting(name, value, tuple(kwargs), ctx.span(key))


def _value(ctx: _Context, node: yaml.Node, depth: int = 0) -> ast.Value:
    if isinstance(node, yaml.SequenceNode):
        if depth >= MAX_NESTING:
            raise ctx.error(node, f"lists nested more than {MAX_NESTING} deep")
        return ast.ListValue(tuple(_value(ctx, v, depth + 1) for v in node.value), ctx.span(node))
    if isinstance(node, yaml.MappingNode):
        hint = "keyword arguments go in a call: f(a=1)"
        raise ctx.error(node, "a value cannot be a mapping here", hint)
    text = _text(ctx, node, "a value")
    return _fragment(ctx, text, "value_only", *_text_start(ctx, node))


def _list(ctx: _Context, node: yaml.Node) -> list[yaml.Node]:
    if _is_empty(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(node, f"expected a list, found {_kind(node)}", "start each entry with '- '")
    return list(node.value)


def _scalar_text(ctx: _Context, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, f"expected {what} written as text, found {_kind(node)}", "quote it")
    return node.value


def _text(ctx: _Context, node: yaml.Node, what: str) -> str:
    """A scalar's text, refused when blank; trailing space (a block scalar's newline) dropped."""
    text = _scalar_text(ctx, node, what).rstrip()
    if not text.strip():
        raise ctx.error(node, f"missing {what.split()[-1]}", f"write {what} here")
    return text


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.value == ""


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the text {node.value!r}"


def _text_start(ctx: _Context, node: yaml.Node) -> tuple[int, int]:
    """Line and column (1-based) where a scalar's own text begins in the file.

    Exact for one-line scalars; inside a folded or escaped one, later columns drift a little.
    """
    mark = node.start_mark
    if node.style in ('"', "'"):
        return mark.line + 1, mark.column + 2
    if node.style in ("|", ">"):  # the text starts on a later line, at its indentation
        for number in range(mark.line + 1, len(ctx.lines)):
            line = ctx.lines[number]
            if line.strip():
                return number + 1, len(line) - len(line.lstrip(" ")) + 1
    return mark.line + 1, mark.column + 1


# ---- writing -----------------------------------------------------------------------------------


class _Text(str):
    """.nn text, written plain wherever YAML allows (the reader reads text, never YAML types)."""


class _FlowList(list):
    pass


class _FlowMap(dict):
    pass


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # indent lists under their key


def _represent_text(dumper: yaml.SafeDumper, text: _Text):
    # Tag it as whatever YAML would read the plain text as, so `0.5` or `true` stay unquoted.
    tag = dumper.resolve(yaml.ScalarNode, str(text), (True, False))
    return dumper.represent_scalar(tag, str(text))


_Dumper.add_representer(_Text, _represent_text)
_Dumper.add_representer(
    _FlowList, lambda dumper, v: dumper.represent_sequence("tag:yaml.org,2002:seq", v, True)
)
_Dumper.add_representer(
    _FlowMap, lambda dumper, v: dumper.represent_mapping("tag:yaml.org,2002:map", v, True)
)


def to_yaml(spec: ast.Spec, comments=()) -> str:
    """The spec on the YAML surface; `parse_yaml(to_yaml(s)) == s`. `comments` (`parser.Comment`s of
    `spec.source`) become YAML comments where they were."""
    entries = [(_Text(format_header(item)), _yaml_body(item)) for item in spec.items]
    data = dict(entries) if _distinct([k for k, _ in entries]) else [{k: v} for k, v in entries]
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,  # never fold a line: the reader takes each scalar's text as written
    )
    return _with_comments(text.splitlines(), spec, comments)


def _with_comments(rows: list[str], spec: ast.Spec, comments) -> str:
    """The dumped rows, a blank line between items, the comments placed: the dump writes each item as its
    header row, then (models and blocks) section keys and one row per statement, or (trains) one row per
    setting, in the AST's order, which is the order of the layout's lines."""
    lines, tail = commented_lines(spec, comments)
    rows = iter(rows)
    groups, group, indent, sections = [], [], "", False
    for line in lines:
        if line.opens_item:
            group, indent, sections = [], INDENT_YAML, not line.text.startswith("train")
            groups.append(group)
        if line.closes_item:
            group += _comment_rows(line.leading + line.trailing, indent)
            continue
        row = next(rows)
        while sections and not line.opens_item and row.strip() in _SECTION_KEYS:
            group.append(row)
            row = next(rows)
        indent = "" if line.opens_item else row[: len(row) - len(row.lstrip())]
        group += _comment_rows(line.leading, indent)
        group.append(row + "".join("  " + c.text for c in line.trailing))
    if tail:
        groups.append(_comment_rows(tail, ""))
    return "\n\n".join("\n".join(g) for g in groups) + "\n" if groups else ""


INDENT_YAML = "  "
_SECTION_KEYS = {f"{name}:" for name in (*SECTIONS, ALL_STATEMENTS)}


def _comment_rows(comments, indent: str) -> list[str]:
    return [indent + c.text for c in comments]


def _yaml_body(item: ast.Item):
    if isinstance(item, ast.Train):
        return _yaml_train(item.settings)
    return _yaml_statements(item.statements)


def _yaml_statements(statements: tuple[ast.Statement, ...]) -> dict:
    kinds = list(SECTIONS.values())
    ranks = [kinds.index(type(s)) for s in statements]
    if ranks != sorted(ranks):  # sections would reorder the statements: keep one list
        return {ALL_STATEMENTS: [_Text(format_statement(s)) for s in statements]}
    sections = {
        name: [_Text(format_statement(s)) for s in statements if isinstance(s, kind)]
        for name, kind in SECTIONS.items()
    }
    return {name: texts for name, texts in sections.items() if texts}


def _yaml_train(settings: tuple[ast.Setting, ...]):
    if _distinct([s.name for s in settings]) and all(map(_fits_a_mapping, settings)):
        return {_Text(s.name): _yaml_setting(s) for s in settings}
    return [_Text(format_setting(s)) for s in settings]  # .nn lines keep repeats as written


def _fits_a_mapping(setting: ast.Setting) -> bool:
    names = [k.name for k in setting.kwargs]
    return _distinct(names) and VALUE_KEY not in names


def _distinct(names: list[str]) -> bool:
    return len(set(names)) == len(names)


def _yaml_setting(setting: ast.Setting):
    if not setting.kwargs:
        return _FlowMap() if setting.value is None else _yaml_value(setting.value)
    mapping = _FlowMap()
    if setting.value is not None:
        mapping[VALUE_KEY] = _yaml_value(setting.value)
    mapping.update((_Text(k.name), _yaml_value(k.value)) for k in setting.kwargs)
    return mapping


def _yaml_value(value: ast.Value):
    if isinstance(value, ast.ListValue):
        return _FlowList(_yaml_value(v) for v in value.items)
    return _Text(format_value(value))


def _fragment(ctx: _Context, text: str, rule: str, line: int, column: int):
    """Parse .nn text held in a YAML scalar. A plain scalar folded over several lines (often a mis-indented
    list item) no longer matches the file column for column: its errors point at the scalar's start."""
    try:
        return _parse_fragment(text, rule, ctx.path, line, column)
    except SpecSyntaxError as e:
        if e.span is None or e.span.line != line or "\n" in text:
            raise
        rows = ctx.lines
        if 0 < line <= len(rows) and e.span.column > len(rows[line - 1]) + 1:
            raise SpecSyntaxError(e.message, Span(ctx.path, line, column),
                                  "this text runs over several YAML lines; is a list item indented wrongly?") from None
        raise

