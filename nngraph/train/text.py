"""Character models: the vocabulary, one-hot inputs, and `nngraph sample` generating text.

The vocabulary is the sorted set of the training text's characters (as `data text` builds it), so it is
recomputed identically from the spec's data; it is also saved in the checkpoint (`text.vocabulary`, code
points) and the saved one wins, so sampling works even if the text file changed since training.

Sampling: the prime is fed through the model step by step (its state carried), then each next character
is drawn from softmax(logits / temperature) over the vocabulary and fed back. An empty prime starts from a
newline where the text has one, else from its first character. A prime with characters the text never
had is an error that names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nngraph.errors import BuildError, DataError, Span, plural


@dataclass(frozen=True)
class Vocabulary:
    characters: str

    def __len__(self) -> int:
        return len(self.characters)

    def as_array(self) -> np.ndarray:
        return np.array([ord(c) for c in self.characters], dtype=np.int32)

    @classmethod
    def from_array(cls, codes: np.ndarray) -> Vocabulary:
        return cls("".join(chr(int(c)) for c in codes))

    def codes(self, text: str) -> np.ndarray:
        """Each character's index; characters outside the vocabulary are a DataError naming them."""
        index = {c: i for i, c in enumerate(self.characters)}
        unseen = sorted({c for c in text if c not in index})
        if unseen:
            shown = ", ".join(repr(c) for c in unseen[:10])
            raise DataError(f"the prime has characters the model never saw: {shown}", None,
                            f"the training text has {len(self)} characters: {self.characters[:60]!r}...")
        return np.array([index[c] for c in text], dtype=np.int64)

    def check_fits(self, model, plan, span: Span | None) -> None:
        """One-hot codes need an input (and a softmax output) at least as wide as the vocabulary."""
        units = plan.feeds[:1] + [ls.unit for ls in plan.losses if ls.op == "softmax_cross_entropy"]
        if len(plan.feeds) != 1:
            raise DataError(f"a text data set feeds one input; model '{model.name}' has {len(plan.feeds)}", span)
        for name in units:
            width = int(np.prod(plan.shapes[name]))
            if width < len(self):
                role = model.unit(name).role
                raise DataError(f"the text has {len(self)} distinct characters, but '{name}' has {width} units",
                                span, f"declare `{role} {name}[{len(self)}] ...` (or wider)")


def one_hot(codes: np.ndarray, width: int, dtype) -> np.ndarray:
    """Integer codes (..., steps) -> one-hot rows (..., steps, width)."""
    return np.eye(width, dtype=dtype)[codes]


def sample_text(method, request: dict) -> str:
    """Generate `length` characters after the prime; write them to `output` or return them."""
    vocabulary = method.vocabulary
    if vocabulary is None:
        raise BuildError(f"model '{method.model.name}' was not trained on text; `sample` generates text from "
                         "character models", method.config.method.span, "train it with `data text(...)`")
    prime = request.get("prime") or ("\n" if "\n" in vocabulary.characters else vocabulary.characters[0])
    codes = vocabulary.codes(prime)
    rng = np.random.default_rng(request.get("seed", 0))
    temperature = float(request.get("temperature") or 1.0)
    logits, state = _feed(method, codes[None, :], None)
    drawn = []
    for _ in range(int(request.get("length") or 200)):
        code = _draw(logits[: len(vocabulary)], temperature, rng)
        drawn.append(code)
        logits, state = _feed(method, np.array([[code]]), state)
    text = (request.get("prime") or "") + "".join(vocabulary.characters[c] for c in drawn)
    return _deliver(text, request.get("output"))


def _feed(method, codes: np.ndarray, state):
    """Run the model over `codes` from `state`; (the last step's logits, the state after it)."""
    program, plan = method.program, method.plan
    run = program.run(method._inputs(codes), state)
    out = plan.outputs[0]
    source = run.pre[out] if plan.unit(out).activation == "softmax" else run.value(out)
    last = program.backend.to_numpy(source[len(source) - run.batch:])[0]
    return last.astype(np.float64), program.final_state(run)


def _draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    scaled = logits / temperature
    p = np.exp(scaled - scaled.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def _deliver(text: str, output) -> str:
    if output is None:
        return text
    from nngraph.atomic import atomic_write_text

    atomic_write_text(output, text)
    return f"wrote {plural(len(text), 'character')} to {output}"
