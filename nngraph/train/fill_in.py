"""`nngraph sample --fill`: filling in the missing part of examples, one interface for every method that can.

This module does what is the same for every method: which examples (the test split, else validation, else
training data; or `--input X.npy`), which part of them is missing (`--fill top|bottom|left|right` halves of a
picture, a .npy mask with 1 = fill in, or `missing`: the NaN values of `--input`), where the missing values
start (the training data's mean of each unit: the simplest fill-in, and the baseline every report names), the
known part kept exactly, the error on the filled part, and the picture (rows: data, the part kept, filled; for
sequences, each series with its filled gaps). A method gives one call,

    method.fill(values, missing, request) -> (filled, what)

`values` (n, *example) holds the known values and the start at the missing ones, `missing` is a bool array of
the same shape, `request` the command's options (`steps`, `seed`, `means`, `prior`); `filled` is the method's values for
every unit (those outside `missing` are put back here) and `what` a few words on how it filled them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nngraph.data.dataset import Dataset
from nngraph.data.scaling import valid_steps
from nngraph.errors import BuildError, DataError, plural
from nngraph.train.outputs import sample_path

FILL_SIDES = ("top", "bottom", "left", "right")
MISSING = "missing"  # --fill missing: the NaN values of --input are the part to fill in
FILLERS = "Boltzmann machines, VAEs, GANs and sequence models that predict their next input"


@dataclass
class FillTask:
    """The examples to fill in: known values with the start at the missing ones, what is missing, the truth
    where it is known (None for --fill missing), and what was filled, in words."""

    values: np.ndarray
    missing: np.ndarray
    truth: np.ndarray | None
    described: str
    picture: tuple[int, ...] | None  # how to draw an example, None for sequences
    sequence: bool


def fill_samples(method, request: dict, splits) -> str:
    """`nngraph sample --fill`: the examples filled in by `method`, written as pictures or .npy; the message
    says what was filled and the error on the filled part beside the start's."""
    fill = getattr(method, "fill", None)
    if fill is None:
        config = method.config
        raise BuildError(f"method '{config.method.name}' on model '{config.model}' does not fill in missing values",
                         config.method.span, f"--fill is for {FILLERS}")
    if request.get("prior") is not None and not getattr(method, "takes_fill_prior", False):
        raise DataError(f"--prior weighs a GAN's noise prior in its fill-in; method '{method.config.method.name}' "
                        "fills in without one", hint="leave --prior out")
    task = fill_task(request, splits, example_shape(method, splits))
    filled, what = fill(task.values.copy(), task.missing.copy(), request)
    filled = np.where(task.missing, np.asarray(filled, task.values.dtype).reshape(task.values.shape), task.values)
    output = sample_path(request)
    written = write_fills(output, task, filled)
    message = f"filled in {task.described} of {plural(len(filled), 'example')} ({what}) to {written}"
    if task.truth is not None and task.missing.any():
        message += "; " + error_report(filled, task)
    return message


def require_output_like_input(method, plan, cannot: str, hint: str | None = None) -> None:
    """Refuse a model whose output is not shaped as its one input: its output cannot stand in for missing
    inputs (`cannot` ends the message: what it therefore cannot do)."""
    output, given = plan.outputs[0], plan.feeds[0]
    if len(plan.feeds) != 1 or plan.shapes[output] != plan.shapes[given]:
        raise BuildError(f"model '{method.model.name}' does not give values of its input ({given}"
                         f"{list(plan.shapes[given])} -> {output}{list(plan.shapes[output])}), so it cannot {cannot}",
                         method.config.method.span, hint)


def example_shape(method, splits) -> tuple[int, ...]:
    """One example's shape as the method takes it (a Boltzmann machine's visible vector, else the data's)."""
    shape = getattr(method, "fill_shape", None)
    return shape if shape is not None else training_data(splits).feature_shape


def training_data(splits) -> Dataset:
    return next(p for p in (splits.train, splits.validation, splits.test) if p is not None and len(p))


def test_data(splits) -> Dataset:
    """The held-out examples: the test split, else validation, else the training data."""
    return next(p for p in (splits.test, splits.validation, splits.train) if p is not None and len(p))


# ---- the task: examples, mask, start ---------------------------------------------------------------------


def fill_task(request: dict, splits, shape: tuple[int, ...]) -> FillTask:
    """The examples and mask `request` asks for (`fill`, `count`, `inputs`), the missing values at their start."""
    from nngraph.viz.samples import picture_shape

    fill, count = str(request["fill"]), int(request.get("count") or 64)
    train = training_data(splits)
    dtype = train.x.dtype if train.x.dtype.kind == "f" else np.dtype(np.float32)
    sequence = train.task == "sequence"
    picture = None if sequence else (picture_shape(shape, train.info) or (1, int(np.prod(shape))))
    given = request.get("inputs")
    if given is not None:
        shape = given_shape(given, shape, sequence)
    if fill == MISSING:
        if given is None:
            raise DataError("--fill missing fills in the NaN values of --input X.npy, and no --input was given",
                            hint="give the examples with NaN where values are missing: --input X.npy")
        examples = _in_run_dtype(given, given.x[:count].reshape((-1, *shape)), dtype)
        truth, missing = None, given.info["missing"][:count].reshape(examples.shape)
        described = f"the {plural(int(missing.sum()), 'missing value')} of {given.name}"
    else:
        if given is not None and given.info["missing"].any():
            raise DataError(f"--input {given.name} holds NaN values, which --fill {fill} does not fill",
                            hint="fill them with --fill missing, or give finite values")
        data = given if given is not None else test_data(splits)
        examples = _in_run_dtype(data, data.x[:count].reshape((-1, *shape)), dtype)
        missing = mask_of(fill, examples.shape, picture, sequence)
        truth, described = examples, fill_description(fill, missing)
    values = np.where(missing, start_values(train, sequence, shape), examples).astype(dtype)
    return FillTask(values, missing, truth, described, picture, sequence)


def given_shape(given: Dataset, shape: tuple[int, ...], sequence: bool) -> tuple[int, ...]:
    """The shape of an example of `--input`: the model's (sequences: of any length, with the model's features)."""
    got = given.x.shape[1:]
    if sequence and len(got) == len(shape) and got[1:] == shape[1:]:
        return got
    if given.x.ndim < 2 or int(np.prod(got)) != int(np.prod(shape)):
        steps = "[n, T, " + ", ".join(map(str, shape[1:])) + "]" if sequence else \
            "[n, " + ", ".join(map(str, shape)) + "]"
        raise DataError(f"--input {given.name} has examples of shape {list(got)}, but the model's are {list(shape)}",
                        hint=f"save the examples as {steps}")
    return shape


def start_values(train: Dataset, sequence: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Where missing values start: each unit's mean over the training data, as an example of `shape` (for
    sequences, each feature's mean over all their valid steps, for series of any length: a ragged set's padding
    is no data)."""
    x = np.asarray(train.x, np.float64)
    if sequence:
        return valid_steps(x, train.lengths).mean(axis=0)
    return x.reshape(len(x), -1).mean(axis=0).reshape(shape)


def mask_of(fill: str, shape: tuple[int, ...], picture, sequence: bool) -> np.ndarray:
    """The bool mask (n, *example) of what to fill in: a half of the picture, or a .npy mask."""
    if fill in FILL_SIDES:
        if sequence:
            raise DataError(f"--fill {fill}: sequences have no sides",
                            hint="give a .npy mask of the steps to fill in (1 = fill in), one value a step")
        half = fill_mask(fill, picture, int(np.prod(shape[1:])))
        return np.broadcast_to(half.reshape(shape[1:]), shape).copy()
    return mask_file(fill, shape, sequence)


def fill_mask(fill: str, shape: tuple[int, ...], size: int) -> np.ndarray:
    """The units to fill in (a bool [V] mask) of one example: the half of the picture `shape` that `fill` names,
    or the 1s of a .npy mask file of one example's size; the others are kept."""
    if fill in FILL_SIDES:
        if shape[-2] == 1 and fill in ("top", "bottom"):
            raise DataError(f"--fill {fill}: the examples are not pictures with rows",
                            hint="use left or right, or a .npy mask of the units to fill")
        rows, cols = np.indices(shape[-2:])
        height, width = shape[-2:]
        mask = {"top": rows < height // 2, "bottom": rows >= height - height // 2,
                "left": cols < width // 2, "right": cols >= width - width // 2}[fill]
        return np.broadcast_to(mask, shape).reshape(-1).copy()
    return mask_file(fill, (1, size), False).reshape(-1)


def mask_file(fill: str, shape: tuple[int, ...], sequence: bool) -> np.ndarray:
    """A .npy mask (1 = fill in) as a bool array of `shape` (n, *example): one example's mask for every example,
    or one per example; for sequences also one value a step (every feature of the step)."""
    if not fill.endswith(".npy"):
        choices = ", ".join(FILL_SIDES)
        raise DataError(f"--fill {fill!r}: expected one of {choices}, {MISSING}, or a .npy mask file")
    from nngraph.safe_files import load_npy

    mask = load_npy(fill, error=lambda message, hint=None: DataError(f"--fill: {message}", None, hint))
    n, example = shape[0], shape[1:]
    size = int(np.prod(example))
    readings = [(example, example), (shape, shape)]  # (a mask's shape, how it is read), in the docs' order
    if sequence:
        steps, features = example[0], (1,) * (len(example) - 1)
        readings += [((steps,), (1, steps) + features), ((n, steps), (n, steps) + features)]
    ways = f"{size} values (one example, shape {list(example)})" + \
        (f" or {example[0]} (one a step)" if sequence else "") + f", or {n} such masks (one an example)"
    # its own shape first (a [T, F] mask of one example is not read as one [T] mask an example where F = n), then
    # its size; where two readings fit, the first of the docs' order
    read = next((how for given, how in readings if tuple(mask.shape) == given), None) or \
        next((how for given, how in readings if mask.size == int(np.prod(given))), None)
    if read is None:
        raise DataError(f"the mask {fill} (shape {list(mask.shape)}) does not fit the examples of shape "
                        f"{list(example)}", hint=f"save a 0/1 or boolean array of {ways}; 1 = fill in")
    _check_mask_values(fill, mask, ways)
    return np.broadcast_to(mask.reshape(read).astype(bool), shape).copy()


def _check_mask_values(fill: str, mask: np.ndarray, ways: str) -> None:
    """0s and 1s only: a mask of the right size holding 0.5, 2 or text was reported as not fitting the examples."""
    if mask.dtype.kind not in "biuf":
        raise DataError(f"the mask {fill} holds {mask.dtype} values, not numbers",
                        hint=f"save a 0/1 or boolean array of {ways}; 1 = fill in")
    wrong = ~np.isin(mask, (0, 1))
    if wrong.any():
        at = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise DataError(f"the mask {fill} holds {mask[at].item()!r} at {list(at)}; a mask holds 0 (keep) and 1 "
                        "(fill in)", hint="save it as booleans, or as 0s and 1s")


def _in_run_dtype(data: Dataset, x: np.ndarray, dtype) -> np.ndarray:
    """`x` cast to the run's float type, which must hold every value: 1e40 in a float32 run became inf, and the
    fill-in's scores NaN, with a RuntimeWarning."""
    with np.errstate(over="ignore"):
        cast = x.astype(dtype)
    if np.isinf(cast).any() and not np.isinf(x).any():
        at = tuple(int(i) for i in np.argwhere(np.isinf(cast))[0])
        raise DataError(f"--input {data.name} holds {x[at]:g} at example {at[0]}, position {list(at[1:])}, beyond "
                        f"{np.dtype(dtype).name}'s range", hint="rescale the examples as the training data was")
    return cast


def fill_description(fill: str, missing: np.ndarray) -> str:
    """What was filled, for the message: `the bottom half`, `the 5 values marked in mask.npy`."""
    if fill in FILL_SIDES:
        return f"the {fill} half"
    return f"the {plural(int(missing.sum()), 'value')} marked in {fill}"


# ---- inputs given on the command line ------------------------------------------------------------------


def given_inputs(x: np.ndarray, name: str, prepare) -> Dataset:
    """`--input X.npy` as the method takes it: `prepare` (the training data's preprocessing) applied, with the
    NaN values (the missing ones) set to 0 first and marked in `info["missing"]`, of the prepared array's shape."""
    x = np.asarray(x)
    missing = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    if x.dtype.kind == "f" and np.isinf(x).any():
        raise DataError(f"--input {name} holds infinite values", hint="mark missing values with NaN")
    data = prepare(Dataset(np.where(missing, 0, x).astype(x.dtype), None, "unsupervised", name=str(name)))
    data.info["missing"] = missing.reshape(data.x.shape)
    return data


# ---- scores and pictures ---------------------------------------------------------------------------------


def fill_errors(filled: np.ndarray, truth: np.ndarray, missing: np.ndarray) -> dict[str, float]:
    """On the filled part: the mean squared error, and for 0/1 data the share of values right (at 0.5)."""
    errors = {"mse": float(((filled - truth)[missing] ** 2).mean())}
    if np.isin(truth, (0, 1)).all():
        errors["accuracy"] = float(((filled[missing] > 0.5) == truth[missing]).mean())
    return errors


def error_report(filled: np.ndarray, task: FillTask) -> str:
    """`mean squared error on the filled part 0.0810 (the training data's mean: 0.1530); values right 91.2% (the
    mean: 77.4%)`: the method's errors beside those of the start."""
    ours, start = (fill_errors(a, task.truth, task.missing) for a in (filled, task.values))
    line = f"mean squared error on the filled part {ours['mse']:.4f} (the training data's mean: {start['mse']:.4f})"
    if "accuracy" in ours:
        line += f"; values right {100 * ours['accuracy']:.1f}% (the mean: {100 * start['accuracy']:.1f}%)"
    return line


def write_fills(output: Path, task: FillTask, filled: np.ndarray) -> Path:
    """The filled examples as .npy, else a picture: sequences as series, pictures in rows (data, the part
    kept, filled)."""
    from nngraph.viz import samples as pictures

    if pictures.is_array(output) or not task.sequence:
        shown = [] if task.truth is None else [task.truth]
        rows = np.concatenate(shown + [np.where(task.missing, 0.5, task.values), filled]).reshape(
            -1, int(np.prod(task.values.shape[1:])))
        return pictures.write_samples(output, rows, task.picture, per_row=len(filled), array=filled)
    return pictures.write_series_fills(output, task.values, task.missing, filled, task.truth)


def by_mask(values: np.ndarray, missing: np.ndarray, fill_rows) -> np.ndarray:
    """For methods that fill in one mask at a time: `fill_rows(rows, mask)` on the examples sharing each
    distinct mask (flat [V] masks), the results put back in order."""
    flat, masks = values.reshape(len(values), -1), missing.reshape(len(missing), -1)
    filled = np.empty_like(flat)
    distinct, which = np.unique(masks, axis=0, return_inverse=True)
    for k, mask in enumerate(distinct):
        rows = np.flatnonzero(which.reshape(-1) == k)
        filled[rows] = fill_rows(flat[rows], mask)
    return filled.reshape(values.shape)
