"""nngraph against an independent PyTorch twin written from docs/language.md.

Random small specs are generated from the documented constructs, compiled by nngraph (the Python API, in
float64) and computed again by a twin that follows the documentation's formulas with torch (F.conv2d,
F.max_pool2d, ... where the documentation names PyTorch's convention; the formula by hand where it gives its
own, e.g. bicubic's a = -0.5 or GRU's `b_hn` = 0). Parameters are nngraph's, copied into torch by name. Compared:
every unit's forward value (eval and training mode; dropout masks and a VAE's eps are drawn once and handed
to both), the loss, every parameter gradient, running statistics, and the parameters after three steps of
penalties (l1, l2), clipping and the optimizer (sgd with momentum/nesterov, adam). The `fit` and `bptt_fit`
families run `nngraph.fit` on an npz file (one full batch an epoch; with `bptt` windows) and compare the
checkpoint's parameters and summary.json's train loss with the twin's own epochs.

Families (`--only`): feedforward, optimizer, tied, vae, recurrent, conv_loop, gan (minibatch_std), schedule,
fit, bptt_fit. `--dtype float32` runs nngraph in float32 (its compiled kernels) against the float64 twin;
give it `--tol 1e-4`. Measured: docs/performance.md, "The same numbers as an independent twin".

Usage: python benchmarks/twin_check.py [--cases N] [--seed S] [--only FAMILY] [--tol 1e-9] [--dtype float32]
Prints per construct: cases, mismatches, the worst relative difference, and the spec of the smallest failing
case of each construct. Needs torch (`pip install torch==2.13.0`); nngraph itself never imports it.
"""

from __future__ import annotations

import argparse
import collections
import math
import pathlib
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import nngraph
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties, clip_by_global_norm

torch.set_default_dtype(torch.float64)

ACTIVATIONS = ["identity", "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax"]


# ---- the twin's formulas, from docs/language.md ------------------------------------------------------


def activation(word: str, opts: dict, z):
    if word in ("identity", "linear"):
        return z
    if word == "sigmoid":
        return torch.sigmoid(z)
    if word == "tanh":
        return torch.tanh(z)
    if word == "relu":
        return torch.relu(z)
    if word == "leaky_relu":
        return F.leaky_relu(z, opts.get("slope", 0.01))
    if word == "elu":
        return F.elu(z, opts.get("alpha", 1.0))
    if word == "softplus":
        return torch.logaddexp(torch.zeros_like(z), z)
    if word == "softmax":
        return torch.softmax(z, dim=-1)  # the last axis, as documented (an image's width)
    raise ValueError(word)


def keys_matrix(size: int, factor: int, mode: str) -> torch.Tensor:
    """Half-pixel-centred interpolation of one axis (nearest, bilinear, bicubic with Keys' a = -0.5), edge
    pixels repeated beyond the border: the documentation's words, written out independently."""
    out = np.zeros((size * factor, size))
    for o in range(size * factor):
        if mode == "nearest":
            out[o, o // factor] = 1.0
            continue
        src = (o + 0.5) / factor - 0.5
        base = math.floor(src)
        taps = range(base, base + 2) if mode == "bilinear" else range(base - 1, base + 3)
        for j in taps:
            d = abs(src - j)
            if mode == "bilinear":
                w = max(0.0, 1 - d)
            else:
                a = -0.5
                near = ((a + 2) * d - (a + 3)) * d * d + 1
                far = a * d**3 - 5 * a * d * d + 8 * a * d - 4 * a
                w = near if d <= 1 else (far if d < 2 else 0.0)
            out[o, min(max(j, 0), size - 1)] += w
    return torch.tensor(out)


def upsample(x, factor, mode):
    fh, fw = (factor, factor) if isinstance(factor, int) else factor
    ah, aw = keys_matrix(x.shape[2], fh, mode), keys_matrix(x.shape[3], fw, mode)
    ours = torch.einsum("oh,nchw,pw->ncop", ah, x, aw)
    if mode in ("nearest", "bilinear"):  # PyTorch's align_corners=False, which the documentation names
        theirs = F.interpolate(x, scale_factor=(fh, fw), mode=mode, **({} if mode == "nearest" else
                                                                        {"align_corners": False}))
        assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-12), "the twin's own interpolation is off"
    return ours


def minibatch_std(x, group):
    """ProGAN's statistic over consecutive groups (a last, smaller group its own), appended as a channel."""
    stats = []
    for start in range(0, x.shape[0], group):
        g = x[start:start + group].reshape(min(group, x.shape[0] - start), -1)
        std = torch.sqrt(((g - g.mean(0)) ** 2).mean(0) + 1e-8).mean()
        stats.append(std.expand(len(g)))
    column = torch.cat(stats).reshape(-1, 1, *([1] * (x.dim() - 2))).expand(x.shape[0], 1, *x.shape[2:])
    return torch.cat([x, column], dim=1)


def pad_arg(p):
    return tuple(p) if isinstance(p, list) else p


# ---- random specs ------------------------------------------------------------------------------------


DTYPE = ["float64"]  # nngraph's; the twin computes in float64 from the same parameters
XOR = "model m {\n  input x[2]\n  output y[1] sigmoid\n  x -> y\n}\n"
LAST = [""]  # the text of the case being run, for an error's report


class Net:
    """A model described once, rendered as .nn text for nngraph and run by the twin."""

    def __init__(self):
        self.units = []  # dicts: name, role, shape, act, aopts, norm, nopts, words, extra
        self.links = []  # dicts: src, dst, kind, opts, delay
        self.losses = []  # (weight, term, unit, other)
        self.sum_units = False  # method vae: mse and bce summed over units, a mean over the batch

    def unit(self, name, role, shape=None, act=None, aopts=None, norm=None, nopts=None, words=(), **extra):
        self.units.append(dict(name=name, role=role, shape=shape, act=act, aopts=aopts or {}, norm=norm,
                               nopts=nopts or {}, words=list(words), extra=extra))

    def link(self, src, dst, kind="dense", delay=0, **opts):
        self.links.append(dict(src=src, dst=dst, kind=kind, opts=opts, delay=delay))

    def text(self, train_lines=()):
        LAST[0] = self._text(train_lines)
        return LAST[0]

    def _text(self, train_lines=()):
        lines = ["model m {"]
        for u in self.units:
            parts = [u["role"], u["name"] + (f"[{', '.join(map(str, u['shape']))}]" if u["shape"] else "")]
            if u["role"] == "sample":
                parts.append(f"~ normal({u['extra']['mean']}, {u['extra']['logvar']})")
            if u["act"]:
                parts.append(call(u["act"], u["aopts"]))
            if u["norm"]:
                parts.append(call(u["norm"], u["nopts"]))
            parts += u["words"]
            lines.append("  " + " ".join(parts))
        for ln in self.links:
            mod = "" if ln["kind"] == "dense" and not ln["opts"] else " " + call(ln["kind"], ln["opts"])
            delay = f" delay {ln['delay']}" if ln["delay"] else ""
            lines.append(f"  {ln['src']} -> {ln['dst']}{mod}{delay}")
        lines.append("}")
        loss = " + ".join((f"{w} * " if w != 1 else "") + f"{t}({u}{', ' + o if o else ''})"
                          for w, t, u, o in self.losses)
        lines += ["train {", "  model m", "  data xor", f"  loss {loss}", *("  " + t for t in train_lines), "}"]
        return "\n".join(lines) + "\n"


def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return str(v)


def call(word, opts):
    return word if not opts else f"{word}(" + ", ".join(f"{k}={value(v)}" for k, v in opts.items()) + ")"


def rand_pair(rng, lo, hi):
    return int(rng.integers(lo, hi + 1)) if rng.random() < 0.6 else [int(rng.integers(lo, hi + 1)) for _ in "hw"]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def rand_act(rng, allow_softmax=True):
    words = [a for a in ACTIVATIONS if allow_softmax or a != "softmax"]
    word = words[rng.integers(len(words))]
    opts = {}
    if word == "leaky_relu" and rng.random() < 0.5:
        opts["slope"] = round(float(rng.uniform(0.05, 0.5)), 3)
    if word == "elu" and rng.random() < 0.5:
        opts["alpha"] = round(float(rng.uniform(0.3, 2.0)), 3)
    return word, opts


def image_stage(rng, net, src, shape, i):
    """One image link out of `src` [C, H, W] into a new unit; the construct's name and the new shape."""
    c, h, w = shape
    kinds = ["conv", "conv", "maxpool", "avgpool", "upsample", "deconv", "pixelshuffle"]
    kind = kinds[rng.integers(len(kinds))]
    name = f"u{i}"
    opts = {}
    if kind == "conv":
        k = rand_pair(rng, 1, 3)
        kh, kw = pair(k)
        if rng.random() < 0.25 and kh % 2 and kw % 2:
            opts = dict(filters=int(rng.integers(1, 4)), kernel=k, padding="same")
            out = (opts["filters"], h, w)
        else:
            s, p = rand_pair(rng, 1, 2), rand_pair(rng, 0, 1)
            opts = dict(filters=int(rng.integers(1, 4)), kernel=k, stride=s, padding=p)
            (sh, sw), (ph, pw) = pair(s), pair(p)
            out = (opts["filters"], (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    elif kind in ("maxpool", "avgpool"):
        k = rand_pair(rng, 2, 3)
        kh, kw = pair(k)
        opts = dict(kernel=k)
        s = k
        if rng.random() < 0.6:
            s = opts["stride"] = rand_pair(rng, 1, 2)
        p = [int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))]
        if rng.random() < 0.6:
            opts["padding"] = p
        else:
            p = [0, 0]
        (sh, sw) = pair(s)
        out = (c, (h + 2 * p[0] - kh) // sh + 1, (w + 2 * p[1] - kw) // sw + 1)
    elif kind == "upsample":
        f = rand_pair(rng, 1, 2)
        mode = ["nearest", "bilinear", "bicubic"][rng.integers(3)]
        opts = dict(factor=f, mode=mode)
        kind = f"upsample_{mode}"
        out = (c, h * pair(f)[0], w * pair(f)[1])
    elif kind == "deconv":
        k, s = rand_pair(rng, 1, 4), rand_pair(rng, 1, 2)
        (kh, kw), (sh, sw) = pair(k), pair(s)
        p = [int(rng.integers(0, (kh - 1) // 2 + 1)), int(rng.integers(0, (kw - 1) // 2 + 1))]
        opts = dict(filters=int(rng.integers(1, 4)), kernel=k, stride=s, padding=p)
        out = (opts["filters"], (h - 1) * sh - 2 * p[0] + kh, (w - 1) * sw - 2 * p[1] + kw)
    else:  # pixelshuffle: a conv to r^2 C channels first
        r = 2
        if max(h, w) * r > 14:
            return None
        mid = f"u{i}c"
        net.unit(mid, "layer", None, *rand_act(rng, False))
        net.link(src, mid, "conv", filters=r * r * 2, kernel=1)
        src, c = mid, r * r * 2
        opts = dict(factor=r)
        out = (c // (r * r), h * r, w * r)
    if min(out[1:]) < 1 or max(out[1:]) > 14:
        return None
    real_kind = kind.split("_")[0]
    act, aopts = rand_act(rng, allow_softmax=rng.random() < 0.3)
    norm = None
    if real_kind in ("conv", "deconv") and rng.random() < 0.3:
        norm = "batchnorm" if rng.random() < 0.5 else "layernorm"
    net.unit(name, "layer", None, act, aopts, norm)
    net.link(src, name, real_kind, **opts)
    if act == "softmax":
        kind += "+softmax(image)"
    if norm:
        kind += f"+{norm}(image)"
    if real_kind in ("conv", "deconv") and src != "x" and rng.random() < 0.3:
        net.units[-1]["shape"] = out  # a dense link from the input too: one bias per value
        net.link("x", name)
        kind += "+dense(bias per value)"
    elif real_kind == "conv" and opts.get("padding") == "same" and c == out[0] and rng.random() < 0.5:
        net.link(src, name, "identity")  # a residual link
        kind += "+identity"
    return kind, name, out


def feedforward_case(rng):
    """An image pipeline, a dense head and a loss; the constructs it uses."""
    net, used = Net(), set()
    shape = (int(rng.integers(1, 3)), int(rng.integers(4, 8)), int(rng.integers(4, 8)))
    net.unit("x", "input", shape)
    src = "x"
    for i in range(int(rng.integers(0, 3))):
        stage = next(filter(None, (image_stage(rng, net, src, shape, i) for _ in range(4))), None)
        if stage is None:  # four draws too large or too small: stop here
            break
        kind, src, shape = stage
        used.add(kind)
    hidden = int(rng.integers(2, 6))
    act, aopts = rand_act(rng, False)
    norm = [None, "batchnorm", "layernorm"][rng.integers(3)]
    nopts = {}
    if norm and rng.random() < 0.5:
        nopts["eps"] = 0.01
    if norm == "batchnorm" and rng.random() < 0.5:
        nopts["momentum"] = 0.3
    words = []
    if rng.random() < 0.3:
        words.append("dropout=0.4")
        used.add("dropout")
    if rng.random() < 0.2 and norm is None:
        words.append("nobias")
        used.add("nobias")
    net.unit("h", "layer", (hidden,), act, aopts, norm, nopts, words)
    used |= {f"act:{act}", *([norm] if norm else [])}
    net.link(src, "h")
    loss = ["mse", "bce", "bce_prob", "cross_entropy", "cross_entropy_prob", "cross_entropy_logits",
            "mse_labels", "bce_label"][rng.integers(8)]
    k = int(rng.integers(2, 5))
    if loss in ("mse", "mse_labels"):
        net.unit("y", "output", (k,), *rand_act(rng))
    elif loss == "bce":
        net.unit("y", "output", (k,), "sigmoid")
    elif loss == "bce_label":
        k = 1
        net.unit("y", "output", (1,), "sigmoid")
    elif loss == "bce_prob":
        net.unit("s", "layer", (k,), "sigmoid")
        net.unit("y", "output", None, "identity")
        net.link("h", "s")
        net.link("s", "y", "identity")
    elif loss == "cross_entropy_logits":
        net.unit("y", "output", (k,), "identity")
    else:
        net.unit("y", "output", (k,), "softmax")
    if loss != "bce_prob":
        net.link("h", "y")
    if rng.random() < 0.3 and loss != "bce_prob":
        net.link(src, "y")  # a skip connection: two links into y
        used.add("skip")
    if loss in ("mse", "cross_entropy_logits") and rng.random() < 0.3:
        net.units[-1]["words"].append("dropout=0.25")  # the loss reads the dropped values
        used.add("dropout on the output a loss reads")
    term = "cross_entropy" if loss.startswith("cross") else loss.split("_")[0]
    net.losses.append(([1, 0.5, 2][rng.integers(3)], term, "y", None))
    used.add(f"loss:{loss}")
    if loss in ("mse", "mse_labels") and rng.random() < 0.4:
        net.unit("y2", "output", (k,), "tanh")
        net.link("h", "y2")
        net.losses.append((0.5, "mse", "y2", None))
        used.add("two terms read the data's targets")
    if rng.random() < 0.3:
        net.unit("q", "output", (hidden,), *rand_act(rng, False))
        net.link("h", "q")
        net.losses.append((0.3, "mse", "q", "h"))
        used.add("mse(q, h): both sides differentiated")
    n = int(rng.integers(3, 7))
    xs = {"x": rng.normal(size=(n, *net.units[0]["shape"]))}
    if loss in ("cross_entropy", "cross_entropy_logits", "mse_labels", "bce_label"):
        target = rng.integers(0, k if loss != "bce_label" else 2, size=n)
    elif loss == "cross_entropy_prob":
        target = rng.dirichlet(np.ones(k), size=n)
    elif loss in ("bce", "bce_prob"):
        target = (rng.random((n, k)) < 0.5).astype(float)
    else:
        target = rng.normal(size=(n, k))
    return net, used, xs, target


def tied_case(rng):
    net = Net()
    n_in, n_h = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    net.unit("x", "input", (n_in,))
    net.unit("h", "layer", (n_h,), *rand_act(rng, False))
    net.unit("r", "output", (n_in,), "sigmoid")
    net.link("x", "h")
    net.link("h", "r", "tied", source="x", target="h")
    net.losses.append((1, "bce", "r", "x"))
    x = rng.random((4, n_in))
    return net, {"tied", "loss:bce(unit, other)"}, {"x": x}, None


def vae_case(rng):
    net = Net()
    d, z = int(rng.integers(2, 6)), int(rng.integers(1, 3))
    net.unit("x", "input", (d,))
    net.unit("e", "layer", (4,), "tanh")
    net.unit("mu", "layer", (z,), "identity")
    net.unit("lv", "layer", (z,), "identity")
    net.unit("z", "sample", mean="mu", logvar="lv")
    net.unit("y", "output", (d,), "sigmoid")
    for a, b in (("x", "e"), ("e", "mu"), ("e", "lv"), ("z", "y")):
        net.link(a, b)
    w = [1, 0.5][rng.integers(2)]
    net.losses += [(1, "mse", "y", "x"), (w, "kl", "z", None)]
    return net, {"sample", "loss:kl", "loss:mse(unit, other)"}, {"x": rng.random((5, d))}, None


# ---- the twin's forward pass --------------------------------------------------------------------------


class Draws:
    """A generator that hands nngraph fixed numbers and remembers them for the twin, by call order."""

    def __init__(self, rng):
        self.rng, self.made = rng, []

    def random(self, shape, dtype=None):
        a = self.rng.random(shape).astype(dtype or float)
        self.made.append(("random", a.astype(np.float64)))
        return a

    def standard_normal(self, shape, dtype=None):
        a = self.rng.standard_normal(shape).astype(dtype or float)
        self.made.append(("normal", a.astype(np.float64)))
        return a


def twin_forward(net, P, B, inputs, training, draws, random_slots):
    """Every unit's value; `B` the running statistics (updated in training mode); `draws` by random slot."""
    vals = {}
    by_slot = dict(zip(random_slots, draws))
    weighted = {"dense", "conv", "deconv", "tied"}
    for u in net.units:
        name = u["name"]
        if u["role"] == "input":
            vals[name] = torch.tensor(inputs[name])
            continue
        if u["role"] == "sample":
            eps = torch.tensor(next(a for s, a in by_slot.items() if name in s))
            vals[name] = vals[u["extra"]["mean"]] + torch.exp(vals[u["extra"]["logvar"]] / 2) * eps
            continue
        z, kinds, n = None, [], None
        for ln in [ln for ln in net.links if ln["dst"] == name]:
            x, kind, o = vals[ln["src"]], ln["kind"], ln["opts"]
            n = x.shape[0]
            kinds.append(kind)
            wname = f"{ln['src']}->{name}.weight"
            if kind == "dense":
                c = x.reshape(n, -1) @ P[wname]
                c = c.reshape(n, *u["shape"]) if u["shape"] else c
            elif kind == "identity":
                c = x
            elif kind == "tied":
                c = x.reshape(n, -1) @ P[f"{o['source']}->{o['target']}.weight"].T
            elif kind == "conv":
                p = o.get("padding", 0)
                p = "same" if p == "same" else pad_arg(p)
                c = F.conv2d(x, P[wname], stride=pad_arg(o.get("stride", 1)), padding=p)
            elif kind == "deconv":
                c = F.conv_transpose2d(x, P[wname], stride=pad_arg(o.get("stride", 1)),
                                       padding=pad_arg(o.get("padding", 0)))
            elif kind == "maxpool":
                c = F.max_pool2d(x, pad_arg(o["kernel"]), pad_arg(o.get("stride", o["kernel"])),
                                 pad_arg(o.get("padding", 0)))
            elif kind == "avgpool":
                c = F.avg_pool2d(x, pad_arg(o["kernel"]), pad_arg(o.get("stride", o["kernel"])),
                                 pad_arg(o.get("padding", 0)))
            elif kind == "upsample":
                c = upsample(x, o.get("factor", 2), o.get("mode", "nearest"))
            elif kind == "minibatch_std":
                c = minibatch_std(x, o.get("group", 4))
            elif kind == "pixelshuffle":
                c = F.pixel_shuffle(x, o.get("factor", 2))
            else:
                raise ValueError(kind)
            z = c if z is None else z + c
        has_bias = any(k in weighted for k in kinds) and "nobias" not in u["words"] and u["norm"] != "batchnorm"
        if has_bias:
            b = P[f"{name}.bias"]
            if all(k in ("conv", "deconv") for k in kinds if k in weighted):
                z = z + b.reshape(1, -1, *([1] * (z.dim() - 2)))
            else:
                z = z + b.reshape(1, *z.shape[1:])
        if u["norm"] == "batchnorm":
            eps, mom = u["nopts"].get("eps", 1e-5), u["nopts"].get("momentum", 0.1)
            rm, rv = B[f"{name}.norm.running_mean"], B[f"{name}.norm.running_var"]
            z = F.batch_norm(z, rm, rv, P[f"{name}.norm.weight"], P[f"{name}.norm.bias"], training, mom, eps)
        elif u["norm"] == "layernorm":
            eps = u["nopts"].get("eps", 1e-5)
            z = F.layer_norm(z, z.shape[1:], P[f"{name}.norm.weight"].reshape(z.shape[1:]),
                             P[f"{name}.norm.bias"].reshape(z.shape[1:]), eps)
        s = activation(u["act"] or "identity", u["aopts"], z)
        if training and any(w.startswith("dropout=") for w in u["words"]):
            p = float(next(w for w in u["words"] if w.startswith("dropout="))[8:])
            uniform = torch.tensor(next(a for sl, a in by_slot.items() if name in sl))
            s = s * (uniform < 1 - p).double() / (1 - p)
        vals[name] = s
    return vals


def twin_logits(net, vals, P, B, inputs, training, draws, slots, unit):
    """The net input a fused loss reads: recompute the unit with the identity activation."""
    saved = next(u for u in net.units if u["name"] == unit)
    act = saved["act"]
    saved["act"] = "identity"
    try:
        again = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, inputs, training, draws, slots)
    finally:
        saved["act"] = act
    return again[unit]


def twin_loss(net, vals, P, B, inputs, draws, slots, target, training=True):
    total = 0
    for w, term, unit, other in net.losses:
        y = vals[unit]
        act = next(u for u in net.units if u["name"] == unit)["act"]
        k = y.reshape(y.shape[0], -1).shape[1]
        if other is not None:
            t = vals[other]
        elif target is not None and target.ndim == 1 and term == "cross_entropy":
            t = torch.tensor(target, dtype=torch.long)
        elif target is not None and target.ndim == 1 and k == 1:
            t = torch.tensor(target, dtype=torch.float64).reshape(-1, 1)
        elif target is not None and target.ndim == 1:
            t = F.one_hot(torch.tensor(target, dtype=torch.long), k).double()
        else:
            t = None if target is None else torch.tensor(target)
        if term == "mse":
            v = F.mse_loss(y, t)
        elif term == "bce":
            if act == "sigmoid":
                zl = twin_logits(net, vals, P, B, inputs, training, draws, slots, unit)
                v = F.binary_cross_entropy_with_logits(zl, t)
            else:
                v = F.binary_cross_entropy(y, t)
        elif term == "cross_entropy":
            zl = twin_logits(net, vals, P, B, inputs, training, draws, slots, unit) if act == "softmax" else y
            v = F.cross_entropy(zl, t)  # labels or probability rows: mean over the batch
        elif term == "kl":
            u = next(u for u in net.units if u["name"] == unit)
            mu, lv = vals[u["extra"]["mean"]], vals[u["extra"]["logvar"]]
            v = (0.5 * (torch.exp(lv) + mu**2 - 1 - lv)).sum(dim=1).mean()
        if net.sum_units and term in ("mse", "bce"):
            v = v * k
        total = total + w * v
    return total


# ---- comparing ---------------------------------------------------------------------------------------


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def compare_feedforward(net, xs, target, optimizer=None, extra=(), sum_units=False):
    """The worst relative difference over forward values (eval and training), loss, gradients, buffers and
    three optimizer steps; with a note of where it is."""
    text = net.text(extra)
    checked = nngraph.loads(text)
    if sum_units:  # as method vae compiles it (train/vae.py)
        from nngraph.backend import get_backend
        from nngraph.compile import compile_model

        prog = compile_model(checked.models["m"], checked.train(None).loss, get_backend("numpy", DTYPE[0]), 0,
                             sum_units=True)
    else:
        prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=0)
    net.sum_units = sum_units
    from nngraph.train.feeding import target_for  # labels -> a 0/1 column or one-hot rows, as training does

    labels = target
    target = target_for(prog.train_plan, target)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    B = {k: torch.tensor(prog.backend.to_numpy(v), dtype=torch.float64) for k, v in prog.buffers.items()}
    worst = (0.0, "")

    def note(d, where):
        nonlocal worst
        if not d <= worst[0]:
            worst = (d, where)

    # eval mode
    draws = Draws(np.random.default_rng(5))
    ours = prog.forward(xs, rng=draws)
    theirs = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, xs, False,
                             [a for _, a in draws.made], [r.slot for r in prog.eval_plan.random])
    for u in theirs:
        if u in ours and net.units[0]["name"] != u:
            note(rel_diff(ours[u], theirs[u].detach()), f"eval value of {u}")
    # training mode: loss, gradients, running statistics
    draws = Draws(np.random.default_rng(7))
    slots = [r.slot for r in prog.train_plan.random]
    loss, _, grads, _ = prog.loss_and_grads(xs, target, rng=draws)
    made = [a for _, a in draws.made]
    vals = twin_forward(net, P, B, xs, True, made, slots)
    tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, xs, made, slots, labels)
    note(rel_diff(float(loss), float(tl.detach())), "loss")
    for p in P.values():
        p.grad = None
    tl.backward()
    for k, p in P.items():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        note(rel_diff(prog.backend.to_numpy(grads[k]), g), f"gradient of {k}")
    for k, v in prog.buffers.items():
        note(rel_diff(prog.backend.to_numpy(v), B[k]), f"buffer {k}")
    if prog.buffers:  # evaluation after a training pass: the running statistics
        draws = Draws(np.random.default_rng(5))
        ours = prog.forward(xs, rng=draws)
        theirs = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, xs, False,
                                 [a for _, a in draws.made], [r.slot for r in prog.eval_plan.random])
        for u in theirs:
            if u in ours and net.units[0]["name"] != u:
                note(rel_diff(ours[u], theirs[u].detach()), f"eval value of {u} after a training pass")
    if optimizer is not None:
        note(*optimizer_steps(prog, checked, net, xs, (target, labels), P, B))
    return worst, text


def torch_optimizer(config, P):
    """torch's optimizer for the train block's, with the documented defaults; and its rate."""
    opts = {k: (v.value if hasattr(v, "value") else v) for k, v in dict(config.optimizer.options).items()}
    if config.optimizer.name == "sgd":
        lr = opts.get("lr", 0.01)
        return torch.optim.SGD(list(P.values()), lr=lr, momentum=opts.get("momentum", 0),
                               nesterov=bool(opts.get("nesterov", False))), lr
    lr = opts.get("lr", 1e-3)
    return torch.optim.Adam(list(P.values()), lr=lr, betas=(opts.get("beta1", 0.9), opts.get("beta2", 0.999)),
                            eps=opts.get("eps", 1e-8)), lr


def twin_update(config, P, topt, loss):
    """One step as documented: the loss plus l1 sum|w| + l2/2 sum w^2 over every parameter not named *.bias,
    the global norm clipped by clip_grad_norm_, then the optimizer."""
    penalty = sum(config.l1 * p.abs().sum() + 0.5 * config.l2 * (p**2).sum()
                  for k, p in P.items() if not k.endswith(".bias"))
    (loss + penalty).backward()
    if config.clip:
        torch.nn.utils.clip_grad_norm_(list(P.values()), config.clip)
    topt.step()


def optimizer_steps(prog, checked, net, xs, target, P, B):
    """Three steps of nngraph's update (penalties, clip, optimizer, as Method.apply_update composes them)
    against torch's optimizers on the loss plus the documented penalty, clipped by clip_grad_norm_."""
    config = checked.train(None)
    opt = make_optimizer(config.optimizer, prog.params, prog.xp)
    name = config.optimizer.name
    topt, _ = torch_optimizer(config, P)
    target, labels = target
    for _ in range(3):
        draws = Draws(np.random.default_rng(11))
        _, _, grads, _ = prog.loss_and_grads(xs, target, rng=draws)
        add_penalties(prog.params, grads, config.l1, config.l2, prog.xp)
        if config.clip:
            clip_by_global_norm(grads, config.clip, prog.xp)
        opt.update(prog.params, grads)
        made = [a for _, a in draws.made]
        slots = [r.slot for r in prog.train_plan.random]
        topt.zero_grad()
        vals = twin_forward(net, P, B, xs, True, made, slots)
        tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, xs, made, slots, labels)
        twin_update(config, P, topt, tl)
    d = max(rel_diff(prog.get(k), P[k].detach()) for k in P)
    return d, f"parameters after 3 {name} steps"


def rand_optimizer(rng):
    lines, used = [], set()
    if rng.random() < 0.5:
        mom = [0, 0.9][rng.integers(2)]
        nest = bool(mom and rng.random() < 0.5)
        lines.append(f"optimizer sgd(lr=0.1, momentum={mom}{', nesterov=true' if nest else ''})")
        used.add("sgd" + ("+momentum" if mom else "") + ("+nesterov" if nest else ""))
    else:
        eps = [1e-8, 0.1][rng.integers(2)]
        lines.append(f"optimizer adam(lr=0.01, beta1=0.8, eps={eps})")
        used.add("adam")
    if rng.random() < 0.5:
        lines.append("l2 0.1")
        used.add("l2")
    if rng.random() < 0.4:
        lines.append("l1 0.05")
        used.add("l1")
    if rng.random() < 0.5:
        lines.append("clip 0.05")
        used.add("clip")
    return lines, used


# ---- recurrent models ---------------------------------------------------------------------------------


def recurrent_case(rng):
    """A recurrent layer (a cell or an Elman unit) between a sequence input and an output, with the options
    of section 8; the case's settings in `case`."""
    net, used = Net(), set()
    d, hsz, k = int(rng.integers(1, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 4))
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
    if cell == "elman":
        net.unit("h", "layer", (hsz,), act, aopts, words=words)
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
    n, T = int(rng.integers(2, 4)), int(rng.integers(2, 5))
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
                delay=delay, skip_delay=skip_delay)
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
    worst = (0.0, "")

    def note(d, where):
        nonlocal worst
        if not d <= worst[0]:
            worst = (d, where)

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
    from nngraph.train.sequences import select_rows  # how the training loop feeds a window's targets

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
    return worst, text


def gan_case(rng):
    """A discriminator with minibatch_std (only a gan's discriminator may have one): its forward values and the
    gradients of sum(real) by every parameter."""
    shape = [(int(rng.integers(2, 6)),), (int(rng.integers(1, 3)), 3, 4)][rng.integers(2)]
    group, n = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    text = ("model g {\n  noise z[2]\n  output p" + f"[{', '.join(map(str, shape))}]" + " identity\n  z -> p\n}\n"
            "model d {\n  input p" + f"[{', '.join(map(str, shape))}]" + "\n  layer s\n  output real[1] sigmoid\n"
            f"  p -> s minibatch_std(group={group})\n  s -> real\n}}\n"
            "train {\n  data ring\n  method gan(generator=g, discriminator=d)\n}\n")
    LAST[0] = text
    checked = nngraph.loads(text)
    from nngraph.backend import get_backend
    from nngraph.compile import compile_model

    prog = compile_model(checked.models["d"], (), get_backend("numpy", DTYPE[0]), 0)
    net = Net()
    net.unit("p", "input", shape)
    net.unit("s", "layer", None)
    net.unit("real", "output", (1,), "sigmoid")
    net.link("p", "s", "minibatch_std", group=group)
    net.link("s", "real")
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    x = rng.normal(size=(n, *shape))
    values = prog.feeds({"p": x}, training=True)
    ctxs = prog.run(values, training=True, with_loss=False)
    theirs = twin_forward(net, P, {}, {"p": x}, True, [], [])
    d = max(rel_diff(values[prog.train_plan.slot(u)], theirs[u].detach()) for u in ("s", "real"))
    grads = prog.backward(values, ctxs, {prog.train_plan.slot("real"): np.ones((n, 1))})
    theirs["real"].sum().backward()
    return max(d, *(rel_diff(grads[k], P[k].grad) for k in P)), text


def as_loaded(values: np.ndarray) -> np.ndarray:
    """`values` as a data set holds them in a run of nngraph's dtype (docs/language.md, section 11): floats
    in the run's dtype (float64: exactly the file's values), integer labels as they are; as float64 for the
    twin."""
    return values.astype(DTYPE[0]).astype(np.float64) if values.dtype.kind == "f" else values


def fit_case(rng, folder):
    """A whole run, `nngraph.fit` on an npz file (one full batch an epoch, so shuffling cannot matter), against
    the twin's epochs from the same initial parameters: data loading, label conversion, the schedule's rate per
    epoch, penalties, clipping and the optimizer, as the training loop composes them."""
    while True:
        net, used, xs, target = feedforward_case(rng)
        if not any(w.startswith("dropout") for u in net.units for w in u["words"]):
            break
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    lines, more = rand_optimizer(rng)
    E = int(rng.integers(1, 4))
    schedule = ["constant", "step(every=1, gamma=0.5)", "cosine(warmup=1)", "linear(min_lr=0.01)"][rng.integers(4)]
    n = len(xs["x"])
    lines += [f"dtype {DTYPE[0]}", f"batch {n}", f"schedule {schedule}"]
    used = more | {f"fit:{schedule.split('(')[0]}", "fit"}
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=xs["x"], y=target)
    base = net.text(lines)
    base = base.replace("  data xor", f'  data npz("{work / "d.npz"}")')
    runs = {}
    for epochs in (0, E):
        text = base.replace("  loss", f"  epochs {epochs}\n  loss")
        nngraph.fit(nngraph.loads(text, path=str(work / "s.nn")), out=str(work / f"r{epochs}"), quiet=True)
        with np.load(work / f"r{epochs}" / "checkpoint.npz", allow_pickle=False) as z:
            runs[epochs] = {k: z[k] for k in z.files if k.startswith(("params.", "buffers."))}
    LAST[0] = text
    checked = nngraph.loads(text, path=str(work / "s.nn"))
    config = checked.train(None)
    P = {k[7:]: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in runs[0].items() if k.startswith("params.")}
    B = {k[8:]: torch.tensor(v, dtype=torch.float64) for k, v in runs[0].items() if k.startswith("buffers.")}
    topt, lr = torch_optimizer(config, P)
    rates = {"constant": lambda e: lr, "step": lambda e: lr * 0.5 ** e,
             "cosine": lambda e: (lr * (e + 1) / 2 if e < 1
                                  else lr * (1 + math.cos(math.pi * (e - 1) / (E - 1))) / 2),
             "linear": lambda e: lr + (0.01 - lr) * e / E}
    for e in range(E):
        for group in topt.param_groups:
            group["lr"] = rates[schedule.split("(")[0]](e)
        topt.zero_grad()
        vals = twin_forward(net, P, B, xs, True, [], [])
        tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, xs, [], [], target)
        twin_update(config, P, topt, tl)
    final = runs[E]
    d = max([rel_diff(final["params." + k], p.detach()) for k, p in P.items()] +
            [rel_diff(final["buffers." + k], b) for k, b in B.items()])
    # summary.json's train loss: the final parameters in eval mode over the whole training split
    import json

    reported = json.loads((work / f"r{E}" / "summary.json").read_text())["train"]["loss"]
    vals = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, xs, False, [], [])
    twin = float(twin_loss(net, vals, P, B, xs, [], [], target, training=False).detach())
    return used, (max((d, f"parameters after {E} epochs of nngraph.fit"),
                      (rel_diff(reported, twin), "summary.json's train loss")), text)


def conv_loop_case(rng):
    """Conv and pooling inside a loop (section 8): a convolutional Elman unit over image sequences."""
    c, size, f = int(rng.integers(1, 3)), int(rng.integers(3, 6)), int(rng.integers(1, 3))
    k = [1, 3][rng.integers(2)]
    act, aopts = rand_act(rng, False)
    pool = ["maxpool", "avgpool"][rng.integers(2)]
    text = (f"model m {{\n  input x[{c}, {size}, {size}] sequence\n  layer h {call(act, aopts)}\n  layer p\n"
            f"  output y[2] identity\n  x -> h conv(filters={f}, kernel={k}, padding=same)\n"
            f"  h -> h conv(filters={f}, kernel=3, padding=1) delay 1\n  h -> p {pool}(kernel=2, stride=1)\n"
            f"  p -> y\n}}\ntrain {{\n  model m\n  data xor\n  loss mse(y)\n}}\n")
    LAST[0] = text
    prog = nngraph.program(nngraph.loads(text), "m", dtype=DTYPE[0], seed=0)
    P = {name: torch.tensor(prog.get(name), dtype=torch.float64, requires_grad=True) for name in prog.params}
    n, T = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    x = rng.normal(size=(n, T, c, size, size))
    target = rng.normal(size=(n, T, 2))
    h = torch.zeros(n, f, size, size)
    ys = []
    for t in range(T):
        z = F.conv2d(torch.tensor(x[:, t]), P["x->h.weight"], padding=k // 2) + \
            F.conv2d(h, P["h->h@1.weight"], padding=1) + P["h.bias"].reshape(1, -1, 1, 1)
        h = activation(act, aopts, z)
        pooled = (F.max_pool2d if pool == "maxpool" else F.avg_pool2d)(h, 2, 1)
        ys.append(pooled.reshape(n, -1) @ P["p->y.weight"] + P["y.bias"])
    ys = torch.stack(ys, 1)
    from nngraph.train.sequences import select_rows

    chosen = select_rows(target, None, True, n, 0, T, T)
    loss, _, grads, _ = prog.loss_and_grads({"x": x}, chosen.data, rows=chosen.rows)
    tl = F.mse_loss(ys, torch.tensor(target))
    tl.backward()
    d = max([rel_diff(prog.forward({"x": x})["y"], ys.detach()), rel_diff(float(loss), float(tl.detach()))] +
            [rel_diff(grads[name], P[name].grad) for name in P])
    return d, text


def recurrent_fit_case(rng, folder):
    """`nngraph.fit` of a recurrent model with `bptt N` (one full batch an epoch) against the twin's windows:
    each starts from the state the previous one ended in, as a constant, and updates the parameters on the
    mean over its own loss rows; a window without loss rows only runs forward."""
    while True:
        net, used, xs, target, case = recurrent_case(rng)
        if not (case["bi"] or case["dropout"] or case["feedback"] or case["skip_delay"] or case["ce"]
                or case["lengths"] is not None or case["delay"] > 1 or case["identity_delay"]):
            break
    n, T = xs["x"].shape[:2]
    xs, target = {"x": as_loaded(xs["x"])}, as_loaded(target)
    N, E = int(rng.integers(1, T + 1)), int(rng.integers(1, 3))
    lines, more = rand_optimizer(rng)
    lines += [f"dtype {DTYPE[0]}", f"batch {n}", f"bptt {N}", f"epochs {E}"]
    work = pathlib.Path(tempfile.mkdtemp(dir=folder))
    np.savez(work / "d.npz", x=xs["x"], y=target)
    text = net.text(lines).replace("  data xor", f'  data npz("{work / "d.npz"}")')
    LAST[0] = text
    checked = nngraph.loads(text, path=str(work / "s.nn"))
    prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=checked.train(None).seed)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    nngraph.fit(checked, out=str(work / "run"), quiet=True)
    config = checked.train(None)
    topt, _ = torch_optimizer(config, P)
    H = net.units[1]["shape"][0]
    x = torch.tensor(xs["x"]).transpose(0, 1)
    for _ in range(E):
        state = None
        for start in range(0, T, N):
            stop = min(start + N, T)
            topt.zero_grad()
            hs = run_cell(case, P, "", "x->h.weight", x[start:stop], H, state=state)
            state = tuple(a.detach() for a in case["end"])
            ys = torch.stack([hh @ P["h->y.weight"] + P["y.bias"] for hh in hs])  # [window, n, k]
            if case["per_step"]:
                loss = F.mse_loss(ys.transpose(0, 1), torch.tensor(target[:, start:stop]))
            elif stop == T:
                loss = F.mse_loss(ys[-1], torch.tensor(target))
            else:
                continue  # no loss rows in this window: forward only
            twin_update(config, P, topt, loss)
    with np.load(work / "run" / "checkpoint.npz", allow_pickle=False) as z:
        d = max(rel_diff(z["params." + k], p.detach()) for k, p in P.items())
    return used | more | {f"bptt fit:{case['cell']}"}, ((d, f"parameters after {E} epochs, bptt {N}"), text)


def schedule_cases(rng):
    """Each schedule's rate against the documented formula (and, for step and cosine without warm-up, torch's
    StepLR and CosineAnnealingLR)."""
    from nngraph.train.schedules import learning_rate

    worst, where = 0.0, ""
    for _ in range(10):
        E, lr = int(rng.integers(3, 12)), 0.5
        every, gamma = int(rng.integers(1, 4)), 0.5
        warmup, min_lr = int(rng.integers(0, 3)), [0.0, 0.01][rng.integers(2)]
        choices = {"constant": ({}, lambda e: lr), "step": (dict(every=every, gamma=gamma),
                                                              lambda e: lr * gamma ** (e // every)),
                   "cosine": (dict(warmup=warmup, min_lr=min_lr),
                              lambda e: lr * (e + 1) / (warmup + 1) if e < warmup else
                              min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (e - warmup) / (E - warmup))) / 2),
                   "linear": (dict(min_lr=min_lr), lambda e: lr + (min_lr - lr) * e / E)}
        for name, (opts, formula) in choices.items():
            text = XOR + f"train {{\n  data xor\n  loss bce(y)\n  schedule {call(name, opts)}\n}}\n"
            choice = nngraph.loads(text).train(None).schedule
            for e in range(E):
                ours = learning_rate(choice, lr, e, E)
                d = abs(ours - formula(e)) / lr
                if d > worst:
                    worst, where = d, f"schedule {name}{opts} epoch {e} of {E}: {ours} vs {formula(e)}"
    return worst, where


# ---- the run -------------------------------------------------------------------------------------------


FAMILIES = ("feedforward", "optimizer", "tied", "vae", "recurrent", "conv_loop", "gan", "schedule", "fit", "bptt_fit")


def one_case(family, rng):
    if family == "recurrent":
        net, used, xs, target, case = recurrent_case(rng)
        return used, compare_recurrent(net, xs, target, case)
    if family == "fit":
        with tempfile.TemporaryDirectory() as folder:
            return fit_case(rng, folder)
    if family == "conv_loop":
        d, text = conv_loop_case(rng)
        return {"conv and pooling in a loop"}, ((d, "values, loss and gradients"), text)
    if family == "bptt_fit":
        with tempfile.TemporaryDirectory() as folder:
            return recurrent_fit_case(rng, folder)
    if family == "gan":
        d, text = gan_case(rng)
        return {"minibatch_std"}, ((d, "discriminator values and gradients"), text)
    if family == "schedule":
        return {"schedules"}, (schedule_cases(rng), "")
    if family == "tied":
        net, used, xs, target = tied_case(rng)
    elif family == "vae":
        net, used, xs, target = vae_case(rng)
    else:
        net, used, xs, target = feedforward_case(rng)
    extra = ()
    if family == "optimizer":
        extra, more = rand_optimizer(rng)
        used = more
    if family == "vae":
        extra = ("method vae",)
    return used, compare_feedforward(net, xs, target, optimizer=family == "optimizer", extra=extra,
                                     sum_units=family == "vae")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60, help="cases per family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=FAMILIES)
    parser.add_argument("--tol", type=float, default=1e-9)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="nngraph's dtype (float32 runs the compiled kernels; use --tol 1e-4 or so)")
    args = parser.parse_args()
    DTYPE[0] = args.dtype
    stats = collections.defaultdict(lambda: [0, 0, 0.0, None])  # cases, mismatches, worst, smallest failing
    for family in [args.only] if args.only else FAMILIES:
        rng = np.random.default_rng(args.seed)
        for _ in range(args.cases):
            try:
                used, ((d, where), text) = one_case(family, rng)
            except Exception as e:  # a spec nngraph refuses or a crash: a mismatch too, with its message
                used, d, where, text = {f"{family}:error"}, float("inf"), f"{type(e).__name__}: {e}", LAST[0]
            for c in used:
                s = stats[c]
                s[0] += 1
                s[2] = max(s[2], d)
                if d > args.tol:
                    s[1] += 1
                    if s[3] is None or len(text) < len(s[3][0]):
                        s[3] = (text, where, d)
    print(f"{'construct':34} {'cases':>5} {'mismatch':>8} {'worst rel diff':>15}")
    for c in sorted(stats):
        cases, bad, worst, _ = stats[c]
        print(f"{c:34} {cases:5d} {bad:8d} {worst:15.3e}")
    for c in sorted(stats):
        if stats[c][3]:
            text, where, d = stats[c][3]
            print(f"\n== {c}: smallest failing case ({where}, {d:.3e})\n{text}")


if __name__ == "__main__":
    main()
