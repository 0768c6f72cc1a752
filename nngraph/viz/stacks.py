"""A model as the boxes it is drawn with: each unit, or one box for a run of `repeat=` copies.

A stack `h_1 .. h_N` (or the instances `r_1 .. r_N` of a repeated block) is drawn as one box when nothing but
its own chain touches its inside: links from outside enter its first copy only (a block's at its entry unit)
and leave from its last (at its exit), and every copy looks the same inside. A link into a middle copy splits
the run there, so every drawn link still lands where it does in the model. Runs of the outermost `repeat=`
are tried first; the copies of an inner one collapse only inside an outer copy that is drawn on its own.
Everything here is one pass over the links per level of nesting.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from nngraph.graph.ir import EdgeSpec, ModelGraph, UnitSpec
from nngraph.viz.labels import unit_lines


@dataclass(frozen=True)
class Piece:
    """One box of a model before layout: a unit, or a run of copies standing in for all of them."""

    name: str
    lines: tuple[str, ...]
    role: str


@dataclass(frozen=True)
class Run:
    """Copies first..last of one stack, drawn as one box; `units` maps each unit inside to its copy."""

    stack: str
    first: int
    last: int
    units: dict[str, int]

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def name(self) -> str:
        return f"{self.stack}_{self.first}..{self.stack}_{self.last}"


def model_pieces(model: ModelGraph, expand: bool = False) -> tuple[list[Piece], list[EdgeSpec]]:
    """The boxes and links a model is drawn with; with `expand`, one box per unit and every link."""
    if expand:
        return [_unit_piece(model, u) for u in model.units], model.edges
    runs = collapsible_runs(model)
    where = {unit: run for run in runs for unit in run.units}
    pieces, seen = [], set()
    for unit in model.units:
        run = where.get(unit.name)
        if run is None:
            pieces.append(_unit_piece(model, unit))
        elif run.name not in seen:
            seen.add(run.name)
            pieces.append(_run_piece(model, run))
    edges, seen_links = [], set()
    for edge in model.edges:
        drawn = _edge_between_pieces(edge, where)
        # copies of one block may send several links from the first copy's units to the same box
        if drawn is not None and _signature(drawn) not in seen_links:
            seen_links.add(_signature(drawn))
            edges.append(drawn)
    return pieces, edges


def _unit_piece(model: ModelGraph, unit: UnitSpec) -> Piece:
    return Piece(unit.name, unit_lines(model, unit), unit.role)


def _run_piece(model: ModelGraph, run: Run) -> Piece:
    first = [model.unit(u) for u, copy in run.units.items() if copy == run.first]
    if len(first) == 1:  # a stack of single units: every copy looks like the first
        return Piece(run.name, (*unit_lines(model, first[0]), f"x {run.count}"), first[0].role)
    roles = {u.role for u in first}
    role = roles.pop() if len(roles) == 1 else "layer"
    return Piece(run.name, (f"{len(first)} units each", f"x {run.count}"), role)


def _edge_between_pieces(edge: EdgeSpec, where: dict[str, Run]) -> EdgeSpec | None:
    """The link between the boxes of its ends; None for a link a collapsed box hides inside itself."""
    source, target = where.get(edge.source), where.get(edge.target)
    if source is not None and source is target and _hidden(edge, source):
        return None
    return dataclasses.replace(
        edge,
        source=source.name if source else edge.source,
        target=target.name if target else edge.target,
    )


def _hidden(edge: EdgeSpec, run: Run) -> bool:
    copies = run.units[edge.source], run.units[edge.target]
    if copies == (run.last, run.first):
        return False  # the stack's own recurrence (`h -> h delay 1` runs from the last copy to the first)
    single_units = len(run.units) == run.count
    # a stack of single units shows the loops every copy has (an lstm's own recurrence) once, on the box
    return not (single_units and copies == (run.first, run.first))


def _signature(edge: EdgeSpec) -> tuple:
    """What a link is, without where it was written (options may hold lists, so they go as text)."""
    e = edge
    return e.source, e.target, e.kind, repr(e.options), e.delay, e.symmetric, e.implicit


# ---- finding the runs ---------------------------------------------------------------------------


def collapsible_runs(model: ModelGraph) -> list[Run]:
    """The runs of two or more copies that can be drawn as one box, outermost `repeat=` first."""
    runs: list[Run] = []
    pending = [u for u in model.units if u.repeat]
    level = 0
    while pending:
        members = _members(pending, level)
        found = [r for r in _runs_at_level(model, members) if r.count > 1]
        runs += found
        taken = {u for r in found for u in r.units}
        level += 1
        pending = [u for u in pending if u.name not in taken and len(u.repeat) > level]
    return runs


def _members(units: list[UnitSpec], level: int) -> dict[str, dict[int, list[str]]]:
    """stack -> copy index -> the units of that copy, for the `repeat=` at this depth of nesting."""
    members: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for u in units:
        stack, index, _ = u.repeat[level]
        members[stack][index].append(u.name)
    return members


class _Touches:
    """What the model's links do to each copy, a copy being (stack, index), at one level of nesting.

    Units are named relative to their copy ("" for a stack of single units, ".a" for unit `a` of a block
    instance), so the copies of one stack can be compared, and a block's entry and exit found: the units
    that its chain links, from one copy's exit to the next copy's entry, join.
    """

    def __init__(self, edges: list[EdgeSpec], owner: dict[str, tuple[str, int]]):
        # per copy: the units other links enter and leave by, its links in from the copy before, its own
        self.extra_in: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.extra_out: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.chain: dict[tuple[str, int], list[EdgeSpec]] = defaultdict(list)
        self.inside: dict[tuple[str, int], list[tuple]] = defaultdict(list)
        for e in edges:
            self._add(e, owner.get(e.source), owner.get(e.target))
        self.entries, self.exits = defaultdict(set), defaultdict(set)  # stack -> local unit names
        for (stack, k), links in self.chain.items():
            if len(links) == 1:
                self.exits[stack].add(_local(links[0].source, (stack, k - 1)))
                self.entries[stack].add(_local(links[0].target, (stack, k)))
            else:  # more than one link between neighbouring copies: more than the chain
                for e in links:
                    self.extra_out[stack, k - 1].add(_local(e.source, (stack, k - 1)))
                    self.extra_in[stack, k].add(_local(e.target, (stack, k)))

    def _add(self, e: EdgeSpec, a, b) -> None:
        if a is not None and a == b:
            self.inside[a].append(_local_link(e, a))
        elif a and b and a[0] == b[0] and b[1] == a[1] + 1 and _plain(e):
            self.chain[b].append(e)
        else:
            if a:
                self.extra_out[a].add(_local(e.source, a))
            if b:
                self.extra_in[b].add(_local(e.target, b))

    def joined(self, stack: str, before: int, k: int, first: bool) -> bool:
        """Whether copy k may follow copy `before` in a run (`first`: as its second copy): nothing but
        their chain link touches them where they meet, links enter the run's first copy at the block's
        entry only, and leave copy k (maybe the run's last) at its exit only."""
        return (
            k == before + 1
            and len(self.chain.get((stack, k), ())) == 1
            and not self.extra_out.get((stack, before))
            and not self.extra_in.get((stack, k))
            and not (first and self.extra_in.get((stack, before), set()) - self.entries[stack])
            and not self.extra_out.get((stack, k), set()) - self.exits[stack]
        )


def _runs_at_level(model: ModelGraph, members: dict[str, dict[int, list[str]]]) -> list[Run]:
    owner = {u: (stack, k) for stack, ks in members.items() for k, us in ks.items() for u in us}
    touches = _Touches(model.edges, owner)
    return [run for stack, copies in members.items() for run in _split(stack, copies, touches)]


def _plain(edge: EdgeSpec) -> bool:
    """A link that can chain copies: same step, one way, written (dense, or into a block's port)."""
    written = not edge.symmetric and not edge.implicit
    return written and edge.delay == 0 and edge.kind in ("dense", "identity")


def _local(unit: str, copy: tuple[str, int]) -> str:
    """A unit's name relative to the copy it is in: "" for a copy that is one unit, ".a" in a block."""
    return unit[len(f"{copy[0]}_{copy[1]}") :]


def _local_link(edge: EdgeSpec, copy: tuple[str, int]) -> tuple:
    """A link inside a copy, named relative to the copy."""
    local = dataclasses.replace(
        edge, source=_local(edge.source, copy), target=_local(edge.target, copy)
    )
    return _signature(local)


def _split(stack: str, copies: dict[int, list[str]], touches: _Touches) -> list[Run]:
    """The stack's copies cut into maximal runs that may each be drawn as one box."""

    def inside(k):  # what copy k holds, named relative to it: equal for copies that look the same
        return sorted(_local(u, (stack, k)) for u in copies[k]), sorted(touches.inside[stack, k])

    order = sorted(copies)
    runs, start = [], order[0]
    look = inside(start)
    for before, k in pairwise(order):
        if not (touches.joined(stack, before, k, before == start) and inside(k) == look):
            runs.append(_run(stack, copies, start, before))
            start, look = k, inside(k)
    runs.append(_run(stack, copies, start, order[-1]))
    return runs


def _run(stack: str, copies: dict[int, list[str]], first: int, last: int) -> Run:
    units = {u: k for k in range(first, last + 1) for u in copies[k]}
    return Run(stack, first, last, units)
