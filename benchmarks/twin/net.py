"""A small model described once: rendered as .nn text for nngraph, read unit by unit by the twin."""

from __future__ import annotations

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
        self.source = None  # the model's lines as written (blocks, repeat=) where the units are their expansion

    def unit(self, name, role, shape=None, act=None, aopts=None, norm=None, nopts=None, words=(), **extra):
        self.units.append(dict(name=name, role=role, shape=shape, act=act, aopts=aopts or {}, norm=norm,
                               nopts=nopts or {}, words=list(words), extra=extra))

    def link(self, src, dst, kind="dense", delay=0, **opts):
        self.links.append(dict(src=src, dst=dst, kind=kind, opts=opts, delay=delay))

    def text(self, train_lines=()):
        LAST[0] = self._text(train_lines)
        return LAST[0]

    def _text(self, train_lines=()):
        lines = list(self.source) if self.source else self.model_lines("m")
        loss = " + ".join((f"{w} * " if w != 1 else "") + f"{t}({u}{', ' + o if o else ''})"
                          for w, t, u, o in self.losses)
        lines += ["train {", "  model m", "  data xor", f"  loss {loss}", *("  " + t for t in train_lines), "}"]
        return "\n".join(lines) + "\n"

    def model_lines(self, name):
        """The model block `name`, a line each."""
        lines = [f"model {name} {{"]
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
            if ln["kind"] == "symmetric":
                lines.append(f"  {ln['src']} <-> {ln['dst']}")
                continue
            mod = "" if ln["kind"] == "dense" and not ln["opts"] else " " + call(ln["kind"], ln["opts"])
            delay = f" delay {ln['delay']}" if ln["delay"] else ""
            lines.append(f"  {ln['src']} -> {ln['dst']}{mod}{delay}")
        return lines + ["}"]

def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return str(v)


def call(word, opts):
    return word if not opts else f"{word}(" + ", ".join(f"{k}={value(v)}" for k, v in opts.items()) + ")"
