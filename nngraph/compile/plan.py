"""The compiled plan: plain data computed once per model, run many times.

A plan is a flat list of instructions over named slots. Slots hold arrays: a unit's activation (its name), its
pre-activation (`name:z`), parameters (`param:NAME`), data feeds (input unit names, `target`), random draws
(`random:...`) and, in a recurrent plan, the state before the first step (`name:initial`) and the loss rows
(`rows`), and non-trainable state (`buffer:NAME`: batch normalisation's running statistics, which the training
plan's ops return as extra outputs and the Program writes back). The backward schedule is the same list walked
in reverse through each op's vjp.

A recurrent plan (`sequence`) works on time-major rows: step t of b sequences is rows [t b, (t + 1) b) of
every slot, so everything outside a loop is an ordinary op over steps * b rows, and each loop is one `scan`
instruction (compile/scan.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.ops.registry import Op

PARAM = "param:"
BUFFER = "buffer:"  # non-trainable state the plan reads (batch normalisation's running statistics)
TARGET = "target"
ROWS = "rows"


@dataclass(frozen=True)
class Instr:
    op: Op
    inputs: tuple[str | None, ...]
    output: str | tuple[str, ...]  # a tuple for an op with several outputs (scan)
    attrs: dict = field(default_factory=dict, hash=False)
    needs_grad: tuple[bool, ...] = ()


MASKED_INIT = "autoregressive_"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    init: str  # glorot | he | zeros | small_normal | lstm_bias (zeros, forget gates at 1); MASKED_INIT + one of
    #            them: an autoregressive link's weight, zero on and below the diagonal
    fan_in: int = 1
    fan_out: int = 1


@dataclass(frozen=True)
class BufferSpec:
    """Non-trainable state of a plan, read as slot `buffer:NAME`: made once by the Program (`Program.buffers`),
    replaced after each training forward pass by the slot the plan's `buffer_updates` name."""

    name: str
    shape: tuple[int, ...]
    init: str  # zeros | ones


@dataclass(frozen=True)
class RandomSlot:
    slot: str
    shape: tuple[int, ...]  # per example
    kind: str  # dropout | normal | uniform
    rate: float = 0.0
    per_sequence: bool = False  # a recurrent plan's loop unit: one mask per sequence, for every step


@dataclass(frozen=True)
class LossSlot:
    label: str  # e.g. "bce(y)"
    slot: str
    weight: float
    op: str = ""  # the loss op, e.g. softmax_cross_entropy
    target: str | None = None  # the unit it compares with; None: the data's targets (or nothing: kl)
    unit: str = ""  # the unit it reads


@dataclass(frozen=True)
class InitialState:
    """A recurrent plan's state of one unit before the first step: `blocks` steps of it, oldest first."""

    unit: str
    slot: str  # what the plan reads; a carried state is fed here
    feed: str  # what the program fills with zeros otherwise (a learned state adds its parameter to it)
    blocks: int
    shape: tuple[int, ...]
    carried: bool = True  # False: always starts afresh (a bidirectional layer: its backward direction reads the future)


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
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per example (per step)
    body: int = 0  # instructions before the losses: what a plain forward pass runs
    scored: str | None = None  # the unit compared with the data's targets (metrics read it)
    sequence: bool = False  # a recurrent plan: slots are time-major rows
    initial: list[InitialState] = field(default_factory=list)
    at_rows: set[str] = field(default_factory=set)  # units computed at the loss rows only (see compile/loops.py)
    buffers: dict[str, BufferSpec] = field(default_factory=dict)
    buffer_updates: dict[str, str] = field(default_factory=dict)  # buffer -> the slot holding its new value

    def slot(self, unit: str) -> str:
        return self.aliases.get(unit, unit)

    @property
    def initial_feeds(self) -> list[str]:
        return [s.feed for s in self.initial]
