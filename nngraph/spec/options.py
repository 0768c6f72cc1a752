"""Typed options of a call, declared once by whatever takes the call: a data set, a training method, an
optimizer, a schedule.

An owner declares its options as a dict of `Option`s (kind, default, bounds, choices); `bind` matches a call's
arguments against them and returns plain Python values plus the AST node each came from, so a later check
can still point at the exact argument. Every refusal is positioned at the argument, and raised as the
caller's error class: data options are checked when the data loads (DataError), train settings by `check`
(ValidationError). `choose` binds a named choice against a table of such declarations (`adam(lr=1e-3)`
against the optimizers'), `completed` fills in the defaults of a `Choice` made in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nngraph.errors import Span, ValidationError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.values import call_of, expect_number, literal

KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "path": 'a file path in double quotes, like "train.npz"',
    "str": 'a string in double quotes, like "labels"',
    "choice": "one of",
    "ints": "a list of whole numbers, like [1, 8, 8]",
    "floats": "a list of numbers, like [0.5, -1.0]",
    "column": "a column name in double quotes, or a column number",
    "name": "a name, like generator",
    "call": "a name or a call, like adam(lr=1e-3)",
    "list": "a list, like [[20, 2], [10, 4]]",
}


@dataclass(frozen=True)
class Option:
    """One option: its kind (a key of KIND_WORDS), default, and bounds where they apply: `minimum` and
    `maximum` are allowed values, `above` and `below` are not. `then(value, node)` checks further what
    the kind alone cannot (an optimizer call's own options) and returns the value to keep."""

    kind: str
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    above: float | None = None
    below: float | None = None
    then: Callable | None = None

    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return KIND_WORDS[self.kind]


@dataclass(frozen=True)
class Bound:
    """A call matched to its options: option values, and the AST node behind each given one."""

    values: dict
    nodes: dict

    def __getitem__(self, name: str):
        return self.values[name]

    def given(self, name: str) -> bool:
        return name in self.nodes


@dataclass(frozen=True)
class Choice:
    """A named choice with its options: an optimizer, a schedule, a method."""

    name: str
    options: dict = field(default_factory=dict, hash=False)
    span: Span | None = None
    spans: dict = field(default_factory=dict, hash=False, compare=False)  # option -> its value's span, as written

    def span_of(self, option: str) -> Span | None:
        """Where `option` was written, else where the choice was (a default, or a Choice made in Python)."""
        return self.spans.get(option, self.span)


def bind(call: ast.Call, options: dict[str, Option], positional: tuple[str, ...] | None = None,
         error: type = ValidationError, label: str | None = None) -> Bound:
    """Check every argument of `call` against `options` (positional ones fill `positional`, by default every
    option in declaration order); unknown, repeated or ill-typed ones raise `error`. `label` names the call
    in messages (default: its name)."""
    label = label or call.name
    positional = tuple(options) if positional is None else positional
    given: dict[str, ast.Value] = {}
    for index, arg in enumerate(call.args):
        if index >= len(positional):
            raise _extra_positional(label, arg, options, positional, error)
        given[positional[index]] = arg
    for kw in call.kwargs:
        if kw.name not in options:
            hint = did_you_mean(kw.name, options) if options else f"{call.name} takes no options"
            raise error(f"{label} has no option '{kw.name}'", kw.span, hint)
        if kw.name in given:
            raise error(f"{call.name}: option '{kw.name}' is given twice", kw.span)
        given[kw.name] = kw.value
    values = {name: option.default for name, option in options.items()}
    for name, node in given.items():
        values[name] = convert(node, options[name], f"{call.name}: {name}", error)
    return Bound(values, given)


def choose(call: ast.Call, table: dict, what: str, error: type = ValidationError) -> Choice:
    """`adam(lr=1e-3)` bound against the options `table` declares for `adam` (a dict of `Option`s, or a
    registry entry holding one as `.options`): a Choice holding every option, the defaults filled in."""
    options = _entry(call.name, table, what, call.span, error)
    bound = bind(call, options, error=error, label=f"{what} '{call.name}'")
    return Choice(call.name, bound.values, call.span, {name: node.span for name, node in bound.nodes.items()})


def completed(choice: Choice, table: dict, what: str, error: type = ValidationError) -> dict:
    """A Choice's options with the defaults of `table` filled in: the one place they are merged. A Choice
    made by `choose` holds them all already; one made in Python (the API, tests) may name only some."""
    options = _entry(choice.name, table, what, choice.span, error)
    unknown = [name for name in choice.options if name not in options]
    if unknown:
        raise error(f"{what} '{choice.name}' has no option '{unknown[0]}'", choice.span,
                    did_you_mean(unknown[0], options))
    return {**{name: option.default for name, option in options.items()}, **choice.options}


def _entry(name: str, table: dict, what: str, span: Span | None, error: type) -> dict[str, Option]:
    """The options `table` declares for `name`: the entry itself, or its `.options` (a registry entry)."""
    if name not in table:
        raise error(f"unknown {what} '{name}'", span, did_you_mean(name, table))
    return getattr(table[name], "options", table[name])


def _extra_positional(label: str, arg: ast.Value, options: dict, positional, error: type):
    names = ", ".join(sorted(options)) or "none"
    hint = f"write options as name=value; {label} takes: {names}"
    if isinstance(arg, ast.Ref) and arg.name in options:
        hint = f"an option needs a value: write `{arg.name}=...`"
    takes = f"{len(positional)} positional argument(s) ({', '.join(positional)})"
    what = takes if positional else "no positional argument"
    return error(f"{label} takes {what}: unexpected `{_show(arg)}`", arg.span, hint)


def _show(node: ast.Value) -> str:
    if isinstance(node, ast.Ref):
        return node.name
    if isinstance(node, (ast.Number, ast.String)):
        return repr(node.value)
    return type(node).__name__.lower()


# ---- conversion -----------------------------------------------------------------------


def convert(node: ast.Value, option: Option, what: str, error: type = ValidationError):
    """The Python value of `node` if it fits `option`, else `error` at the node."""
    value = _plain(node, error)
    checked = CHECKS[option.kind](node, value, option)
    if checked is _WRONG:
        raise error(f"{what} expects {option.expected()}, got {_describe(node, value)}", node.span,
                    _kind_hint(option, value))
    for number in value if isinstance(value, list) else [value]:
        if _is_number(number):  # the value as written: `0`, not `0.0`
            expect_number(number, node.span, what, low=_first(option.minimum, option.above),
                          high=_first(option.maximum, option.below), low_open=option.above is not None,
                          high_open=option.below is not None, error=error)
    return option.then(checked, node) if option.then is not None else checked


def _first(*values):
    return next((v for v in values if v is not None), None)


def _plain(node: ast.Value, error: type):
    """Numbers, lists and arithmetic evaluated by the spec layer, its errors raised as `error`."""
    if isinstance(node, ast.Call):
        return node
    try:
        return literal(node)
    except ValidationError as e:
        raise error(e.message, e.span, e.hint) from None


_WRONG = object()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_int(value):
    if _is_number(value) and float(value).is_integer():
        return int(value)
    return _WRONG


def _check_list(convert_item):
    def check(node, value, option):
        if not isinstance(value, list) or not value:
            return _WRONG
        items = [convert_item(v) for v in value]
        return _WRONG if any(i is _WRONG for i in items) else items

    return check


def _check_call(node, value, option):
    return call_of(node) if isinstance(node, (ast.Call, ast.Ref)) else _WRONG


CHECKS = {
    "int": lambda node, value, option: _as_int(value),
    "float": lambda node, value, option: float(value) if _is_number(value) else _WRONG,
    "bool": lambda node, value, option: value if isinstance(value, bool) else _WRONG,
    "path": lambda node, value, option: value if isinstance(node, ast.String) else _WRONG,
    "str": lambda node, value, option: value if isinstance(node, ast.String) else _WRONG,
    "choice": lambda node, value, option: (value if isinstance(node, (ast.Ref, ast.String))
                                           and value in option.choices else _WRONG),
    "ints": _check_list(_as_int),
    "floats": _check_list(lambda v: float(v) if _is_number(v) else _WRONG),
    "column": lambda node, value, option: value if isinstance(node, ast.String) else _as_int(value),
    "name": lambda node, value, option: value if isinstance(node, (ast.Ref, ast.String)) and isinstance(
        value, str) else _WRONG,
    "call": _check_call,
    "list": _check_list(lambda v: v),
}


def _describe(node: ast.Value, value) -> str:
    if isinstance(node, ast.Ref):
        return f"the name `{node.name}`"
    if isinstance(node, ast.String):
        return f'the string "{node.value}"'
    if isinstance(node, ast.Call):
        return f"a call `{node.name}(...)`"
    return repr(value)


def _kind_hint(option: Option, value) -> str | None:
    if option.kind == "choice":
        return did_you_mean(value, option.choices) if isinstance(value, str) else None
    if option.kind in ("path", "str"):
        return "put the text in double quotes"
    if option.kind == "bool":
        return "write true or false"
    return None
