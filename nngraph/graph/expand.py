"""Flatten a model's statements: instantiate blocks (`use`) and stacks (`repeat=N`).

The result is a list of plain unit and connection statements with final names, plus an alias table that says
which unit stands for a block instance or a stack when it is the target (entry) or source (exit) of a link.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nngraph.errors import Collector, NngraphError, ValidationError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.values import literal

MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 16


@dataclass
class Flat:
    units: list[ast.Unit] = field(default_factory=list)
    connections: list[tuple[ast.Connection, dict]] = field(default_factory=list)  # with its env
    alias: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (entry, exit)
    env: dict[str, dict] = field(default_factory=dict)  # unit name -> block parameters in scope
    ports: set[str] = field(default_factory=set)  # a block's `input` units: fed as-is from outside
    refused: set[str] = field(default_factory=set)  # units and instances whose own error is reported
    copies: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # copy -> (stack, index, count)


def flatten(model: ast.Model, blocks: dict[str, ast.Block], errors: Collector) -> Flat:
    flat = Flat()
    _expand(model.statements, "", {}, blocks, flat, errors, depth=0)
    return flat


def _expand(statements, prefix, env, blocks, flat, errors, depth):
    for st in statements:
        try:
            if isinstance(st, ast.Unit):
                _add_unit(st, prefix, env, flat)
            elif isinstance(st, ast.Use):
                _add_use(st, prefix, env, blocks, flat, errors, depth)
            else:
                flat.connections.append((_rename_connection(st, prefix), env))
        except NngraphError as e:
            errors.add(e)
            if isinstance(st, (ast.Unit, ast.Use)):
                flat.refused.add(prefix + st.name)


def _repeat_count(attrs, env) -> tuple[int, tuple]:
    rest, count = [], 1
    for a in attrs:
        if isinstance(a, ast.Setting) and a.name == "repeat":
            count = literal(a.value, env)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_REPEAT:
                raise ValidationError(
                    f"repeat: expected a whole number from 1 to {MAX_REPEAT}, got {count!r}", a.span
                )
        else:
            rest.append(a)
    return count, tuple(rest)


def _add_unit(unit: ast.Unit, prefix: str, env: dict, flat: Flat) -> None:
    count, attrs = _repeat_count(unit.attrs, env)
    name = prefix + unit.name
    if prefix and unit.role == "input":
        # a block's input is a port: an identity unit that receives the instance's incoming link as is
        flat.ports.add(name)
        unit = dataclasses.replace(unit, role="layer", attrs=(ast.Flag("nobias", unit.span),))
    names = [name] if count == 1 else [f"{name}_{i}" for i in range(1, count + 1)]
    flat.copies.update({n: (name, i, count) for i, n in enumerate(names, 1) if count > 1})
    for n in names:
        flat.units.append(dataclasses.replace(unit, name=n, attrs=attrs))
        flat.env[n] = env
        flat.alias.setdefault(n, (n, n))
    if count > 1:
        flat.alias[name] = (names[0], names[-1])
        _chain(names, unit.span, flat)


def _chain(names, span, flat):
    """A stack: each copy feeds the next with a dense connection."""
    for a, b in zip(names, names[1:]):
        link = ast.Link("->", ast.Ref(b, span), (), span)
        flat.connections.append((ast.Connection(ast.Ref(a, span), (link,), span), {}))


def _add_use(use, prefix, env, blocks, flat, errors, depth):
    block = blocks.get(use.call.name)
    if block is None:
        hint = did_you_mean(use.call.name, blocks) if blocks else "define it with `block NAME(params) { ... }`"
        raise ValidationError(f"no block named '{use.call.name}'", use.call.span, hint)
    if depth >= MAX_BLOCK_DEPTH:
        raise ValidationError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep (is a block using itself?)",
                              use.span)
    bound = _bind_block_args(use.call, block, env)
    count, _ = _repeat_count(use.attrs, env)
    name = prefix + use.name
    instances = [name] if count == 1 else [f"{name}_{i}" for i in range(1, count + 1)]
    flat.copies.update({n: (name, i, count) for i, n in enumerate(instances, 1) if count > 1})
    ends = []
    for inst in instances:
        before = len(flat.units)
        _expand(block.statements, inst + ".", bound, blocks, flat, errors, depth + 1)
        made = [u.name for u in flat.units[before:]]
        if not made:
            raise ValidationError(f"block '{block.name}' declares no units", block.span)
        entry, exit_ = flat.alias.get(made[0], (made[0], made[0]))[0], made[-1]
        flat.alias[inst] = (entry, flat.alias.get(exit_, (exit_, exit_))[1])
        ends.append(flat.alias[inst])
    for (_, a), (b, _) in zip(ends, ends[1:]):
        _chain([a, b], use.span, flat)
    flat.alias[name] = (ends[0][0], ends[-1][1])


def _bind_block_args(call: ast.Call, block: ast.Block, env: dict) -> dict:
    if len(call.args) > len(block.params):
        raise ValidationError(
            f"block '{block.name}' takes {len(block.params)} parameter(s)", call.args[-1].span
        )
    bound = {p: literal(a, env) for p, a in zip(block.params, call.args)}
    for kw in call.kwargs:
        if kw.name not in block.params:
            raise ValidationError(f"block '{block.name}' has no parameter '{kw.name}'", kw.span,
                                  did_you_mean(kw.name, block.params))
        bound[kw.name] = literal(kw.value, env)
    missing = [p for p in block.params if p not in bound]
    if missing:
        raise ValidationError(f"block '{block.name}' needs a value for {', '.join(missing)}", call.span)
    return bound


def _rename_connection(conn: ast.Connection, prefix: str) -> ast.Connection:
    if not prefix:
        return conn

    def ref(r: ast.Ref) -> ast.Ref:
        return dataclasses.replace(r, name=prefix + r.name)

    links = tuple(dataclasses.replace(li, target=ref(li.target)) for li in conn.links)
    return dataclasses.replace(conn, source=ref(conn.source), links=links)
