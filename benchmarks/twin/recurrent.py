"""Recurrent models (section 8): random cells and options, the documented equations step by step, and
conv and pooling inside a loop."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import nngraph
from nngraph.train.sequences import select_rows  # how the training loop feeds a window's targets

from .compare import Worst, rel_diff
from .formulas import activation
from .generate import rand_act
from .net import DTYPE, LAST, Net, call
from .torch_twin import Draws


def recurrent_case(rng):
    """A recurrent layer (a cell or an Elman unit) between a sequence input and an output, with the options
    of section 8; the case's settings in `case`."""
    net, used = Net(), set()
    d, hsz, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(2, 4))
    net.unit("x", "input", (d,), words=["sequence"])
    cell = ["elman", "lstm", "gru", "mgu"][rng.integers(4)]
    bi = rng.random() < 0.3
    learned = rng.random() < 0.3
    dropout = rng.random() < 0.3
    words = (["bidirectional"] if bi else []) + (["initial=learned"] if learned else []) + \
        (["dropout=0.3"] if dropout else [])
    act, aopts = ("tanh", {}) if cell != "elman" else rand_act(rng, False)
    identity_delay = cell == "elman" and not bi and rng.random() < 0.3
    delay = 1 if cell != "elman" or bi or rng.random() < 0.6 else int(rng.integers(2, 4))
    norm = None
    if cell == "elman":
        if hsz > 1 and rng.random() < 0.5:  # a layernorm inside the loop (section 2), one per direction
            norm = "layernorm"
            used.add("layernorm in a loop" + (" bidirectional" if bi else ""))
        net.unit("h", "layer", (hsz,), act, aopts, norm, words=words)
        net.link("h", "h", delay=delay)
        if delay > 1:
            used.add("elman delay k>1" + (" learned" if learned else ""))
        if identity_delay:
            net.link("h", "h", "identity", delay=1)
            used.add("identity delay 1")
        used.add(f"elman:{act}")
    else:
        net.unit("h", "layer", (hsz,), cell, words=words)
    net.link("x", "h")
    used |= {cell, *(["bidirectional"] if bi else []), *(["initial=learned"] if learned else []),
             *(["dropout(loop)"] if dropout else [])}
    ce = rng.random() < 0.4
    net.unit("y", "output", (k,), "softmax" if ce else "identity")
    net.link("h", "y")
    feedback = not bi and rng.random() < 0.4
    if feedback:
        net.link("y", "h", delay=2)
        used.add("delay 2 feedback")
    skip_delay = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
    if skip_delay:
        net.link("x", "y", delay=skip_delay)  # a delayed link off any loop
        used.add("x -> y delay k")
    per_step = rng.random() < 0.6
    net.losses.append((1, "cross_entropy" if ce else "mse", "y", None))
    used.add(("per-step" if per_step else "last-step") + (" cross_entropy" if ce else " mse"))
    n, T = int(rng.integers(1, 4)), int(rng.integers(1, 5))  # a batch of one sequence, sequences of one step
    used |= {*(["one sequence"] if n == 1 else []), *(["one step"] if T == 1 else []),
             *(["1-unit recurrent layer"] if hsz == 1 else [])}
    lengths = None
    if not bi and rng.random() < 0.4:
        lengths = rng.integers(1, T + 1, size=n)
        used.add("ragged lengths")
    xs = {"x": rng.normal(size=(n, T, d))}
    if ce:
        target = rng.integers(0, k, size=(n, T) if per_step else (n,))
    else:
        target = rng.normal(size=(n, T, k) if per_step else (n, k))
    case = dict(cell=cell, bi=bi, learned=learned, act=act, aopts=aopts, feedback=feedback, ce=ce,
                per_step=per_step, lengths=lengths, dropout=0.3 if dropout else 0.0, identity_delay=identity_delay,
                delay=delay, skip_delay=skip_delay, norm=norm)
    return net, used, xs, target, case


def run_cell(case, P, prefix, wx, xseq, H, feedback=None, mask=None, state=None):
    """One direction over time-major xseq [T, n, d]: the documented equations. `mask`: the dropout mask of
    the unit's value, the same at every step, which the recurrence reads too. `state`: (h, c) carried from
    a previous window (delay 1), which replaces the initial state; the final one is left in `case["end"]`."""
    cell = case["cell"]
    T, n = xseq.shape[:2]
    learned = case["learned"]
    h = P[f"h.{prefix}initial"].expand(n, H) if learned else torch.zeros(n, H)
    c = P[f"h.{prefix}initial_cell"].expand(n, H) if learned and cell == "lstm" else torch.zeros(n, H)
    if state is not None:
        h, c = state
    k = case["delay"]
    U = P[f"h->h@{k}.{prefix}weight"]
    past = [h] * k  # h(-k) .. h(-1): the initial state at every step before the first
    b = P[f"h.{prefix}bias"]
    outs = []
    for t in range(T):
        a = xseq[t] @ P[wx] + b
        if feedback is not None:
            a = a + feedback(t, outs)
        if cell == "elman":
            z = a + past[-k] @ U + (past[-1] if case["identity_delay"] else 0)
            if case.get("norm"):  # each direction's net input on its own: h.norm.weight, h.norm.reverse.weight
                z = F.layer_norm(z, (H,), P[f"h.norm.{prefix}weight"], P[f"h.norm.{prefix}bias"], 1e-5)
            h = activation(case["act"], case["aopts"], z)
        elif cell == "lstm":
            g = a + h @ U
            i, f, gg, o = g.split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif cell == "gru":
            xr, xz, xn = a.split(H, dim=1)
            ur, uz, un = (h @ U).split(H, dim=1)
            r, z = torch.sigmoid(xr + ur), torch.sigmoid(xz + uz)
            h = (1 - z) * torch.tanh(xn + r * un) + z * h
        else:
            xf, xn = a.split(H, dim=1)
            uf, un = (h @ U).split(H, dim=1)
            f = torch.sigmoid(xf + uf)
            h = (1 - f) * torch.tanh(xn + f * un) + f * h
        if mask is not None:
            h = h * mask
        outs.append(h)
        past.append(h)
    case["end"] = (h, c)
    return outs


def compare_recurrent(net, xs, target, case):
    text = net.text()
    checked = nngraph.loads(text)
    prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=0)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    H = net.units[1]["shape"][0]
    x = torch.tensor(xs["x"]).transpose(0, 1)  # [T, n, d]
    T, n = x.shape[:2]
    worst = Worst()
    note = worst.note

    def twin(mask, back_mask=None):
        def y_of(hh, t):
            z = hh @ P["h->y.weight"] + P["y.bias"]
            k = case["skip_delay"]
            return z + x[t - k] @ P[f"x->y@{k}.weight"] if k and t >= k else z

        def feedback(t, outs):
            if t < 2:
                return 0
            y = activation("softmax" if case["ce"] else "identity", {}, y_of(outs[t - 2], t - 2))
            return y @ P["y->h@2.weight"]

        hs = run_cell(case, P, "", "x->h.weight", x, H, feedback if case["feedback"] else None, mask)
        if case["bi"]:
            back = run_cell(case, P, "reverse.", "x->h.reverse.weight", x.flip(0), H, None, back_mask)[::-1]
            hs = [torch.cat([f, b], dim=1) for f, b in zip(hs, back)]
        # [T, n, H] values, [T, n, k] logits
        return torch.stack(hs), torch.stack([y_of(hh, t) for t, hh in enumerate(hs)])

    hs, zs = twin(None)
    ys = torch.softmax(zs, -1) if case["ce"] else zs
    ours = prog.forward(xs)
    note(rel_diff(ours["y"], ys.transpose(0, 1).detach()), "value of y")
    note(rel_diff(ours["h"], hs.transpose(0, 1).detach()), "value of h")
    if not case["bi"] and T > 1:  # bptt: a second window from the state the first ended in
        cut = int(np.random.default_rng(T).integers(1, T))
        first = prog.feeds({"x": xs["x"][:, :cut]})
        prog.run(first, training=False, with_loss=False)
        state = prog.final_state(first, n, prog.eval_plan)
        rest = prog.forward({"x": xs["x"][:, cut:]}, state=state)
        note(rel_diff(rest["y"], ys.transpose(0, 1)[:, cut:].detach()), f"value of y after a window cut at {cut}")
    chosen = select_rows(target, case["lengths"], case["per_step"], n, 0, T, T)
    draws = Draws(np.random.default_rng(3))
    loss, _, grads, _ = prog.loss_and_grads(xs, chosen.data, rng=draws, rows=chosen.rows)
    mask = back_mask = None
    if case["dropout"]:  # one mask per sequence and direction, by slot name
        keep = 1 - case["dropout"]
        masks = {r.slot: torch.tensor((u < keep) / keep) for r, (_, u) in zip(prog.train_plan.random, draws.made)}
        mask, back_mask = masks["random:h.dropout"], masks.get("random:h.reverse.dropout")
    hs, zs = twin(mask, back_mask)
    lengths = case["lengths"] if case["lengths"] is not None else np.full(n, T)
    if case["per_step"]:
        valid = torch.tensor(np.arange(T)[:, None] < lengths[None, :])  # [T, n]
        zr = zs[valid]
        tr = torch.tensor(target).transpose(0, 1)[valid]
    else:
        zr = zs[torch.tensor(lengths - 1), torch.arange(n)]
        tr = torch.tensor(target)
    tl = F.cross_entropy(zr, tr) if case["ce"] else F.mse_loss(zr, tr)
    note(rel_diff(float(loss), float(tl.detach())), "loss")
    tl.backward()
    for k, p in P.items():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        note(rel_diff(prog.backend.to_numpy(grads[k]), g), f"gradient of {k}")
    return worst.value, text


def conv_loop_case(rng):
    """Conv and pooling inside a loop (section 8): a convolutional Elman unit over image sequences; or a conv
    net feeding a recurrent layer (conv_rnn_case). (worst, text, the construct)."""
    if rng.random() < 0.5:
        return (*conv_rnn_case(rng), "conv net feeding a recurrent layer")
    return (*conv_elman_case(rng), "conv and pooling in a loop")


def conv_rnn_case(rng):
    """A conv (and maybe a pooling) applied to each step's image outside any loop, flattened by the dense link
    into a recurrent layer (a cell or an Elman unit, section 8's equations), a per-step output."""
    c, size, f = int(rng.integers(1, 3)), int(rng.integers(3, 6)), int(rng.integers(1, 3))
    H = int(rng.integers(1, 4))
    cell = ["elman", "lstm", "gru", "mgu"][rng.integers(4)]
    act, aopts = rand_act(rng, False)
    pool = rng.random() < 0.5
    side = size - 1 if pool else size
    unit = f"layer h[{H}] {call(act, aopts)}" if cell == "elman" else f"layer h[{H}] {cell}"
    lines = [f"  input x[{c}, {size}, {size}] sequence", f"  layer c {call(act, aopts)}",
             *(["  layer p"] if pool else []), f"  {unit}", "  output y[2] identity",
             "  x -> c conv(filters={}, kernel=3, padding=1)".format(f),
             *(["  c -> p maxpool(kernel=2, stride=1)", "  p -> h"] if pool else ["  c -> h"]),
             *(["  h -> h delay 1"] if cell == "elman" else []), "  h -> y"]
    text = "model m {\n" + "\n".join(lines) + "\n}\ntrain {\n  model m\n  data xor\n  loss mse(y)\n}\n"
    prog, P, x, target = _image_sequence_case(rng, text, c, size)
    n, T = target.shape[:2]
    feats = []
    for t in range(T):
        conv = activation(act, aopts, F.conv2d(torch.tensor(x[:, t]), P["x->c.weight"], padding=1) +
                          P["c.bias"].reshape(1, -1, 1, 1))
        feats.append((F.max_pool2d(conv, 2, 1) if pool else conv).reshape(n, f * side * side))
    case = dict(cell=cell, learned=False, delay=1, act=act, aopts=aopts, identity_delay=False, norm=None)
    hs = run_cell(case, P, "", f"{'p' if pool else 'c'}->h.weight", torch.stack(feats), H)
    ys = torch.stack([hh @ P["h->y.weight"] + P["y.bias"] for hh in hs], 1)
    return _sequence_mse_difference(prog, P, x, ys, target), text


def _image_sequence_case(rng, text, channels, size):
    """`text`'s program (model m, noted in LAST), its parameters as the twin's tensors, and 1-3 sequences of 1-3
    images with a target of 2 values a step."""
    LAST[0] = text
    prog = nngraph.program(nngraph.loads(text), "m", dtype=DTYPE[0], seed=0)
    P = {name: torch.tensor(prog.get(name), dtype=torch.float64, requires_grad=True) for name in prog.params}
    n, T = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return prog, P, rng.normal(size=(n, T, channels, size, size)), rng.normal(size=(n, T, 2))


def _sequence_mse_difference(prog, P, x, ys, target) -> float:
    """The worst relative difference of output y, the mse loss over every step and each gradient, between
    nngraph's program and the twin's (`ys` (n, T, k) from parameters `P`)."""
    n, T = target.shape[:2]
    chosen = select_rows(target, None, True, n, 0, T, T)
    loss, _, grads, _ = prog.loss_and_grads({"x": x}, chosen.data, rows=chosen.rows)
    tl = F.mse_loss(ys, torch.tensor(target))
    tl.backward()
    return max([rel_diff(prog.forward({"x": x})["y"], ys.detach()), rel_diff(float(loss), float(tl.detach()))] +
               [rel_diff(grads[name], P[name].grad) for name in P])


def conv_elman_case(rng):
    """A convolutional Elman unit over image sequences: conv and pooling inside the loop."""
    c, size, f = int(rng.integers(1, 3)), int(rng.integers(3, 6)), int(rng.integers(1, 3))
    k = [1, 3][rng.integers(2)]
    act, aopts = rand_act(rng, False)
    pool = ["maxpool", "avgpool"][rng.integers(2)]
    text = (f"model m {{\n  input x[{c}, {size}, {size}] sequence\n  layer h {call(act, aopts)}\n  layer p\n"
            f"  output y[2] identity\n  x -> h conv(filters={f}, kernel={k}, padding=same)\n"
            f"  h -> h conv(filters={f}, kernel=3, padding=1) delay 1\n  h -> p {pool}(kernel=2, stride=1)\n"
            f"  p -> y\n}}\ntrain {{\n  model m\n  data xor\n  loss mse(y)\n}}\n")
    prog, P, x, target = _image_sequence_case(rng, text, c, size)
    n, T = target.shape[:2]
    h = torch.zeros(n, f, size, size)
    ys = []
    for t in range(T):
        z = F.conv2d(torch.tensor(x[:, t]), P["x->h.weight"], padding=k // 2) + \
            F.conv2d(h, P["h->h@1.weight"], padding=1) + P["h.bias"].reshape(1, -1, 1, 1)
        h = activation(act, aopts, z)
        pooled = (F.max_pool2d if pool == "maxpool" else F.avg_pool2d)(h, 2, 1)
        ys.append(pooled.reshape(n, -1) @ P["p->y.weight"] + P["y.bias"])
    ys = torch.stack(ys, 1)
    return _sequence_mse_difference(prog, P, x, ys, target), text
