"""Bounds on spec text, checked by one quick scan before the parser sees it.

The parser and every pass after it (the transformer, constant folding, the formatter, YAML's span
shifting) walk values recursively, and a value's tree is as deep as its brackets plus the operators it
chains: `0.5+0+0+...` is a left-leaning tree with one level per `+`, `- - - 1` one level per `-`. Bounding
both keeps every such walk far from Python's recursion limit, and refuses a hostile chain in a fraction
of the time Lark would spend parsing it. The scan reads tokens the way the grammar does: brackets and
operators inside strings and comments do not count, nor does the `-` of an arrow or of `1e-5`.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager

from nngraph.errors import Span, SpecSyntaxError

# Lark reads about 250 KiB a second here, and a spec this size holds ~6,000 statements (the largest in
# specs/ is 1.2 KB); larger structures come from blocks and `repeat=`, whose expansion is bounded separately.
MAX_SOURCE_BYTES = 256 << 10
MAX_NESTING = 64  # brackets of any kind, open at once
MAX_OPERATORS = 100  # arithmetic operators chained in the values open at one point

# Only the tokens that matter are told apart; names and numbers are matched whole so that the `e-5` of a
# number, or a name that ends in `e` before a minus, are read as the grammar reads them.
_TOKEN = re.compile(r"""
    (?P<string> "(?:[^"\\\n]|\\.)*"? )
  | (?P<comment> \#[^\n]* )
  | (?P<word> [A-Za-z_][A-Za-z0-9_]* | (?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? )
  | (?P<arrow> <?-> )
  | (?P<continued> \\\r?\n )
  | (?P<op> [-+*] )
  | (?P<open> [(\[] )
  | (?P<close> [)\]] )
  | (?P<comma> , )
  | (?P<brace> [{}] )
  | (?P<end> \n | ; )
""", re.VERBOSE)


def check_limits(text: str, path: str, line0: int = 1, col0: int = 1) -> None:
    """Refuse, at the offending character, brackets nested deeper than MAX_NESTING and values that chain
    more than MAX_OPERATORS operators. `line0`/`col0`: where `text` starts in its file (YAML fragments)."""
    scan = _Scan(text, path, line0, col0)
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "op":
            scan.operator(m.start())
        elif kind == "open":
            scan.open(m.start(), operands=True)
        elif kind == "close":
            scan.close()
        elif kind == "comma":
            scan.next_operand()
        elif kind == "brace":
            scan.end_statement()
            if m.group() == "{":
                scan.open(m.start(), operands=False)
            else:
                scan.close()
        elif kind == "end":
            scan.end_statement()


class _Scan:
    """Open brackets, and for each bracket a value is inside, the operators chained so far in it."""

    def __init__(self, text: str, path: str, line0: int, col0: int):
        self.text, self.path, self.line0, self.col0 = text, path, line0, col0
        self.depth = 0
        self.chains = [0]  # operators in the current operand of each open ( or [, outermost first
        self.chained = 0  # their sum: how deep the value's tree is at this point

    def operator(self, pos: int) -> None:
        self.chains[-1] += 1
        self.chained += 1
        if self.chained > MAX_OPERATORS:
            raise SpecSyntaxError(f"a value chains more than {MAX_OPERATORS} operators", self._span(pos),
                                  "compute the number beforehand; arithmetic is for short expressions "
                                  "such as `hidden * 2`")

    def open(self, pos: int, operands: bool) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SpecSyntaxError(f"brackets nested more than {MAX_NESTING} deep", self._span(pos))
        if operands:
            self.chains.append(0)

    def close(self) -> None:
        self.depth = max(0, self.depth - 1)
        if len(self.chains) > 1:
            self.chained -= self.chains.pop()

    def next_operand(self) -> None:
        self.chained -= self.chains[-1]
        self.chains[-1] = 0

    def end_statement(self) -> None:
        self.chains, self.chained = [0], 0

    def _span(self, pos: int) -> Span:
        line = self.text.count("\n", 0, pos)
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return Span(self.path, self.line0 + line, column + (self.col0 - 1 if line == 0 else 0))


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for a bounded burst of allocation.

    Parsing and checking a large spec make hundreds of thousands of small objects and no reference
    cycles; the collector's repeated passes over them were about 40% of the time. Whatever cycles an
    error leaves behind are collected once it runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
