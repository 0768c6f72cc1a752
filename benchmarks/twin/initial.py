"""Initial parameters against section 2's distributions: He-uniform weights into rectifier units, Glorot-uniform
into all others and into cells (with the fans section 2 gives per link kind), an autoregressive weight zero on
and below its diagonal, zero biases but an LSTM's forget gates at 1, a normalisation's scale 1 and shift 0, a
learned initial state 0. A uniform weight must lie within its bound and, with 50 values or more, reach beyond
0.8 of it (a bound too large by the factor of a wrong fan would leave it below: chance 0.8^50 = 1e-5)."""

from __future__ import annotations

import math

import numpy as np
import torch

import nngraph

from .compare import Worst, rel_diff
from .generate import feedforward_case
from .net import DTYPE
from .recurrent import recurrent_case
from .torch_twin import twin_forward

GATES = {"lstm": 4, "gru": 3, "mgu": 2}
RECTIFIERS = ("relu", "leaky_relu", "elu")


def init_case(rng):
    """A random feedforward or recurrent spec compiled with a random seed; (constructs, ((worst, where), text))."""
    recurrent = rng.random() < 0.4
    if recurrent:
        net, used, _, _, _ = recurrent_case(rng)
    else:
        net, used, _, _ = feedforward_case(rng)
    text = net.text()
    prog = nngraph.program(nngraph.loads(text), "m", dtype=DTYPE[0], seed=int(rng.integers(0, 10000)))
    shapes = unit_shapes(net, prog) if not recurrent else {u["name"]: tuple(u["shape"]) for u in net.units}
    worst, kinds = Worst(), set()
    for name in prog.params:
        expected, kind = documented_start(net, name, shapes)
        kinds.add(kind)
        worst.note(judge(np.asarray(prog.get(name), float), expected), f"initial {name} ({kind})")
    return {f"init: {k}" for k in kinds}, (worst.value, text)


def unit_shapes(net, prog) -> dict:
    """Each unit's shape, from the twin's own forward pass of one example (eval mode)."""
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64) for k in prog.params}
    B = {k: torch.tensor(prog.backend.to_numpy(v), dtype=torch.float64) for k, v in prog.buffers.items()}
    x = net.units[0]
    vals = twin_forward(net, P, B, {x["name"]: np.zeros((1, *x["shape"]))}, False, [], [])
    return {k: tuple(v.shape[1:]) for k, v in vals.items()}


def documented_start(net, name: str, shapes: dict):
    """(('uniform', bound, autoregressive) or ('constant', array-maker), the construct) for parameter `name`."""
    base = name.replace(".reverse", "")
    unit_of = {u["name"]: u for u in net.units}
    if base.endswith((".norm.weight", ".norm.bias")):
        return ("constant", 1.0 if base.endswith("weight") else 0.0), "norm scale 1, shift 0"
    if base.endswith((".initial", ".initial_cell")):
        return ("constant", 0.0), "learned initial state 0"
    if base.endswith(".bias"):
        unit = unit_of[base[:-5]]
        if unit["act"] == "lstm":
            return ("lstm", shapes[unit["name"]][0]), "lstm biases: forget gates 1"
        return ("constant", 0.0), "bias 0"
    link = base[:-len(".weight")]
    src, dst = link.split("->")
    dst, _, delay = dst.partition("@")
    target = unit_of[dst]
    gates = GATES.get(target["act"], 1)
    edge = next((ln for ln in net.links if ln["src"] == src and ln["dst"] == dst and ln["delay"] == int(delay or 0)
                 and ln["kind"] != "identity"), None)
    if edge is None:  # a cell's own recurrence, which nngraph adds: [H, G H], Glorot
        h = shapes[dst][0]
        return ("uniform", math.sqrt(6 / (h + gates * h)), False), "cell recurrence (Glorot, fan-out G H)"
    kind, opts = edge["kind"], edge["opts"]
    if kind in ("conv", "deconv"):
        kh, kw = pair(opts["kernel"])
        sh, sw = pair(opts.get("stride", 1))
        fan_out = shapes[dst][0] * kh * kw
        fan_in = shapes[src][0] * (kh * kw if kind == "conv" else math.ceil(kh / sh) * math.ceil(kw / sw))
    elif kind == "autoregressive":  # a value reads half its source on average
        fan_in = fan_out = max(1, math.prod(shapes[src]) // 2)
    else:
        fan_in, fan_out = math.prod(shapes[src]), math.prod(shapes[dst]) * gates
    he = target["act"] in RECTIFIERS
    bound = math.sqrt(6 / fan_in) if he else math.sqrt(6 / (fan_in + fan_out))
    return ("uniform", bound, kind == "autoregressive"), f"{kind} {'He' if he else 'Glorot'}"


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def judge(value: np.ndarray, expected) -> float:
    """0 where `value` is as documented, else how far it is off."""
    if expected[0] == "constant":
        return rel_diff(value, np.full_like(value, expected[1]))
    if expected[0] == "lstm":
        h = expected[1]
        want = np.zeros_like(value)
        want[h:2 * h] = 1.0  # gate order i, f, g, o
        return rel_diff(value, want)
    _, bound, masked = expected
    free = value
    if masked:  # zero on and below the diagonal; the rest uniform
        off = np.tril(value)
        if np.any(off != 0):
            return float(np.max(np.abs(off)))
        free = value[np.triu_indices(value.shape[0], 1)]
    if free.size == 0:
        return 0.0
    reach = float(np.max(np.abs(free))) / bound
    if reach > 1 + 1e-12:
        return reach - 1
    return 1 - reach if free.size >= 50 and reach < 0.8 else 0.0
