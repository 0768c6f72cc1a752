"""Random valid specs over the language's constructs, for property tests.

`random_spec(seed)` writes the text of one spec: a feedforward model (dense DAGs with every activation,
image units fed by mixes of conv, pooling and dense links, full-size images upsampled from half-size ones
(upsample in every mode, deconv, a conv and a pixel shuffle), dropout, `nobias`, `repeat=`, blocks with ports,
several inputs and outputs, noise inputs, identity links, batch and layer normalisation, tied weights), a
recurrent one (delays 1 and 2 between any units, Elman units, LSTM, GRU and MGU cells, stacked and mixed,
variational dropout on loop units, conv and pooling inside a loop, identity links at delays 0 and 1, learned
initial states, layer normalisation inside and outside loops, tied weights, bidirectional layers of every
cell), autoregressive links (feedforward models), or a VAE (a sample unit and `kl`, now and then an
autoregressive decoder). Losses cover mse, bce and cross-entropy, weighted sums, data targets
and targets that are units of the model (`mse(q, h)`). The same seed gives the same text; the constructs
added later draw from a second generator (`Writer.extra`), so the specs drawn before them stay as they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ACTIVATIONS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu(slope=0.2)", "elu", "softplus", "softmax"]
SIDE = 4  # every full-size image unit is SIDE x SIDE, so conv, pooling and dense links can mix into one


@dataclass
class Unit:
    name: str
    shape: tuple[int, ...]
    activation: str = "identity"
    cell: str | None = None
    exit: str = ""  # the unit a loss names: a stack's or block instance's last unit (links resolve it)

    def __post_init__(self):
        self.exit = self.exit or self.name


@dataclass
class Writer:
    rng: random.Random
    lines: list[str] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    linked: set = field(default_factory=set)
    dense: list = field(default_factory=list)  # (source, target) of every same-step dense link written
    # draws for the constructs added since the generator first ran, so the specs drawn before stay as they were
    extra: random.Random = field(default_factory=lambda: random.Random(0))

    def declare(self, role: str, unit: Unit, extra: str = "") -> Unit:
        shape = "[" + ", ".join(map(str, unit.shape)) + "]"
        word = "" if role in ("input", "noise") else unit.cell or unit.activation
        self.lines.append(f"  {role} {unit.name}{shape} {word}{extra}".rstrip())
        self.units.append(unit)
        return unit

    def link(self, source: str, target: str, kind: str = "") -> None:
        """`source -> target kind`, unless that pair is linked at that delay already."""
        key = (source, target, kind.partition("delay")[2].strip())
        if key not in self.linked:
            self.linked.add(key)
            if not kind:
                self.dense.append((source, target))
            self.lines.append(f"  {source} -> {target} {kind}".rstrip())

    def vectors(self):
        return [u for u in self.units if len(u.shape) == 1]

    def images(self, side: int = SIDE):
        return [u for u in self.units if len(u.shape) == 3 and u.shape[1] == side]


def random_spec(seed: int) -> str:
    """One spec's text; the family cycles with the seed so every family is drawn equally often."""
    rng = random.Random(seed)
    return (_feedforward, _recurrent, _feedforward, _vae)[seed % 4](rng, random.Random(~seed))


# ---- feedforward -------------------------------------------------------------------------------


def _feedforward(rng: random.Random, extra: random.Random) -> str:
    w = Writer(rng, extra=extra)
    for i in range(rng.randint(1, 2)):
        shape = (rng.randint(1, 2), SIDE, SIDE) if rng.random() < 0.5 else (rng.randint(2, 4),)
        w.declare("input", Unit(f"x{i}", shape))
    if rng.random() < 0.2:
        w.declare("noise", Unit("z", (rng.randint(1, 3),)), " " + rng.choice(["normal", "uniform"]))
    for i in range(rng.randint(1, 5)):
        _hidden(w, f"h{i}")
        _maybe_skip(w, w.units[-1])
        _maybe_tied(w, f"t{i}")
        _maybe_upsampled(w, f"u{i}")
        _maybe_autoregressive(w, f"a{i}")
    losses = _outputs(w)
    return _spec(w, losses, "backprop")


def _maybe_skip(w: Writer, unit: Unit, kind: str = "identity") -> None:
    """Now and then an identity link (a residual skip, no weights) into `unit` from an earlier unit of its
    shape; `kind` may add a delay."""
    earlier = w.units if "delay" in kind else w.units[:w.units.index(unit)]  # same-step links stay acyclic
    same = [u for u in earlier if u.shape == unit.shape and u is not unit and u.exit == u.name]
    if same and unit.exit == unit.name and unit.cell is None and w.extra.random() < 0.35:
        w.link(w.extra.choice(same).name, unit.name, kind)


def _hidden(w: Writer, name: str) -> None:
    rng = w.rng
    roll = rng.random()
    if roll < 0.12:
        _block_instance(w, name)
    elif roll < 0.45 and w.images():
        _image_unit(w, name)
    elif roll < 0.55 and w.images():
        source = rng.choice(w.images())
        w.declare("layer", Unit(name, (source.shape[0], SIDE // 2, SIDE // 2), _activation(rng, image=True)))
        w.link(source.name, name, "maxpool(2)")
    else:
        _vector_unit(w, name)


def _attributes(rng: random.Random) -> str:
    extra = " dropout=0.3" if rng.random() < 0.2 else ""
    return extra + (" nobias" if rng.random() < 0.15 else "")


def _norm(w: Writer, words=("batchnorm", "layernorm(eps=1e-3)", "batchnorm(momentum=0.3)", "layernorm")) -> str:
    """Now and then a normalisation of the unit's net input (recurrent models: layernorm only)."""
    return " " + w.extra.choice(words) if w.extra.random() < 0.25 else ""


def _maybe_tied(w: Writer, name: str) -> None:
    """Now and then a unit fed through the transpose of a dense link's weight (`b -> t tied(a, b)`: t has a's
    shape), so the gradients of both uses of one weight add up."""
    units = {u.name: u for u in w.units}
    plain = [(a, b) for a, b in w.dense if all(n in units and units[n].exit == n for n in (a, b))
             and len(units[a].shape) == 1 and len(units[b].shape) == 1 and units[b].cell is None]
    if plain and w.extra.random() < 0.3:
        a, b = w.extra.choice(plain)
        w.declare("layer", Unit(name, units[a].shape, w.extra.choice(ACTIVATIONS[:-1])))
        w.link(b, name, f"tied({a}, {b})")


def _maybe_autoregressive(w: Writer, name: str) -> None:
    """Now and then a vector unit fed through an autoregressive link (a masked square weight) from an earlier
    unit of any shape, flattened, and maybe through a dense link as well."""
    plain = [u for u in w.units if u.exit == u.name and u.cell is None]
    if not plain or w.extra.random() >= 0.3:
        return
    source = w.extra.choice(plain)
    size = 1
    for d in source.shape:
        size *= d
    w.declare("layer", Unit(name, (size,), _activation(w.extra)))
    w.link(source.name, name, "autoregressive")
    if w.extra.random() < 0.5:
        w.link(w.extra.choice(plain).name, name)


def _maybe_upsampled(w: Writer, name: str) -> None:
    """Now and then a full-size image made from a half-size one (after pooling): upsampled (nearest,
    bilinear or bicubic), through a transposed convolution, or by a conv to 4x the channels and a pixel
    shuffle."""
    half = w.images(SIDE // 2)
    if not half or w.extra.random() >= 0.6:
        return
    source, kind = w.extra.choice(half), w.extra.choice(["upsample", "deconv", "pixelshuffle"])
    channels = source.shape[0] if kind == "upsample" else w.extra.randint(1, 2)
    if kind == "pixelshuffle":
        w.declare("layer", Unit(f"{name}_s", (4 * channels, SIDE // 2, SIDE // 2), "identity"))
        w.link(source.name, f"{name}_s", f"conv(filters={4 * channels}, kernel=3, padding=1)")
        source = w.units[-1]
    kernel = w.extra.choice([2, 4])  # stride 2 doubles the size with padding (kernel - 2) / 2
    link = {"upsample": f"upsample(2, {w.extra.choice(['nearest', 'bilinear', 'bicubic'])})",
            "deconv": f"deconv(filters={channels}, kernel={kernel}, stride=2, padding={(kernel - 2) // 2})",
            "pixelshuffle": "pixelshuffle(2)"}[kind]
    w.declare("layer", Unit(name, (channels, SIDE, SIDE), _activation(w.extra, image=True)), _attributes(w.extra))
    w.link(source.name, name, link)


def _activation(rng: random.Random, image: bool = False) -> str:
    return rng.choice(ACTIVATIONS[:-1] if image else ACTIVATIONS)


def _vector_unit(w: Writer, name: str) -> None:
    rng = w.rng
    sources = rng.sample(w.units, rng.randint(1, min(3, len(w.units))))
    repeat = rng.random() < 0.15
    unit = Unit(name, (rng.randint(2, 4),), _activation(rng), exit=f"{name}_2" if repeat else "")
    w.declare("layer", unit, _attributes(rng) + _norm(w) + (" repeat=2" if repeat else ""))
    for source in sources:
        w.link(source.name, name)


def _image_unit(w: Writer, name: str) -> None:
    """An image unit fed by 1-3 links of mixed kinds: conv from any full-size image, pooling from one with as
    many channels, dense from anything."""
    rng = w.rng
    channels = rng.choice([u.shape[0] for u in w.images()] + [rng.randint(1, 3)])
    links = []
    for _ in range(rng.randint(1, 3)):
        same = [u for u in w.images() if u.shape[0] == channels]
        kind = rng.choice(["conv", "dense"] + (["pool"] if same else []))
        if kind == "conv":
            links.append((rng.choice(w.images()).name, f"conv(filters={channels}, kernel=3, padding=1)"))
        elif kind == "pool":
            pool = rng.choice(["maxpool", "avgpool"])
            links.append((rng.choice(same).name, f"{pool}(kernel=3, stride=1, padding=1)"))
        else:
            links.append((rng.choice(w.units).name, ""))
    links = list(dict(links).items())  # one link per source
    w.declare("layer", Unit(name, (channels, SIDE, SIDE), _activation(rng, image=True)), _attributes(rng) + _norm(w))
    for source, kind in links:
        w.link(source, name, kind)


def _block_instance(w: Writer, name: str) -> None:
    """`use NAME = blk(n=...)` of a two-layer block behind its port, fed by one unit."""
    rng = w.rng
    if not w.blocks:
        w.blocks.append("block blk(n) {\n  input in\n  layer a[n] tanh\n  layer b[n] relu dropout=0.2\n"
                        "  in -> a -> b\n  in -> b\n}\n")
    width = rng.randint(2, 3)
    source = rng.choice(w.units)
    w.lines.append(f"  use {name} = blk(n={width})")
    w.link(source.name, name)
    w.units.append(Unit(name, (width,), "relu", exit=f"{name}.b"))


def _outputs(w: Writer) -> list[str]:
    """1-2 output units and their loss terms: one compares with the data, others with units."""
    rng = w.rng
    terms = []
    for i in range(rng.randint(1, 2)):
        kind = rng.choice(["mse", "bce", "cross_entropy"])
        activation = {"mse": _activation(rng), "bce": "sigmoid",
                      "cross_entropy": rng.choice(["softmax", "identity"])}[kind]
        peers = [u for u in w.vectors() if u.cell is None]
        unit_target = i > 0 or (rng.random() < 0.3 and peers)
        shape = rng.choice(peers).shape if unit_target and peers else (rng.randint(2, 4),)
        name = f"y{i}"
        dropout = " dropout=0.3" if activation == "identity" and rng.random() < 0.3 else ""
        sources = rng.sample(w.units, rng.randint(1, min(2, len(w.units))))
        w.declare("output", Unit(name, shape, activation), dropout)
        for source in sources:
            w.link(source.name, name)
        targets = [u.exit for u in w.units if u.shape == shape and u.name != name and u.cell is None]
        target = f", {rng.choice(targets)}" if unit_target and targets else ""
        if not target and any("," not in t for t in terms):
            continue  # the data holds one target: one term reads it
        weight = rng.choice(["", "", "0.5 * "])
        terms.append(f"{weight}{kind}({name}{target})")
    return terms


def _spec(w: Writer, losses: list[str], method: str, data: str = "xor") -> str:
    body = "\n".join(w.lines)
    method_line = f"; method {method}" if method != "backprop" else ""
    return ("".join(w.blocks) + f"model m {{\n{body}\n}}\n"
            f"train {{ model m; data {data}{method_line}; loss {' + '.join(losses)} }}\n")


# ---- recurrent -------------------------------------------------------------------------------


def _recurrent(rng: random.Random, extra: random.Random) -> str:
    w = Writer(rng, extra=extra)
    if rng.random() < 0.25:
        _image_loop(w)
    else:
        w.declare("input", Unit("x", (3,)), " sequence")
    count = rng.randint(1, 4)
    for i in range(count):
        roll = rng.random()
        cell = "lstm" if roll < 0.25 else "gru" if roll < 0.4 else "mgu" if roll < 0.5 else None
        unit = Unit(f"h{i}", (rng.randint(2, 4),), rng.choice(ACTIVATIONS[:-1]), cell)
        sources = rng.sample(w.units, rng.randint(1, min(2, len(w.units))))
        learned = " initial=learned" if cell and w.extra.random() < 0.3 else "" if cell else _norm(w, ("layernorm",))
        w.declare("layer", unit, (" dropout=0.3" if rng.random() < 0.15 else "") + learned)
        for source in sources:
            w.link(source.name, unit.name)
    _maybe_tied(w, "t")  # inside or outside a loop, as the links drawn make it
    for unit in w.units[1:]:
        for _ in range(rng.randint(0, 2)):  # recurrent links from any unit, itself included
            source = rng.choice(w.units[1:])
            if source is unit and unit.cell:
                continue  # a cell's own recurrence is implicit
            w.link(source.name, unit.name, f"delay {rng.randint(1, 2)}")
        _maybe_skip(w, unit, w.extra.choice(["identity", "identity delay 1"]))
    if w.extra.random() < 0.35:
        _bidirectional(w)
    terms = _outputs(w)
    return _spec(w, terms, "backprop", "sine")


def _bidirectional(w: Writer) -> None:
    """A bidirectional layer (a loop of its own, fed by the input), any cell or an Elman recurrence, with
    variational dropout and a learned initial state now and then; the outputs may read it."""
    rng = w.extra
    cell = rng.choice(["lstm", "gru", "mgu", None])
    width = rng.randint(1, 3)
    extra = " bidirectional" + (" dropout=0.3" if rng.random() < 0.3 else "") + \
        (" initial=learned" if rng.random() < 0.3 else "")
    w.declare("layer", Unit("b", (width,), rng.choice(ACTIVATIONS[:-1]), cell), extra)
    w.units[-1].shape = (2 * width,)  # its value: both directions side by side
    w.link("x", "b")
    if cell is None:
        w.link("b", "b", f"delay {rng.randint(1, 2)}")


def _image_loop(w: Writer) -> None:
    """An image input and a conv layer in a loop of its own: conv recurrence, and pooling fed back."""
    rng = w.rng
    w.declare("input", Unit("x", (1, SIDE, SIDE)), " sequence")
    conv = "conv(filters=2, kernel=3, padding=1)"
    w.declare("layer", Unit("c", (2, SIDE, SIDE), _activation(rng, image=True)),
              " dropout=0.3" if rng.random() < 0.3 else "")
    w.link("x", "c", conv)
    w.link("c", "c", f"{rng.choice([conv, ''])} delay 1")
    if rng.random() < 0.5:
        w.declare("layer", Unit("p", (2, SIDE, SIDE)))
        w.link("c", "p", "maxpool(kernel=3, stride=1, padding=1)")
        w.link("p", "c", "delay 2")


# ---- VAE --------------------------------------------------------------------------------------


def _vae(rng: random.Random, extra: random.Random) -> str:
    w = Writer(rng, extra=extra)
    w.declare("input", Unit("x", (4,)))
    w.declare("layer", Unit("e", (rng.randint(2, 5),), rng.choice(ACTIVATIONS[:-1])), _attributes(rng))
    for name in ("mu", "logvar"):
        w.declare("layer", Unit(name, (2,)))
    w.lines.append("  sample z ~ normal(mu, logvar)")
    w.declare("layer", Unit("d", (rng.randint(2, 5),), rng.choice(ACTIVATIONS[:-1])), _attributes(rng))
    w.declare("output", Unit("x_hat", (4,), "sigmoid"))
    for source, target in (("x", "e"), ("e", "mu"), ("e", "logvar"), ("z", "d"), ("d", "x_hat")):
        w.link(source, target)
    if rng.random() < 0.5:  # an autoregressive decoder: it may read the data only so (graph/autoregressive.py)
        w.link("x", "x_hat", "autoregressive")
    kind = rng.choice(["bce", "mse"])
    return _spec(w, [f"{kind}(x_hat, x)", rng.choice(["kl(z)", "0.5 * kl(z)"])], "vae", "digits")
