"""`sample --fill`'s masks, examples and start values (section 12, "Filling in missing values"), through
nngraph's whole command path (train/fill_in.fill_samples, `-o filled.npy`) for every model kind that fills in:
a VAE (plain or autoregressive), a restricted and a general Boltzmann machine, a GAN and a next-step sequence
model. The twin reads the docs: the examples are the first `--count` of the test split, else validation, else
the training data, or those of `--input`; what is missing is a half of each picture (`top`, `bottom`, `left`,
`right`: the picture the data's image shape, else the example's own 2-D or 3-D shape, else a square, else one
row; an odd height or width keeps its middle row or column), a .npy mask (one example's shape, one per example,
or for sequences one value a step, `[T]` or `[count, T]`; by its shape, else its size), or the NaN values of
`--input` (`missing`); missing values start at the training data's mean of each unit (sequences: of each
feature over all steps). The fill-in itself is the kind's own twin (vae_inference, boltzmann_fill, gan_fill,
sequence_fill), on the twin's examples, mask and start. Compared: the array written."""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

import numpy as np
import torch

from nngraph.data.dataset import Dataset
from nngraph.train.fill_in import fill_samples, given_inputs

from . import boltzmann_fill, gan_fill, sequence_fill
from .compare import Worst, rel_diff
from .gan_steps import gan_step_case
from .stepping import Handed, method_for, torch_copies
from .vae_inference import TwinVae, caught_generators, twin_fill as twin_vae_fill, vae_case

SIDES = ("top", "bottom", "left", "right")


def vae_kind(rng):
    text, net, case = vae_case(rng, autoregressive=bool(rng.random() < 0.3))
    _, method = method_for(text)
    for value in method.program.params.values():
        value += 0.5 * rng.standard_normal(value.shape)
    twin = TwinVae(net, method.program.params, case)
    bounded = net.units[-1]["act"] == "sigmoid"  # an identity decoder's rounds may grow without bound
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5)) if bounded else 1}

    def data(rows):
        return (rng.random((rows, case["d"])) < 0.5).astype(float) if case["bce"] else rng.random((rows, case["d"]))

    def twin_fill(start, missing, handed):
        return twin_vae_fill(twin, start, missing, request["steps"], handed).numpy()
    return SimpleNamespace(name="autoregressive vae" if case["autoregressive"] else "vae", method=method, text=text,
                           shape=(case["d"],), data=data, request=request, fill=twin_fill)


def rbm_kind(rng):
    text, visible, hidden, gaussian = boltzmann_fill.rbm_fill_case(rng)
    _, machine = method_for(text)
    for value in machine.params.values():
        value += rng.standard_normal(value.shape)
    P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in machine.params.items()}
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5)), "means": bool(rng.random() < 0.5)}

    def data(rows):
        return rng.standard_normal((rows, visible)) if gaussian else (rng.random((rows, visible)) < 0.5).astype(float)

    def twin_fill(start, missing, handed):
        return boltzmann_fill.twin_fill(P, start, missing, request, gaussian, hidden, handed).numpy()
    return SimpleNamespace(name="rbm", method=machine, text=text, shape=(visible,), data=data, request=request,
                           fill=twin_fill)


def general_kind(rng):
    text, machine, twin, options = boltzmann_fill.general_machine(rng)
    gaussian = twin.gaussian[: twin.V].numpy()
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 5)), "means": bool(rng.random() < 0.5)}

    def data(rows):
        return np.where(gaussian, rng.standard_normal((rows, twin.V)), rng.random((rows, twin.V)) < 0.5)

    def twin_fill(start, missing, handed):
        return boltzmann_fill.twin_general_fill(twin, start, missing, request, handed).numpy()
    return SimpleNamespace(name=f"boltzmann ({options['order']})", method=machine, text=text, shape=(twin.V,),
                           data=data, request=request, fill=twin_fill)


def gan_kind(rng):
    gen, _, _, text, _, _, _ = gan_step_case(rng)
    _, method = method_for(text)
    size = gen.units[-1]["shape"][0]
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 8))}

    def twin_fill(start, missing, handed):
        return gan_fill.twin_fill(gen, torch_copies(method.parts[0].params), start, missing, request, handed)
    return SimpleNamespace(name="gan", method=method, text=text, shape=(size,), request=request, fill=twin_fill,
                           data=lambda rows: rng.standard_normal((rows, size)))


def sequence_kind(rng):
    d, hidden, cell, text, method = sequence_fill.next_step_model(rng)
    steps = int(rng.integers(1, 7))
    case = dict(sequence_fill.CASE, cell=cell)

    def twin_fill(start, missing, handed):
        return sequence_fill.twin_fill(method.program.params, case, start, missing, hidden)
    return SimpleNamespace(name=f"sequence ({cell})", method=method, text=text, shape=(steps, d), request={},
                           fill=twin_fill, data=lambda rows, length=steps: rng.standard_normal((rows, length, d)))


KINDS = (vae_kind, rbm_kind, general_kind, gan_kind, sequence_kind)


def compare_fill_masks(rng):
    kind = KINDS[rng.integers(len(KINDS))](rng)
    sequence = kind.name.startswith("sequence")
    splits, info = random_splits(rng, kind, sequence)
    count = int(rng.integers(1, 5))
    ways = (["npy mask", "npy masks per example", "missing"] + ([] if sequence else ["side"] * 2)
            + (["npy mask per step", "npy masks per example and step"] if sequence else []))
    way = ways[rng.integers(len(ways))]
    request = {**kind.request, "count": count}
    train = splits.train
    with tempfile.TemporaryDirectory() as folder:
        if way == "missing" or rng.random() < 0.3:  # the examples of --input
            given = kind.data(int(rng.integers(1, 6))) if not sequence else \
                kind.data(int(rng.integers(1, 6)), int(rng.integers(1, 8)))  # series of any length
            if way == "missing":
                given = np.where(rng.random(given.shape) < 0.4, np.nan, given)
            request["inputs"] = given_inputs(given, "given.npy", lambda data: data)
            examples = given[:count]
        else:
            held = next(p for p in (splits.test, splits.validation, splits.train) if p is not None and len(p))
            examples = held.x[:count]
        shape = examples.shape
        if way == "missing":
            missing, request["fill"] = np.isnan(examples), "missing"
        elif way == "side":
            picture = picture_of(kind.shape, info)
            sides = SIDES if picture[-2] > 1 else SIDES[2:]
            request["fill"] = sides[rng.integers(len(sides))]
            missing = side_mask(request["fill"], picture, shape)
        else:
            mask = saved_mask(rng, way, shape)
            np.save(f"{folder}/mask.npy", mask)
            request["fill"] = f"{folder}/mask.npy"
            missing = read_mask(mask, shape, sequence)
        missing = np.array(missing, bool)
        start = np.where(missing, training_mean(train.x, sequence), examples)
        request["output"] = f"{folder}/filled.npy"
        with caught_generators() as made:
            fill_samples(kind.method, dict(request), splits)
        ours = np.load(request["output"])
    handed = Handed(made[0]) if made else None
    theirs = np.where(missing, kind.fill(start.copy(), missing.copy(), handed).reshape(shape), start)
    worst = Worst()
    worst.note(rel_diff(ours, theirs), f"filled examples ({way})")
    used = {f"{kind.name}: {request['fill'] if way == 'side' else way}",
            *(("--input",) if "inputs" in request else ("examples from " + held_name(splits),)),
            *((f"picture {list(picture_of(kind.shape, info))}",) if way == "side" else ())}
    text = kind.text + f"# fill {way} {request.get('fill')}, missing {missing.astype(int).tolist()}\n"
    return used, (worst.value, text)


def random_splits(rng, kind, sequence):
    """Training rows (and maybe validation and test rows) of the kind's data; vector data maybe with an image
    shape (its picture)."""
    info = {}
    if not sequence and rng.random() < 0.4:
        info["image_shape"] = factored(rng, kind.shape[0])
    task = "sequence" if sequence else "unsupervised"
    train = Dataset(kind.data(int(rng.integers(1, 6))), None, task, info=info)
    held = [Dataset(kind.data(int(rng.integers(1, 4))), None, task) if rng.random() < 0.5 else None
            for _ in range(2)]
    return SimpleNamespace(train=train, validation=held[0], test=held[1]), info


def held_name(splits):
    return next(name for name, p in (("test", splits.test), ("validation", splits.validation),
                                     ("training", splits.train)) if p is not None and len(p))


def factored(rng, size):
    """An image shape of `size` values: (h, w) or (c, h, w)."""
    splits = [(h, size // h) for h in range(1, size + 1) if size % h == 0]
    h, w = splits[rng.integers(len(splits))]
    return (h, w) if rng.random() < 0.5 else (1, h, w)


def picture_of(shape, info):
    """The picture of an example: the data's image shape, the example's own 2-D or 3-D shape, a square, a row."""
    if info.get("image_shape"):
        return tuple(info["image_shape"])
    if len(shape) in (2, 3):
        return shape
    side = round(shape[0] ** 0.5)
    return (side, side) if side > 1 and side * side == shape[0] else (1, shape[0])


def side_mask(side, picture, shape):
    """That half of each picture (an odd height or width keeps its middle row or column), for every example."""
    h, w = picture[-2:]
    rows, cols = np.indices((h, w))
    half = {"top": rows < h // 2, "bottom": rows >= h - h // 2, "left": cols < w // 2, "right": cols >= w - w // 2}
    return np.broadcast_to(np.broadcast_to(half[side], picture).reshape(shape[1:]), shape)


def saved_mask(rng, way, shape):
    """A 0/1 (or boolean) mask as a user saves it: one example's shape, one per example, one value a step."""
    n, example = shape[0], shape[1:]
    size = {"npy mask": example, "npy masks per example": shape, "npy mask per step": example[:1],
            "npy masks per example and step": (n, example[0])}[way]
    mask = rng.random(size) < 0.5
    return mask if rng.random() < 0.5 else mask.astype(float)


def read_mask(mask, shape, sequence):
    """A saved mask as the docs read it: one example's shape, one mask per example, for sequences one value a
    step ([T], or [count, T]: every feature of the step); by its shape, else by its size, a mask that fits two
    readings read as the first of them."""
    n, example = shape[0], shape[1:]
    readings = [(example, example), (shape, shape)]
    if sequence:
        readings += [((example[0],), (1, example[0], 1)), ((n, example[0]), (n, example[0], 1))]
    read = next((how for given, how in readings if mask.shape == given), None) or \
        next((how for given, how in readings if mask.size == np.prod(given)), None)
    return np.broadcast_to(mask.reshape(read), shape).astype(bool)


def training_mean(x, sequence):
    return x.mean(axis=(0, 1)) if sequence else x.mean(axis=0)
