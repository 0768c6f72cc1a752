"""The one interpreter and the one autodiff: a forward walk over a list of instructions and the reverse
walk through each op's vjp. `Program` runs a plan with them, and the `scan` op runs its step body with
them once per step.

An instruction's output is one slot, or a tuple of slots for an op with several outputs (`scan`): its
forward then returns a tuple of arrays, and its vjp gets a tuple of cotangents (None where a slot got
none).
"""

from __future__ import annotations

from nngraph.compile.plan import Instr

SKIPPED = object()  # the ctx of an instruction whose output was given before the walk


class Slots(dict):
    """Slot values, and which of them were given by hand (a carried state, a fixed latent): the walk
    leaves the instructions that would compute those alone."""

    def __init__(self, *args, given=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.given = set(given)


def outputs_of(ins: Instr) -> tuple[str, ...]:
    return ins.output if isinstance(ins.output, tuple) else (ins.output,)


def forward(xp, instrs, values: dict) -> list:
    """Fill `values` instruction by instruction; returns each instruction's vjp context. An instruction
    whose outputs `values` says were given (`Slots.given`) is not run: no gradient passes back through it."""
    given = getattr(values, "given", None)
    ctxs = []
    for ins in instrs:
        if given and all(slot in given for slot in outputs_of(ins)):
            ctxs.append(SKIPPED)
            continue
        out, ctx = ins.op.forward(xp, tuple(values[s] if s else None for s in ins.inputs), ins.attrs)
        if isinstance(ins.output, tuple):
            values.update(zip(ins.output, out))
        else:
            values[ins.output] = out
        ctxs.append(ctx)
    return ctxs


def backward(xp, instrs, values: dict, ctxs: list, pending: dict) -> dict:
    """The reverse walk: from the cotangents in `pending` (slot -> array), each instruction's vjp,
    accumulating into the slots that need gradients. Returns `pending`, which then holds the gradients
    of the slots nothing computed (parameters, feeds) and of any skipped instruction's outputs."""
    for ins, ctx in zip(reversed(instrs), reversed(ctxs)):
        if ctx is SKIPPED:
            continue
        g = _cotangent(ins, pending)
        if g is None:
            continue
        inputs = tuple(values[s] if s else None for s in ins.inputs)
        for slot, need, grad in zip(ins.inputs, ins.needs_grad, ins.op.vjp(xp, g, ctx, inputs, ins.attrs)):
            if need and grad is not None:
                pending[slot] = pending[slot] + grad if slot in pending else grad
    return pending


def _cotangent(ins: Instr, pending: dict):
    if not isinstance(ins.output, tuple):
        return pending.pop(ins.output, None)
    gs = tuple(pending.pop(slot, None) for slot in ins.output)
    return None if all(g is None for g in gs) else gs
