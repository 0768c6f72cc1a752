"""A scan's step, compiled once for running many times: the generic implementation of the `scan` op.

The step runs T times per forward pass on small arrays (one block of batch rows), so what costs is the
interpreting, not the arithmetic. The step's slots are numbered once; a step's values are a list, each
instruction's inputs and outputs indices into it. And the weight of a per-step product (`matmul`/`dense`
with a parameter, a recurrent matrix above all) gets no gradient per step: the vjp skips it, the cotangents
and inputs of every step are gathered, and after the sweep one product over all steps gives it (as a
feedforward layer's weight gradient is one product over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.backend.accel import matmul_tn
from nngraph.compile import interpret
from nngraph.compile.plan import PARAM
from nngraph.ops.dense import column_sums

NONE = 0  # slot 0 always holds None (an absent optional input)
_PRODUCTS = ("matmul", "dense")


@dataclass(frozen=True)
class _Code:
    op: object
    inputs: tuple[int, ...]
    output: int
    attrs: dict
    needs: tuple[bool, ...]
    deferred: int | None  # index into StepProgram.deferred: a product whose weight gradient waits


@dataclass(frozen=True)
class _Deferred:
    """A per-step product whose weight (and bias) gradient is one product over all steps."""

    x: int  # the step slot multiplied
    weight: str  # outer slots
    bias: str | None


@dataclass
class _Trace:
    program: StepProgram
    values: dict  # outer and prologue slots
    prologue: list  # the prologue's ctxs
    batch: int
    steps: list = field(default_factory=list)  # (step values, ctxs) per step

    def vjp(self, xp, gs, inputs):
        return self.program.vjp(xp, gs, self)


class StepProgram:
    def __init__(self, body):
        self.body = body
        names = [None, *body.reads, *body.sequences]
        names += [c.past(k) for c in body.carries for k in range(1, c.depth + 1)]
        names += [ins.output for ins in body.step]
        self.index = {name: i for i, name in enumerate(dict.fromkeys(names))}
        self.size = len(self.index)
        self.deferred: list[_Deferred] = []
        self.code = [self._compile(ins) for ins in body.step]
        self.constants = [(self.index[s], s) for s in body.reads if s in self.index]
        self.outputs = [self.index[name] for name in body.outputs]
        self.carried = [(self.index[c.value], [self.index[c.past(k)] for k in range(1, c.depth + 1)], c)
                        for c in body.carries]
        self.sequences = [(self.index[s], s) for s in body.sequences]

    def _compile(self, ins) -> _Code:
        inputs = tuple(NONE if s is None else self.index[s] for s in ins.inputs)
        deferred, attrs = None, ins.attrs
        weight = ins.inputs[1] if ins.op.name in _PRODUCTS else None
        if weight and weight.startswith(PARAM) and ins.needs_grad[1]:
            bias = ins.inputs[2] if len(ins.inputs) > 2 else None
            self.deferred.append(_Deferred(inputs[0], weight, bias))
            deferred, attrs = len(self.deferred) - 1, dict(attrs, needs_weight_grad=False)
        return _Code(ins.op, inputs, self.index[ins.output], attrs, ins.needs_grad, deferred)

    # ---- forward --------------------------------------------------------------------------------

    def forward(self, xp, values: dict):
        trace = _Trace(self, values, interpret.forward(xp, self.body.prologue, values), 0)
        carry = self.body.carries[0]
        batch = trace.batch = values[carry.initial].shape[0] // carry.blocks
        steps = values[self.body.sequences[0]].shape[0] // batch
        template = [None] * self.size
        for i, slot in self.constants:
            template[i] = values[slot]
        past = {c.value: [_block(values[c.initial], c.blocks - k, batch) for k in range(1, c.depth + 1)]
                for _, _, c in self.carried}
        stacked = [None] * len(self.outputs)
        for t in _order(steps, self.body.reverse):
            step = list(template)
            for i, slot in self.sequences:
                step[i] = _block(values[slot], t, batch)
            for _, pasts, c in self.carried:
                for i, value in zip(pasts, past[c.value]):
                    step[i] = value
            trace.steps.append((step, self._run(xp, step)))
            for value, pasts, c in self.carried:
                past[c.value] = [step[value]] + past[c.value][:len(pasts) - 1]
            for k, i in enumerate(self.outputs):
                if stacked[k] is None:
                    stacked[k] = xp.empty((steps * batch,) + step[i].shape[1:], dtype=step[i].dtype)
                stacked[k][t * batch:(t + 1) * batch] = step[i]
        return tuple(stacked), trace

    def _run(self, xp, step: list) -> list:
        ctxs = []
        for code in self.code:
            out, ctx = code.op.forward(xp, tuple(step[i] for i in code.inputs), code.attrs)
            step[code.output] = out
            ctxs.append(ctx)
        return ctxs

    # ---- backward -------------------------------------------------------------------------------

    def vjp(self, xp, gs, trace: _Trace):
        batch, values, steps = trace.batch, trace.values, len(trace.steps)
        outer: dict = {}  # gradients of outer and prologue slots
        arriving: dict = {}  # (carried value slot, step) -> what later steps sent back to its value there
        gathered = [(xp.zeros((steps * batch, _width(trace, d.x)), dtype=_dtype(trace)), [None] * steps)
                    for d in self.deferred]
        order = _order(steps, self.body.reverse)
        for n, t in reversed(list(enumerate(order))):
            step, ctxs = trace.steps[n]
            grads = [None] * self.size
            for k, i in enumerate(self.outputs):
                if gs[k] is not None:
                    _add(grads, i, _block(gs[k], t, batch))
            for value, _, c in self.carried:
                _add(grads, value, arriving.pop((value, t), None))
            self._sweep(xp, step, ctxs, grads, gathered, t, batch)
            self._send_back(xp, grads, arriving, outer, values, t, n, order, batch)
        self._deferred_grads(xp, gathered, outer, trace)
        interpret.backward(xp, self.body.prologue, values, trace.prologue, outer)
        return tuple(outer.get(slot) for slot in self.body.reads)

    def _sweep(self, xp, step, ctxs, grads, gathered, t: int, batch: int) -> None:
        for code, ctx in zip(reversed(self.code), reversed(ctxs)):
            g, grads[code.output] = grads[code.output], None
            if g is None:
                continue
            if code.deferred is not None:
                xs, cotangents = gathered[code.deferred]
                _block(xs, t, batch)[...] = step[code.inputs[0]].reshape(batch, -1)
                cotangents[t] = g
            inputs = tuple(step[i] for i in code.inputs)
            for i, need, grad in zip(code.inputs, code.needs, code.op.vjp(xp, g, ctx, inputs, code.attrs)):
                if need and grad is not None:
                    _add(grads, i, grad)

    def _send_back(self, xp, grads, arriving, outer, values, t: int, n: int, order: list, batch: int) -> None:
        """A step's input gradients (step t, the n-th run): carried values to the step that computed them
        (k runs earlier) or to the initial state's blocks, sequence blocks into their all-step gradient, outer
        slots summed."""
        for value, pasts, c in self.carried:
            for k, i in enumerate(pasts, start=1):
                if grads[i] is None:
                    continue
                if n - k >= 0:
                    _add_to(arriving, (value, order[n - k]), grads[i])
                else:
                    _block(_full(xp, outer, c.initial, values[c.initial]), c.blocks + n - k, batch)[...] += grads[i]
        for i, slot in self.sequences:
            if grads[i] is not None:
                _block(_full(xp, outer, slot, values[slot]), t, batch)[...] += grads[i]
        for i, slot in self.constants:
            if grads[i] is not None:
                _add_to(outer, slot, grads[i])

    def _deferred_grads(self, xp, gathered, outer, trace) -> None:
        """Each deferred weight's gradient, one product over all steps (steps without a cotangent count
        as zeros)."""
        for d, (xs, cotangents) in zip(self.deferred, gathered):
            if all(g is None for g in cotangents):
                continue
            like = next(g for g in cotangents if g is not None)
            g_all = xp.concatenate([xp.zeros_like(like) if g is None else g for g in cotangents])
            (weight,) = matmul_tn(xp, [xs], g_all)
            _add_to(outer, d.weight, weight)
            if d.bias:
                _add_to(outer, d.bias, column_sums(xp, g_all))


def _order(steps: int, reverse: bool) -> list[int]:
    """The steps in the order a scan runs them."""
    return list(range(steps - 1, -1, -1) if reverse else range(steps))


def _width(trace: _Trace, slot: int) -> int:
    step = trace.steps[0][0]
    return step[slot][0].size


def _dtype(trace: _Trace):
    return next(v.dtype for v in trace.steps[0][0] if v is not None and hasattr(v, "dtype") and v.dtype.kind == "f")


def _block(a, t: int, batch: int):
    return a[t * batch:(t + 1) * batch]


def _add(grads: list, i: int, g) -> None:
    if g is not None:
        grads[i] = g if grads[i] is None else grads[i] + g


def _add_to(table: dict, key, g) -> None:
    table[key] = table[key] + g if key in table else g


def _full(xp, table: dict, slot: str, like):
    if slot not in table:
        table[slot] = xp.zeros_like(like)
    return table[slot]
