"""Random small specs from the documented constructs: image pipelines with a dense head and a loss, tied
links, VAEs, and the optimizer lines of a train block."""

from __future__ import annotations

import numpy as np

from .formulas import ACTIVATIONS
from .net import Net, call


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


def image_stage(rng, net, src, shape, i, norms=("batchnorm", "layernorm")):
    """One image link out of `src` [C, H, W] into a new unit (normalised by one of `norms`, maybe); the
    construct's name and the new shape."""
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
    if act == "softmax" and out[2] == 1:  # over one value: 1 whatever the input, every row alike, and a batchnorm
        act = "identity"  # after it normalises rounding noise, whose sign picks a rectifier's side (no defect)
    norm = None
    if real_kind in ("conv", "deconv") and rng.random() < 0.3:
        norm = norms[rng.integers(len(norms))]
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


LOSSES = ("mse", "bce", "bce_prob", "cross_entropy", "cross_entropy_prob", "cross_entropy_logits", "mse_labels",
          "bce_label", "bce_labels_onehot", "bce_prob_label", "cross_entropy_logits_prob", "cross_entropy_positions",
          "cross_entropy_positions_prob")  # every term with every target form section 7 allows


def feedforward_case(rng, rows=None):
    """An image pipeline, a dense head and a loss; the constructs it uses. Sizes from 1 (a 1-unit layer, a batch
    of one row: then no batchnorm, which one row cannot normalise); `rows` examples if given."""
    net, used = Net(), set()
    n = int(rng.integers(1, 7))
    n = rows or n
    norms = ("batchnorm", "layernorm") if n > 1 else ("layernorm",)
    if n == 1:
        used.add("batch of one row")
    shape = (int(rng.integers(1, 3)), int(rng.integers(4, 8)), int(rng.integers(4, 8)))
    net.unit("x", "input", shape)
    src = "x"
    for i in range(int(rng.integers(0, 3))):
        stage = next(filter(None, (image_stage(rng, net, src, shape, i, norms) for _ in range(4))), None)
        if stage is None:  # four draws too large or too small: stop here
            break
        kind, src, shape = stage
        used.add(kind)
    if rng.random() < 0.15:  # MADE's masked link: value i reads values j < i of its source, flattened
        size = int(np.prod(shape))
        net.unit("ar", "layer", (size,), *rand_act(rng, False))
        net.link(src, "ar", "autoregressive")
        src, shape = "ar", (size,)
        used.add("autoregressive")
    hidden = int(rng.integers(1, 6))
    if hidden == 1:
        used.add("1-unit layer")
    act, aopts = rand_act(rng, False)
    if hidden == 1:  # layernorm over one value is its shift whatever the input: gradients of rounding noise alone
        norms = tuple(nm for nm in norms if nm != "layernorm")
    norm = [None, *norms][rng.integers(len(norms) + 1)]
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
    loss = LOSSES[rng.integers(len(LOSSES))]
    k = int(rng.integers(2, 5))
    positions = int(rng.integers(1, 4))  # an [S, K] output's S
    out_shape = (positions, k) if loss.startswith("cross_entropy_positions") else (k,)
    if loss in ("mse", "mse_labels"):
        net.unit("y", "output", (k,), *rand_act(rng))
    elif loss in ("bce", "bce_labels_onehot"):
        net.unit("y", "output", (k,), "sigmoid")
    elif loss == "bce_label":
        k = 1
        net.unit("y", "output", (1,), "sigmoid")
    elif loss in ("bce_prob", "bce_prob_label"):  # probabilities read by an identity output
        k = 1 if loss == "bce_prob_label" else k
        net.unit("s", "layer", (k,), "sigmoid")
        net.unit("y", "output", None, "identity")
        net.link("h", "s")
        net.link("s", "y", "identity")
    elif loss.startswith("cross_entropy_logits"):
        net.unit("y", "output", (k,), "identity")
    else:
        net.unit("y", "output", out_shape, "softmax")
    if not loss.startswith("bce_prob"):
        net.link("h", "y")
    if rng.random() < 0.3 and not loss.startswith("bce_prob"):
        net.link(src, "y")  # a skip connection: two links into y
        used.add("skip")
    if loss in ("mse", "cross_entropy_logits", "cross_entropy_logits_prob") and rng.random() < 0.3:
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
    xs = {"x": rng.normal(size=(n, *net.units[0]["shape"]))}
    return net, used, xs, loss_target(rng, loss, n, k, positions)


def unit_shape(net, name):
    """A unit's shape: declared, or passed on by the identity link into it."""
    unit = next(u for u in net.units if u["name"] == name)
    if unit["shape"]:
        return tuple(unit["shape"])
    return unit_shape(net, next(ln["src"] for ln in net.links if ln["dst"] == name and ln["kind"] == "identity"))


def loss_target(rng, loss, n, k, positions):
    """The data's targets in the form `loss` names: class labels, probability rows, 0/1 rows or real values."""
    if loss in ("cross_entropy", "cross_entropy_logits", "mse_labels", "bce_labels_onehot"):
        return rng.integers(0, k, size=n)
    if loss in ("bce_label", "bce_prob_label"):
        return rng.integers(0, 2, size=n)
    if loss == "cross_entropy_positions":
        return rng.integers(0, k, size=(n, positions))
    if loss == "cross_entropy_positions_prob":
        return rng.dirichlet(np.ones(k), size=(n, positions))
    if loss in ("cross_entropy_prob", "cross_entropy_logits_prob"):
        return rng.dirichlet(np.ones(k), size=n)
    if loss in ("bce", "bce_prob"):
        return (rng.random((n, k)) < 0.5).astype(float)
    return rng.normal(size=(n, k))


def blocks_case(rng):
    """A stack (`repeat=N`) and a block instance (with a port or without, `repeat=Q`), written with that syntax
    for nngraph and expanded for the twin as section 5 names and links the copies; sizes from 1."""
    net, used = Net(), set()
    d, w, bw, R, Q = (int(rng.integers(lo, hi)) for lo, hi in ((1, 4), (1, 4), (1, 4), (1, 4), (1, 4)))
    port, nobias = bool(rng.random() < 0.5), bool(rng.random() < 0.3)
    stack_act, first, second = (rand_act(rng, False) for _ in range(3))
    net.unit("x", "input", (d,))
    copies = ["h"] if R == 1 else [f"h_{i}" for i in range(1, R + 1)]  # repeat=1 keeps the name (section 5)
    for i, name in enumerate(copies):
        net.unit(name, "layer", (w,), *stack_act)
        net.link("x" if i == 0 else copies[i - 1], name)
    exit_ = copies[-1]
    for j in range(1, Q + 1):
        prefix = "r." if Q == 1 else f"r_{j}."
        if port:  # a bias-free identity layer that whatever links into the instance reaches unchanged
            net.unit(prefix + "in", "layer", None, "identity")
            net.link(exit_, prefix + "in", "identity")
        net.unit(prefix + "a", "layer", (bw,), *first)
        net.link(prefix + "in" if port else exit_, prefix + "a")
        net.unit(prefix + "b", "layer", (bw,), *second, words=["nobias"] if nobias else [])
        net.link(prefix + "a", prefix + "b")
        exit_ = prefix + "b"
    ce = bool(rng.random() < 0.5)
    k = int(rng.integers(1 + ce, 4))
    net.unit("y", "output", (k,), "softmax" if ce else "identity")
    net.link(exit_, "y")
    source = [*(["block res(width) {"] + (["  input in"] if port else []) + [
        f"  layer a[width] {call(*first)}", f"  layer b[width] {call(*second)}{' nobias' if nobias else ''}",
        f"  {'in -> a' if port else 'a'} -> b", "}"]),
        "model m {", f"  input x[{d}]", f"  layer h[{w}] {call(*stack_act)} repeat={R}",
        f"  use r = res({bw}){f' repeat={Q}' if Q > 1 else ''}", f"  output y[{k}] {'softmax' if ce else 'identity'}",
        "  x -> h -> r -> y"]
    if R > 1 and rng.random() < 0.5:  # a link into a middle copy, by its own name
        source.append("  x -> h_2")
        net.link("x", "h_2")
        net.links.insert(0, net.links.pop())
        used.add("a link into a copy of a stack")
    if Q > 1 and rng.random() < 0.5:  # an instance's exit by the instance's name
        source.append("  r_1 -> y")
        net.link("r_1.b", "y")
        used.add("a link out of one instance")
    if Q > 1 and rng.random() < 0.4:  # a skip link across instances, unit to unit by their dotted names
        source.append(f"  r_1.a -> r_{Q}.b")
        net.link("r_1.a", f"r_{Q}.b")
        used.add("a skip link across instances")
    net.source = source + ["}"]
    net.losses.append((1, "cross_entropy" if ce else "mse", "y", None))
    used |= {f"repeat={R}", f"block repeat={Q}", "block with a port" if port else "block without a port",
             *(["nobias in a block"] if nobias else [])}
    n = int(rng.integers(1, 6))
    return net, used, {"x": rng.normal(size=(n, d))}, loss_target(rng, "cross_entropy" if ce else "mse", n, k, 1)


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


def rand_optimizer(rng):
    lines, used = [], set()
    if rng.random() < 0.1:
        used.add("the default optimizer, sgd(lr=0.01)")
    elif rng.random() < 0.5:
        mom = [0, 0.9][rng.integers(2)]
        nest = bool(mom and rng.random() < 0.5)
        lines.append(f"optimizer sgd(lr=0.1, momentum={mom}{', nesterov=true' if nest else ''})")
        used.add("sgd" + ("+momentum" if mom else "") + ("+nesterov" if nest else ""))
    else:
        eps = [1e-8, 0.1][rng.integers(2)]
        beta2 = rng.random() < 0.4
        lines.append(f"optimizer adam(lr=0.01, beta1=0.8{', beta2=0.9' if beta2 else ''}, eps={eps})")
        used.add("adam" + ("+beta2" if beta2 else ""))
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


def combo_case(rng):
    """Constructs together as an outsider's generator joins them and the other families do not: several loss
    terms on different outputs with their weights (the data's targets and the input as a target unit), a loss on
    a hidden unit that also feeds on, a tied link beside a dense or identity link into one unit (mixed kinds), the
    tied weight read through a unit with dropout, skip links past the hidden layers; sizes from 1."""
    net, used = Net(), set()
    d, nh, k = (int(rng.integers(1, 5)) for _ in range(3))
    n = int(rng.integers(2, 6))
    net.unit("x", "input", (d,))
    h_words = ["dropout=0.3"] if rng.random() < 0.5 else []
    h_norm = "layernorm" if nh > 1 and rng.random() < 0.3 else None
    net.unit("h", "layer", (nh,), *rand_act(rng, False), h_norm, None, h_words)
    net.link("x", "h")
    ce = bool(rng.random() < 0.4)
    g_act = ("identity", {}) if ce else rand_act(rng, False)  # a cross_entropy on a hidden unit reads logits
    g_words = ["dropout=0.2"] if rng.random() < 0.3 else []
    net.unit("g", "layer", (max(k, 2) if ce else k,), *g_act, words=g_words)
    k = max(k, 2) if ce else k
    net.link("h", "g")
    net.unit("y", "output", (k,), *(("softmax", {}) if ce else rand_act(rng)))
    net.link("g", "y")
    term = "cross_entropy" if ce else "mse"
    used |= {f"dropout on h (read by a tied link)" if h_words else "tied without dropout",
             *(["layernorm on h"] if h_norm else []), *(["dropout on a hidden unit a loss reads"] if g_words else [])}
    if rng.random() < 0.4:
        net.link("x", "y")  # a skip link past both hidden layers
        used.add("skip past two layers")
    weights = [1, 0.5, 2, 0.25]
    net.losses.append((weights[rng.integers(4)], term, "y", None))
    if rng.random() < 0.6:  # a loss on the hidden unit g, which feeds y: both gradients reach it
        net.losses.append((weights[rng.integers(4)], term, "g", None))
        used.add(f"loss on a hidden unit ({term})")
    sigmoid = bool(rng.random() < 0.5)
    net.unit("r", "output", (d,), *(("sigmoid", {}) if sigmoid else rand_act(rng, False)))
    net.link("h", "r", "tied", source="x", target="h")
    kinds = ["tied"]
    if rng.random() < 0.4:
        net.link("x", "r", "identity")
        kinds.append("identity")
    if rng.random() < 0.4:
        net.link("g", "r")
        kinds.append("dense")
    used.add("into one unit: " + "+".join(kinds))
    net.losses.append((weights[rng.integers(4)], "bce" if sigmoid else "mse", "r", "x"))
    used.add("terms on two outputs, data targets and the input")
    if rng.random() < 0.3:
        net.unit("q", "output", (nh,), *rand_act(rng, False))
        net.link("g", "q")
        net.losses.append((0.3, "mse", "q", "h"))
        used.add("mse(q, h) with h dropped")
    net.units.sort(key=lambda u: ["x", "h", "g", "y", "r", "q"].index(u["name"]))  # the twin runs units in order
    xs = {"x": rng.random((n, d))}  # in [0, 1): bce(r, x) reads it as probabilities
    return net, used, xs, loss_target(rng, term, n, k, 1)
