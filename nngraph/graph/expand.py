"""Flatten a model's statements: instantiate blocks (`use`) and stacks (`repeat=N`).

The result is a list of plain unit and connection statements with final names, plus an alias table that says
which unit stands for a block instance or a stack when it is the target (entry) or source (exit) of a link.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nngraph.errors import Collector, NngraphError, ValidationError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.format import spoken
from nngraph.spec.values import literal

MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 16
# A model's size after expansion. Checking costs ~60 us per unit or link, so these keep `check` within a
# few seconds; `repeat=` multiplies through nested blocks, so the product is counted before anything is built.
MAX_UNITS = 20_000
MAX_LINKS = 50_000


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
    if _within_size_limits(model, blocks, errors):
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
                    f"repeat: expected a whole number from 1 to {MAX_REPEAT}, got {spoken(count)}", a.span
                )
        else:
            rest.append(a)
    return count, tuple(rest)


def _add_unit(unit: ast.Unit, prefix: str, env: dict, flat: Flat) -> None:
    count, attrs = _repeat_count(unit.attrs, env)
    name = prefix + unit.name
    if prefix and unit.role == "input":
        # a block's input is a port: an identity unit that receives the instance's incoming link as is
        _refuse_port_attributes(unit)
        flat.ports.add(name)
        unit, attrs = dataclasses.replace(unit, role="layer"), ()
    names = [name] if count == 1 else [f"{name}_{i}" for i in range(1, count + 1)]
    flat.copies.update({n: (name, i, count) for i, n in enumerate(names, 1) if count > 1})
    for n in names:
        flat.units.append(dataclasses.replace(unit, name=n, attrs=attrs))
        flat.env[n] = env
        flat.alias.setdefault(n, (n, n))
    if count > 1:
        flat.alias[name] = (names[0], names[-1])
        _chain(names, unit.span, flat)


def _refuse_port_attributes(unit: ast.Unit) -> None:
    """A port passes what links into the block on unchanged, as a data input passes its data (graph/build.py
    refuses the same attributes there): an activation or dropout on it would be a layer in disguise."""
    if unit.attrs:
        attr = unit.attrs[0]
        raise ValidationError(f"a block's input port takes no attributes; '{unit.name}' has '{attr.name}'",
                              attr.span, "it passes what links into the block on unchanged: put "
                              f"`{attr.name}` on the unit it feeds (`{unit.name} -> a`)")


def _chain(names, span, flat):
    """A stack: each copy feeds the next with a dense connection."""
    for a, b in zip(names, names[1:]):
        link = ast.Link("->", ast.Ref(b, span), (), span)
        flat.connections.append((ast.Connection(ast.Ref(a, span), (link,), span), {}))


def hint_if_kept(errors: Collector, word: str, choices) -> str | None:
    """`did_you_mean`, unless the collector is full: an error past its cap is dropped, and the search over
    every name (difflib, per error) made a storm of 3,500 unknown names take 20 s to check."""
    return did_you_mean(word, choices) if len(errors.errors) < errors.cap else None


def _add_use(use, prefix, env, blocks, flat, errors, depth):
    block = blocks.get(use.call.name)
    if block is None:
        hint = hint_if_kept(errors, use.call.name, blocks) if blocks else "define it with `block NAME(params) { ... }`"
        raise ValidationError(f"no block named '{use.call.name}'", use.call.span, hint)
    if depth >= MAX_BLOCK_DEPTH:
        raise _too_deep(use)
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


def _too_deep(use: ast.Use) -> ValidationError:
    return ValidationError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep (is a block using itself?)", use.span)


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


def _rename_tied(mod, ref):
    """`tied(a, b)` inside a block names the block's own units, as its links do."""
    if not isinstance(mod, ast.Call) or mod.name != "tied":
        return mod
    args = tuple(ref(a) if isinstance(a, ast.Ref) else a for a in mod.args)
    kwargs = tuple(dataclasses.replace(k, value=ref(k.value)) if isinstance(k.value, ast.Ref) else k
                   for k in mod.kwargs)
    return dataclasses.replace(mod, args=args, kwargs=kwargs)


def _rename_connection(conn: ast.Connection, prefix: str) -> ast.Connection:
    if not prefix:
        return conn

    def ref(r: ast.Ref) -> ast.Ref:
        return dataclasses.replace(r, name=prefix + r.name)

    links = tuple(dataclasses.replace(li, target=ref(li.target), mods=tuple(_rename_tied(m, ref) for m in li.mods))
                  for li in conn.links)
    return dataclasses.replace(conn, source=ref(conn.source), links=links)


# ---- the size of an expansion, counted before it is made ----------------------------------------------


@dataclass
class Size:
    units: int = 0
    links: int = 0

    def add(self, other: Size, times: int = 1) -> None:
        self.units += other.units * times
        self.links += other.links * times

    @property
    def too_large(self) -> bool:
        return self.units > MAX_UNITS or self.links > MAX_LINKS


def expansion_size(model: ast.Model, blocks: dict[str, ast.Block]) -> Size:
    """The units and links `flatten` would make (a block nested too deep raises its ValidationError)."""
    counter, total = _Counter(blocks), Size()
    for st in model.statements:
        total.add(counter.statement(st, {}, 0))
    return total


def _within_size_limits(model: ast.Model, blocks: dict[str, ast.Block], errors: Collector) -> bool:
    """Refuse a model whose blocks and stacks would expand past MAX_UNITS or MAX_LINKS, at the statement
    that crosses the line, before a single unit is made (and blocks nested too deep, which multiply as
    well). Whatever cannot be counted (a bad repeat, an unknown block) counts as one: its own error comes
    from the expansion."""
    counter, total = _Counter(blocks), Size()
    for st in model.statements:
        try:
            part = counter.statement(st, {}, 0)
        except ValidationError as e:
            errors.add(e)
            return False
        total.add(part)
        if total.too_large:
            errors.add(_too_large(model, st, total, part))
            return False
    return True


def _too_large(model: ast.Model, st, total: Size, part: Size) -> ValidationError:
    units = total.units > MAX_UNITS
    what, count, limit, own = ("units", total.units, MAX_UNITS, part.units) if units else \
        ("connections", total.links, MAX_LINKS, part.links)
    return ValidationError(f"model '{model.name}' would expand to {_figure(count)} {what}; at most {limit:,} are "
                           "allowed", st.span, f"this statement makes {_figure(own)} of them: use fewer block "
                           "instances or shorter `repeat=` stacks")


def _figure(count: int) -> str:
    return f"{count:,}" if count < 10**15 else f"about 10^{len(str(count)) - 1}"


class _Counter:
    """Units and links per statement; a block's size is counted once per set of arguments."""

    def __init__(self, blocks: dict[str, ast.Block]):
        self.blocks = blocks
        self.sizes: dict[tuple, Size] = {}

    def statement(self, st, env: dict, depth: int) -> Size:
        if isinstance(st, ast.Connection):
            return Size(0, len(st.links))
        count = _countable_repeat(st.attrs, env)
        if isinstance(st, ast.Unit):
            return Size(count, count - 1)  # a stack is chained
        size = Size(0, count - 1)
        size.add(self.block(st, env, depth), count)
        return size

    def block(self, use: ast.Use, env: dict, depth: int) -> Size:
        block = self.blocks.get(use.call.name)
        if block is None:
            return Size(1, 0)
        if depth >= MAX_BLOCK_DEPTH:
            raise _too_deep(use)
        try:
            bound = _bind_block_args(use.call, block, env)
        except NngraphError:
            bound = {}
        key = (block.name, repr(sorted(bound.items())))
        if key not in self.sizes:
            size = Size()
            for st in block.statements:
                size.add(self.statement(st, bound, depth + 1))
            self.sizes[key] = size
        return self.sizes[key]


def _countable_repeat(attrs, env: dict) -> int:
    try:
        return _repeat_count(attrs, env)[0]
    except NngraphError:
        return 1
