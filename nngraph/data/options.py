"""Typed options of a data call: what each loader accepts, and the checks that keep bad values out.

A loader declares its options as a dict of `Option`s; `bind` matches a call's arguments against
them and returns plain Python values plus the AST node each came from, so a loader can still
point at the exact argument when a value turns out wrong later (a missing csv column, say).
"""

from __future__ import annotations

from dataclasses import dataclass

from nngraph.errors import DataError, ValidationError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.values import literal

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
}


@dataclass(frozen=True)
class Option:
    """One option: its kind (a key of KIND_WORDS), default, and bounds where they apply."""

    kind: str
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return KIND_WORDS[self.kind]


@dataclass(frozen=True)
class Bound:
    """A call matched to a loader: option values, and the AST node behind each given one."""

    values: dict
    nodes: dict

    def __getitem__(self, name: str):
        return self.values[name]

    def given(self, name: str) -> bool:
        return name in self.nodes


def bind(call: ast.Call, options: dict[str, Option], positional: tuple[str, ...]) -> Bound:
    """Check every argument of `call` against `options`; unknown or ill-typed ones raise DataError."""
    given: dict[str, ast.Value] = {}
    for index, arg in enumerate(call.args):
        if index >= len(positional):
            raise _extra_positional(call, arg, options, positional)
        given[positional[index]] = arg
    for kw in call.kwargs:
        if kw.name not in options:
            raise _unknown_option(call, kw, options)
        if kw.name in given:
            raise DataError(f"{call.name}: option '{kw.name}' is given twice", kw.span)
        given[kw.name] = kw.value
    values = {name: option.default for name, option in options.items()}
    for name, node in given.items():
        values[name] = convert(node, options[name], f"{call.name}: option '{name}'")
    return Bound(values, given)


def _extra_positional(call: ast.Call, arg: ast.Value, options: dict, positional) -> DataError:
    names = ", ".join(sorted(options)) or "none"
    hint = f"write options as name=value; {call.name} takes: {names}"
    if isinstance(arg, ast.Ref) and arg.name in options:
        hint = f"an option needs a value: write `{arg.name}=...`"
    takes = f"{len(positional)} positional argument(s) ({', '.join(positional)})"
    what = takes if positional else "no positional argument"
    return DataError(f"{call.name} takes {what}: unexpected `{_show(arg)}`", arg.span, hint)


def _unknown_option(call: ast.Call, kw: ast.KeywordArg, options: dict) -> DataError:
    hint = did_you_mean(kw.name, options) if options else f"{call.name} takes no options"
    return DataError(f"{call.name} has no option '{kw.name}'", kw.span, hint)


def _show(node: ast.Value) -> str:
    if isinstance(node, ast.Ref):
        return node.name
    if isinstance(node, (ast.Number, ast.String)):
        return repr(node.value)
    return type(node).__name__.lower()


# ---- conversion -----------------------------------------------------------------------


def convert(node: ast.Value, option: Option, what: str):
    """The Python value of `node` if it fits `option`, else a DataError at the node."""
    value = _plain(node)
    checked = CHECKS[option.kind](node, value, option)
    if checked is _WRONG:
        raise DataError(
            f"{what} expects {option.expected()}, got {_describe(node, value)}",
            node.span,
            _kind_hint(option, value),
        )
    _check_range(checked, option, what, node)
    return checked


def _plain(node: ast.Value):
    """Numbers, lists and arithmetic evaluated by the spec layer, its errors made data errors."""
    if isinstance(node, ast.Call):
        return node
    try:
        return literal(node)
    except ValidationError as e:
        raise DataError(e.message, e.span, e.hint) from None


_WRONG = object()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_int(value):
    if _is_number(value) and float(value).is_integer():
        return int(value)
    return _WRONG


def _check_int(node, value, option):
    return _as_int(value)


def _check_float(node, value, option):
    return float(value) if _is_number(value) else _WRONG


def _check_bool(node, value, option):
    return value if isinstance(value, bool) else _WRONG


def _check_string(node, value, option):
    return value if isinstance(node, ast.String) else _WRONG


def _check_choice(node, value, option):
    if isinstance(node, (ast.Ref, ast.String)) and value in option.choices:
        return value
    return _WRONG


def _check_list(convert_item):
    def check(node, value, option):
        if not isinstance(value, list) or not value:
            return _WRONG
        items = [convert_item(v) for v in value]
        return _WRONG if any(i is _WRONG for i in items) else items

    return check


def _check_column(node, value, option):
    return value if isinstance(node, ast.String) else _as_int(value)


CHECKS = {
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "path": _check_string,
    "str": _check_string,
    "choice": _check_choice,
    "ints": _check_list(_as_int),
    "floats": _check_list(lambda v: float(v) if _is_number(v) else _WRONG),
    "column": _check_column,
}


def _check_range(value, option: Option, what: str, node: ast.Value) -> None:
    for number in value if isinstance(value, list) else [value]:
        if not _is_number(number):
            continue
        if option.minimum is not None and number < option.minimum:
            raise DataError(f"{what} must be at least {option.minimum}, got {number}", node.span)
        if option.maximum is not None and number > option.maximum:
            raise DataError(f"{what} must be at most {option.maximum}, got {number}", node.span)


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
