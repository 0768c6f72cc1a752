"""Sequence data for backprop through time (nngraph/train/backprop.py: `Bptt`): inputs, loss rows, metrics,
and character models' text.

Data: inputs (n, steps, *shape) per input unit (several vector inputs: their features side by side), or
integer character codes (n, steps) from `data text`, one-hot encoded into the single input's width.
Targets are read per step or once per sequence (see `per_step_targets`): per step the loss is the mean
over every valid step of every sequence; once per sequence it is read at the sequence's last valid step.
`Dataset.lengths` marks sequences shorter than the batch's steps; their padded steps contribute nothing.

Text: the vocabulary is the sorted set of the training text's characters (as `data text` builds it), so it
is recomputed identically from the spec's data; it is also saved in the checkpoint (`text.vocabulary`, code
points) and the saved one wins, so sampling works even if the text file changed since training. Sampling
(`nngraph sample`): the prime is fed through the model step by step (its state carried), then each next
character is drawn from softmax(logits / temperature) over the vocabulary and fed back. An empty prime
starts from a newline where the text has one, else from its first character. A prime with characters the
text never had is an error that names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nngraph.backend import where_is
from nngraph.compile.plan import ROWS
from nngraph.compile.program import time_major
from nngraph.data.dataset import Dataset
from nngraph.errors import BuildError, DataError, Span
from nngraph.train.feeding import one_hot_rows


@dataclass
class Targets:
    """Which time-major rows of a window the losses read, and the data's targets there."""

    rows: np.ndarray | None  # None: every row
    data: np.ndarray | None  # None: every term compares with another unit


def select_rows(y, lengths, per_step: bool, batch: int, start: int, steps: int, total: int) -> Targets | None:
    """The loss rows of the window [start, start + steps) of sequences `total` steps long (None: the
    window has none).

    per_step: y is (batch, total, ...); the rows are the steps t < length. Otherwise y is (batch, ...),
    one target per sequence, read at its last valid step (length - 1) when that falls in the window.
    `lengths` None means every sequence is `total` steps long; they are on the host. `y` may be on the device
    (a minibatch of resident data): the rows it is indexed by are copied there (`backend.where_is`).
    """
    lengths = np.full(batch, total) if lengths is None else np.asarray(lengths)
    if not per_step:
        last = lengths - 1 - start
        chosen = np.flatnonzero((last >= 0) & (last < steps))
        if not len(chosen):
            return None
        return Targets(last[chosen] * batch + chosen, None if y is None else y[where_is(chosen, y)])
    window = None if y is None else time_major(y[:, start:start + steps])
    valid = (np.arange(start, start + steps)[:, None] < lengths[None, :]).reshape(-1)
    if valid.all():
        return Targets(None, window)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return None
    if window is None:
        return Targets(rows, None)
    rows = where_is(rows, window)  # on the device with a minibatch of resident data: one copy for both uses
    return Targets(rows, window[rows])


def per_step_targets(data: Dataset) -> bool:
    """Per-step targets when the data says so (`info["target"]`, text), else when y has a step axis:
    (n, steps, k) floats or (n, steps) integer labels. Otherwise one target per sequence: (n, k) or (n,)."""
    if "target" in data.info:
        return data.info["target"] == "per_step"
    if data.task == "text":
        return True
    y = data.y
    return y is not None and (y.ndim >= 3 or (y.dtype.kind in "iu" and y.ndim == 2))


def data_labels(targets: Targets) -> np.ndarray:
    """Class labels at the loss rows, also where they were turned into one-hot rows or a 0/1 column."""
    data = targets.data  # where it is: a training step's targets are on the device
    if data.dtype.kind == "f":
        return data[:, 0] > 0.5 if data.shape[-1] == 1 else data.argmax(axis=-1)
    return data.reshape(-1)


def row_count(targets: Targets, batch: int, steps: int) -> int:
    return batch * steps if targets.rows is None else len(targets.rows)


def check_sequences(model, plan, data: Dataset, span: Span | None) -> Vocabulary | None:
    """The data must be sequences that fit the inputs, within any declared max_length; for text, the
    vocabulary it is one-hot encoded in."""
    vocabulary = Vocabulary(data.vocabulary) if data.vocabulary is not None else None
    if vocabulary is not None:
        vocabulary.check_fits(model, plan, span)
    x = data.x
    want = [plan.shapes[name] for name in plan.feeds]
    codes = data.vocabulary is not None and x.ndim == 2
    got = (want[0] if codes else tuple(x.shape[2:])) if x.ndim >= 2 else None
    fits = got == want[0] if len(want) == 1 else got == (sum(int(np.prod(s)) for s in want),)
    if not fits:
        names = ", ".join(f"{n}{list(s)}" for n, s in zip(plan.feeds, want))
        raise DataError(f"data '{data.name}' has examples of shape {list(x.shape[1:])}, but recurrent "
                        f"model '{model.name}' takes sequences of {names}", span,
                        "a recurrent model reads examples of shape [steps, features]")
    _check_lengths(data, span)
    _check_max_length(model, plan, data, span)
    return vocabulary


def _check_max_length(model, plan, data: Dataset, span) -> None:
    longest = int(data.lengths.max()) if data.lengths is not None else data.x.shape[1]
    for unit in (model.unit(n) for n in plan.feeds):
        if unit.max_length is not None and longest > unit.max_length:
            raise DataError(f"data '{data.name}' has sequences of {longest} steps, longer than "
                            f"max_length={unit.max_length} of input '{unit.name}'", span or unit.span,
                            "cut the sequences shorter, or raise max_length")


def shaped_targets(plan, targets: Targets):
    """The data's targets at the loss rows, numbers shaped as the unit they are compared with."""
    data = targets.data
    if data is None or data.dtype.kind != "f" or plan.scored is None:
        return data
    return data.reshape((len(data),) + plan.shapes[plan.scored])


def row_metrics(program, values: dict, targets: Targets, data: Dataset) -> dict:
    """Accuracy (labels) or MSE (numbers) of the scored unit at the loss rows, as 0-d arrays on the device
    (read with the step's other metrics)."""
    plan, xp = program.train_plan, program.xp
    if plan.scored is None or targets.data is None or data.y is None:
        return {}
    out = values[plan.slot(plan.scored)]
    out = out.reshape(len(out), -1)
    if targets.rows is not None and plan.scored not in plan.at_rows:
        out = out[values[ROWS]]  # the rows as `Program.feeds` put them on the device
    if data.y.dtype.kind in "iu":
        predicted = (out[:, 0] > 0.5) if out.shape[1] == 1 else out.argmax(axis=1)
        return {"accuracy": (predicted == xp.asarray(data_labels(targets))).mean()}
    return {"mse": ((out - xp.asarray(targets.data.reshape(out.shape))) ** 2).mean()}


def _check_lengths(data: Dataset, span) -> None:
    lengths = data.lengths
    if lengths is None:
        return
    if lengths.shape != (len(data),) or lengths.min() < 1 or lengths.max() > data.x.shape[1]:
        raise DataError(f"data '{data.name}': lengths must be one whole number per sequence, between 1 and "
                        f"the {data.x.shape[1]} steps of the padded sequences", span)


# ---- character models ----------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    characters: str

    def __len__(self) -> int:
        return len(self.characters)

    def as_array(self) -> np.ndarray:
        return np.array([ord(c) for c in self.characters], dtype=np.int32)

    @classmethod
    def from_array(cls, codes: np.ndarray) -> Vocabulary:
        """The vocabulary a checkpoint saved (`as_array`): distinct character codes in increasing order, as the
        sorted set of the training text's characters gives them (code -1 was chr's ValueError, exit 70)."""
        codes = np.asarray(codes)
        if codes.ndim != 1 or not len(codes) or codes.dtype.kind not in "iu" or codes.min() < 0 or \
                codes.max() > 0x10FFFF or (np.diff(codes.astype(np.int64)) <= 0).any():
            from nngraph.errors import TrainingError

            raise TrainingError("the checkpoint's text vocabulary (text.vocabulary) is not a sorted set of "
                                "character codes", hint="the checkpoint was edited or is corrupt")
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
    """Integer codes (..., steps) -> one-hot rows (..., steps, width), where the codes are."""
    return one_hot_rows(codes, width, dtype)


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
    from nngraph.viz.samples import write_text

    return write_text(text, request.get("output"))


def _feed(method, codes: np.ndarray, state):
    """Run the model over `codes` from `state`; (the last step's logits, the state after it)."""
    program, plan = method.program, method.program.eval_plan
    values = program.feeds(method.inputs(codes), state=state)
    program.run(values, training=False, with_loss=False)
    out = plan.outputs[0]
    source = values[plan.slot(out + ":z" if method.model.unit(out).activation == "softmax" else out)]
    last = program.backend.to_numpy(source[len(source) - 1:])[0]
    return last.astype(np.float64), program.final_state(values, 1)


def _draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    scaled = logits / temperature
    p = np.exp(scaled - scaled.max())
    return int(rng.choice(len(p), p=p / p.sum()))
