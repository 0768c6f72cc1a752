"""Section 12's `sample` of a character model: the prime fed through the model, then each character drawn from
softmax(logits / temperature) over the vocabulary's codes and fed back, one uniform number of the generator
seeded with `--seed` per character (the first code whose cumulative probability exceeds it). The twin runs the
documented recurrent equations (recurrent.run_cell) on the same parameters, takes the same uniform numbers
and compares the generated text character by character (and the probabilities it drew from with nngraph's)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
import torch

import nngraph
from nngraph.session import prepare
from nngraph.train.sequences import sample_text

from .compare import Worst
from .net import DTYPE, LAST, Net
from .recurrent import run_cell

CELLS = ("elman", "gru", "lstm", "mgu")


def one_cell_net(cell: str, inputs: int, hidden: int, outputs: int, activation: str) -> Net:
    """x[inputs] sequence -> h[hidden] (a cell, or tanh with its own delay-1 link) -> y[outputs]."""
    net = Net()
    net.unit("x", "input", (inputs,), words=["sequence"])
    net.unit("h", "layer", (hidden,), "tanh" if cell == "elman" else cell)
    net.unit("y", "output", (outputs,), activation)
    net.link("x", "h")
    if cell == "elman":
        net.link("h", "h", delay=1)
    net.link("h", "y")
    return net


def text_case(rng, folder: str):
    """(the spec's text, its Net, the case's cell settings, the corpus)."""
    alphabet = list(string.ascii_lowercase[: int(rng.integers(2, 7))]) + (["\n"] if rng.random() < 0.5 else [])
    corpus = "".join(rng.choice(alphabet, int(rng.integers(12, 30))))
    vocabulary = len(set(corpus))
    width = vocabulary + int(rng.integers(0, 3))  # wider than the vocabulary at times: its extra codes unused
    cell = CELLS[rng.integers(len(CELLS))]
    hidden = int(rng.integers(1, 5))
    net = one_cell_net(cell, width, hidden, width, "softmax")
    Path(folder, "corpus.txt").write_text(corpus)
    text = "\n".join(net.model_lines("m") + [
        "train {", "  model m", '  data text("corpus.txt", length=4)', "  loss cross_entropy(y)", "}"]) + "\n"
    case = dict(cell=cell, learned=False, act="tanh", aopts={}, delay=1, identity_delay=False)
    return text, net, case, corpus


def compare_text_sampling(rng):
    with tempfile.TemporaryDirectory() as folder:
        text, net, case, corpus = text_case(rng, folder)
        LAST[0] = text
        spec = Path(folder, "m.nn")
        spec.write_text(text)
        method = prepare(nngraph.loads(text, str(spec)), dtype=DTYPE[0]).method
        for value in method.program.params.values():  # peakier distributions than the initial weights give
            value *= 3.0
        characters = sorted(set(corpus))
        prime = "".join(rng.choice(characters, int(rng.integers(0, 4))))
        request = {"prime": prime, "length": int(rng.integers(1, 25)),
                   "temperature": round(float(np.exp(rng.uniform(-1.5, 1.5))), 3), "seed": int(rng.integers(1000))}
        ours = sample_text(method, request)
        theirs = twin_text(net, case, method, characters, request)
    worst = Worst()
    worst.note(float(len(ours) != len(theirs)), "length of the text")
    for at, (a, b) in enumerate(zip(ours, theirs)):
        worst.note(float(a != b), f"character {at}")
    used = {f"text sampling, {case['cell']}", "temperature below 1" if request["temperature"] < 1 else
            "temperature 1 or above", *(("output wider than the vocabulary",) if net.units[0]["shape"][0] >
                                        len(characters) else ()), *(("empty prime",) if not prime else ())}
    return used, (worst.value, text + f"# sample {request}\n")


def twin_text(net, case, method, characters, request):
    """The prime and the characters drawn after it, by section 12 and section 8's vocabulary."""
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in method.program.params.items()}
    width, hidden = net.units[0]["shape"][0], net.units[1]["shape"][0]
    prime = request["prime"] or ("\n" if "\n" in characters else characters[0])
    state = None

    def feed(codes):
        nonlocal state
        x = torch.nn.functional.one_hot(torch.tensor(codes), width).double()[:, None, :]  # [T, 1, width]
        outs = run_cell(case, P, "", "x->h.weight", x, hidden, state=state)
        state = case["end"]
        return outs[-1][0] @ P["h->y.weight"] + P["y.bias"]

    logits = feed([characters.index(c) for c in prime])
    uniform = np.random.default_rng(request["seed"])
    drawn = []
    for _ in range(request["length"]):
        p = torch.softmax(logits[: len(characters)] / request["temperature"], dim=0)
        code = int(torch.searchsorted(p.cumsum(0) / p.sum(), torch.tensor(uniform.random()), right=True))
        drawn.append(characters[code])
        logits = feed([code])
    return request["prime"] + "".join(drawn)
