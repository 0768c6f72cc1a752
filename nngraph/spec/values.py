"""Turning AST values into Python values, and reading typed options out of calls."""

from __future__ import annotations

import dataclasses
import sys

from nngraph.errors import Span, ValidationError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.format import spoken

BOOLEANS = {"true": True, "false": False}


def literal(value: ast.Value, env: dict | None = None):
    """A constant's Python value. Refs become block parameters, booleans or plain names (str)."""
    env = env or {}
    if isinstance(value, (ast.Number, ast.String)):
        return value.value
    if isinstance(value, ast.Ref):
        if value.name in env:
            return env[value.name]
        return BOOLEANS.get(value.name, value.name)
    if isinstance(value, ast.ListValue):
        return [literal(v, env) for v in value.items]
    if isinstance(value, ast.Negate):
        inner = literal(value.operand, env)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
        raise ValidationError("only numbers can be negated", value.span)
    if isinstance(value, ast.BinaryOp):
        return _arithmetic(value, env)
    return value  # a Call stays a Call: its meaning depends on where it stands


def _arithmetic(value: ast.BinaryOp, env: dict):
    a, b = literal(value.left, env), literal(value.right, env)
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        raise ValidationError(f"'{value.op}' needs numbers here", value.span)
    result = {"+": a + b, "-": a - b, "*": a * b}[value.op]
    if abs(result) > sys.float_info.max:  # an int too (it would fail or overflow as a float later)
        raise ValidationError(f"'{value.op}' overflows: the result is too large for a number", value.span,
                              f"numbers go up to about {sys.float_info.max:.3g}")
    return result


def call_of(value: ast.Value) -> ast.Call:
    """`adam` and `adam()` mean the same: a bare name is a call without arguments."""
    if isinstance(value, ast.Call):
        return value
    if isinstance(value, ast.Ref):
        return ast.Call(value.name, (), (), value.span)
    raise ValidationError("expected a name or a call like `name(key=value)`", value.span)


def bind_options(call: ast.Call, defaults: dict, what: str, env: dict | None = None) -> dict:
    """Match a call's positional and keyword arguments against known options and defaults."""
    names = list(defaults)
    options = dict(defaults)
    if len(call.args) > len(names):
        extra = call.args[len(names)]
        raise ValidationError(
            f"{what} '{call.name}' takes at most {len(names)} positional argument(s)", extra.span
        )
    for name, arg in zip(names, call.args):
        options[name] = literal(arg, env)
    given = set(names[:len(call.args)])
    for kw in call.kwargs:
        if kw.name not in defaults:
            hint = did_you_mean(kw.name, names) if names else f"'{call.name}' takes no options"
            raise ValidationError(f"{what} '{call.name}' has no option '{kw.name}'", kw.span, hint)
        if kw.name in given:
            raise ValidationError(f"{what} '{call.name}': option '{kw.name}' is given twice", kw.span)
        given.add(kw.name)
        options[kw.name] = literal(kw.value, env)
    return options


def expect_number(value, span, name: str, *, integer=False, low=None, high=None, low_open=False,
                  high_open=False, error: type = ValidationError):
    """Check a number and its range; the message names the setting and the bounds, and is raised as
    `error` (a data option's range is a DataError)."""
    kind = "a whole number" if integer else "a number"
    if integer and isinstance(value, float) and value.is_integer():  # 1e5: whole, as a method's or data's options
        value = int(value)  # take it (inf and nan are not: is_integer is False)
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise error(f"{name}: expected {kind}, got {spoken(value)}", span)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        rng = f"{lo or '(-inf'}, {hi or 'inf)'}"
        raise error(f"{name}: {value} is out of range {rng}", span, _range_hint(low, high, low_open, high_open))
    return value


def _range_hint(low, high, low_open, high_open) -> str:
    """`use a value at least 1 (>= 1)`: the bounds in words, then as comparisons."""
    words, signs = [], []
    if low is not None:
        words.append(f"{'above' if low_open else 'at least'} {low}")
        signs.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        words.append(f"{'below' if high_open else 'at most'} {high}")
        signs.append(f"{'<' if high_open else '<='} {high}")
    return f"use a value {' and '.join(words)} ({', '.join(signs)})"


FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": sys.float_info.max}  # tf32/bfloat16 hold float32


def numbers_beyond(value, dtype: str, what: str, error: type = ValidationError) -> None:
    """Refuse, at its position, a number in `value` (a setting's value, a call's arguments, lists, arithmetic; or
    any part of the AST: a model's statements) beyond the range of the run's float type `dtype`: options reach the run's arithmetic (a threshold compared
    with the data, a learning rate, a clip norm, noise added), where 1e308 in float32 became an infinity under
    an overflow warning, or NaN further on. Values that do not evaluate are left to the setting's own check."""
    top = FLOAT_MAX.get(dtype, FLOAT_MAX["float32"])
    for node in _numeric_nodes(value):
        try:
            number = literal(node)
        except ValidationError:
            continue
        if isinstance(number, (int, float)) and not isinstance(number, bool) and abs(number) > top:
            kind = "float64" if top == FLOAT_MAX["float64"] else "float32"
            raise error(f"{what}: {number:.6g} is beyond {kind}'s range (+-{top:.3g}), in which the run computes", node.span,
                        "use a smaller number" + (", or train in float64 (`dtype float64`)" if kind == "float32"
                                                  else ""))


def _numeric_nodes(node):
    """The outermost numeric expressions in `node` (a Number, a negation or arithmetic: evaluated whole), found
    through every field of the AST's dataclasses (values, calls, statements) and tuples of them."""
    if isinstance(node, (ast.Number, ast.Negate, ast.BinaryOp)):
        yield node
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from _numeric_nodes(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, (type, Span)):
        for part in dataclasses.fields(node):
            yield from _numeric_nodes(getattr(node, part.name))
