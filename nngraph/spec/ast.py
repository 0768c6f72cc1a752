"""The spec AST: plain frozen dataclasses, one per construct, each with its source span.

Both surfaces (.nn text and YAML) produce exactly these nodes. Spans never take part in
equality, so a round trip through the other surface compares equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from nngraph.errors import Span

NOWHERE = Span("<none>", 0, 0)


def _span():
    return field(default=NOWHERE, compare=False, repr=False)


# ---- values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span = _span()


@dataclass(frozen=True)
class String:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Ref:
    """A name, possibly dotted (`b1.c` names unit c of block instance b1)."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class KeywordArg:
    name: str
    value: "Value"
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Value", ...] = ()
    kwargs: tuple[KeywordArg, ...] = ()
    span: Span = _span()

    def kwarg(self, name: str):
        return next((k.value for k in self.kwargs if k.name == name), None)


@dataclass(frozen=True)
class ListValue:
    items: tuple["Value", ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class BinaryOp:
    op: str  # one of + - *
    left: "Value"
    right: "Value"
    span: Span = _span()


@dataclass(frozen=True)
class Negate:
    operand: "Value"
    span: Span = _span()


Value = Union[Number, String, Ref, Call, ListValue, BinaryOp, Negate]


# ---- model statements ---------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """A bare word after a unit or on a link: `tanh`, `sequence`, `bernoulli`, `dense`."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Setting:
    """`name=value` after a unit (`dropout=0.5`), or `key value kw=v...` in a train block."""

    name: str
    value: Value | None = None
    kwargs: tuple[KeywordArg, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Delay:
    steps: int
    span: Span = _span()


Attr = Union[Flag, Setting, Call]
EdgeMod = Union[Flag, Call, Delay]


@dataclass(frozen=True)
class Unit:
    role: str
    name: str
    shape: tuple[int | Ref, ...] | None = None
    sampler: Call | None = None
    attrs: tuple[Attr, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Link:
    arrow: str  # "->" or "<->"
    target: Ref
    mods: tuple[EdgeMod, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Connection:
    source: Ref
    links: tuple[Link, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Use:
    """`use b1 = conv_pool(filters=8)`: an instance of a block."""

    name: str
    call: Call
    attrs: tuple[Attr, ...] = ()
    span: Span = _span()


Statement = Union[Unit, Connection, Use]


# ---- top level -----------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    statements: tuple[Statement, ...]
    span: Span = _span()
    name_span: Span = _span()  # where whole-model errors point (a memory estimate, no input)


@dataclass(frozen=True)
class Block:
    name: str
    params: tuple[str, ...]
    statements: tuple[Statement, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Train:
    name: str | None
    settings: tuple[Setting, ...]
    span: Span = _span()

    def get(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.name == key), None)


Item = Union[Model, Block, Train]


@dataclass(frozen=True)
class Spec:
    items: tuple[Item, ...]
    path: str = field(default="<string>", compare=False)
    source: str = field(default="", compare=False, repr=False)
    surface: str = field(default="nn", compare=False)  # which surface `source` is written in: "nn" or "yaml"

    @property
    def models(self) -> list[Model]:
        return [i for i in self.items if isinstance(i, Model)]

    @property
    def blocks(self) -> list[Block]:
        return [i for i in self.items if isinstance(i, Block)]

    @property
    def trains(self) -> list[Train]:
        return [i for i in self.items if isinstance(i, Train)]

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)
