"""The compiled plan: plain data computed once per model, run many times.

A plan is a flat list of instructions over named slots. Slots hold arrays: a unit's activation (its name), its
pre-activation (`name:z`), parameters (`param:NAME`), data feeds (input unit names, `target`) and random draws
(`random:...`). The backward schedule is the same list walked in reverse through each op's vjp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.ops.registry import Op

PARAM = "param:"
TARGET = "target"


@dataclass(frozen=True)
class Instr:
    op: Op
    inputs: tuple[str | None, ...]
    output: str
    attrs: dict = field(default_factory=dict, hash=False)
    needs_grad: tuple[bool, ...] = ()


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    init: str  # glorot | he | zeros | small_normal
    fan_in: int = 1
    fan_out: int = 1


@dataclass(frozen=True)
class RandomSlot:
    slot: str
    shape: tuple[int, ...]  # per example
    kind: str  # dropout | normal | uniform
    rate: float = 0.0


@dataclass(frozen=True)
class LossSlot:
    label: str  # e.g. "bce(y)"
    slot: str
    weight: float
    op: str = ""  # the loss op, e.g. softmax_cross_entropy
    target: str | None = None  # the unit it compares with; None: the data's targets (or nothing: kl)


@dataclass
class Plan:
    model: str
    instrs: list[Instr]
    params: dict[str, ParamSpec]
    feeds: list[str]  # input units fed from data, in declaration order
    random: list[RandomSlot]
    outputs: list[str]  # output units
    aliases: dict[str, str]  # unit -> slot holding its value (identity activations alias z)
    losses: list[LossSlot] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    body: int = 0  # instructions before the losses: what a plain forward pass runs
    scored: str | None = None  # the unit compared with the data's targets (metrics read it)

    def slot(self, unit: str) -> str:
        return self.aliases.get(unit, unit)
