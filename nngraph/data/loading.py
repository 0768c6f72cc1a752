"""`load_dataset`: from the `data` setting of a train block to a checked `Dataset`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

# The loader modules register themselves in the catalog when imported.
from nngraph.data import arrays, images, patterns, sequences, superres, textfiles, toy  # noqa: F401
from nngraph.data.arrays import refuse_non_finite
from nngraph.data.catalog import FEATURES, LIMITED, LOADERS, SEEDED, Request
from nngraph.data.dataset import Dataset, binarized
from nngraph.data.options import bind
from nngraph.errors import DataError, did_you_mean
from nngraph.spec import ast
from nngraph.spec.values import numbers_beyond

SUFFIX_LOADERS = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".txt": "text"}


def known_datasets() -> list[str]:
    return sorted(LOADERS)


def load_dataset(
    spec: ast.Call | ast.Ref | ast.Setting | ast.String, base_dir: Path, seed: int = 0,
    base_is: str = "the spec's folder", dtype=np.float32, sequences: bool = False,
) -> Dataset:
    """The data set a spec names: `xor`, `moons(n=400)`, `npz("train.npz", y="labels")`...

    Relative paths start at `base_dir` (the spec's folder; `base_is` says what it is, for hints); `seed` drives
    generated sets unless the call gives its own `seed=`. A whole `data ...` setting may be passed, in which case its
    trailing `key=value` words count as options of the call. Options `binarize` and `shape`
    are applied here (and noted in `info`, for `Preprocessing`); `scale` is recorded in `info["scale"]` for
    `split_dataset` to apply. The inputs and float targets are made in `dtype`, the run's (float32 by default,
    float64 on request: then a float64 file's values are kept exactly); class labels and text codes are int64.
    `sequences`: the data feed a recurrent model, whose integer targets (n, T) are one class label per step.
    """
    call = data_call(spec)
    loader = LOADERS.get(call.name)
    if loader is None:
        hint = did_you_mean(call.name, LOADERS) or "known data sets: " + ", ".join(known_datasets())
        raise DataError(f"unknown data set '{call.name}'", call.span, hint)
    options = bind(call, loader.options, loader.positional)
    numbers_beyond(call, np.dtype(dtype).name, call.name, DataError)  # (`eval --data`, `--dtype`: not checked yet)
    request = Request(call.name, options, call.span, Path(base_dir), seed, base_is, np.dtype(dtype), sequences)
    try:
        return _finish(request, loader.make(request))
    except MemoryError:  # the files' copies in the run's dtype (a deflated npz of 300 MB of uint8): was reported
        raise _out_of_memory(request) from None  # as the training's, at the model


def _out_of_memory(req: Request) -> DataError:
    from nngraph.safe_files import available_memory, describe_bytes

    return DataError(f"{req.name}: out of memory while reading the data and making its copies in "
                     f"{req.dtype.name} ({describe_bytes(available_memory())} of memory is available now)", req.span,
                     "use less data (limit=..., a smaller file), or free memory")


def data_call(spec) -> ast.Call:
    """A bare name is a call without arguments; a bare path string picks its loader by suffix."""
    if isinstance(spec, ast.Setting):
        if spec.value is None:
            raise DataError("`data` needs a data set, like `data moons(n=400)`", spec.span)
        call = data_call(spec.value)
        return replace(call, kwargs=call.kwargs + spec.kwargs)
    if isinstance(spec, ast.Call):
        return spec
    if isinstance(spec, ast.Ref):
        return ast.Call(spec.name, (), (), spec.span)
    if isinstance(spec, ast.String):
        return ast.Call(_loader_for_path(spec), (spec,), (), spec.span)
    raise DataError(
        "expected a data set name or call", getattr(spec, "span", None), "for example: data xor"
    )


def read_as_trained(new, trained) -> ast.Call:
    """`eval --data new.csv`: a bare file given as the training data's file was, read the same way where one
    loader reads both: with the training call's options that say how its files are laid out (which column or
    array is the target, the header, the delimiter, the task, a text's window), not those the checkpoint's
    preprocessing stands for (scale, binarize, shape), nor a limit, a seed or another file."""
    call = data_call(new)
    if not isinstance(new, ast.String) or trained is None:
        return call
    old = data_call(trained)
    if old.name != call.name or call.name not in LOADERS:
        return call
    prepared = {**FEATURES, **LIMITED, **SEEDED}
    layout = {name for name, option in LOADERS[call.name].options.items()
              if name not in prepared and option.kind != "path"}
    return replace(call, kwargs=tuple(k for k in old.kwargs if k.name in layout))


def read_inputs_as_trained(new: ast.String, trained, width: int) -> ast.Call:
    """`predict --input new.csv`: the file read as `eval --data`'s (`read_as_trained`), for its inputs alone: the
    training's target column stays in the call only where the file has it (by name where the training file's
    header named it, else by having more columns than the model's `width` inputs), so that a table of inputs
    alone and one with its targets beside them both read; a first row of numbers where no call said `header` is
    the first example, not a header."""
    call = read_as_trained(new, trained)
    if call.name != "csv":
        return call
    options = bind(call, LOADERS["csv"].options, LOADERS["csv"].positional).values
    cells = textfiles.first_row(Path(options["path"]), options["delimiter"])
    if options["header"] and not any(k.name == "header" for k in call.kwargs) and _an_example(cells):
        # a header no call asked for, of numbers: the table's first example (a model trained on other data)
        call, options = replace(call, kwargs=(*call.kwargs, ast.KeywordArg("header", ast.Ref("false")))), \
            {**options, "header": False}
    if options["target"] is None:
        return call
    named = options["header"] and isinstance(options["target"], str)
    has = options["target"] in cells if named else len(cells) > width
    return call if has else replace(call, kwargs=tuple(k for k in call.kwargs if k.name != "target"))


def _an_example(cells: list[str]) -> bool:
    """A table's first row of numbers, other than the column numbers 0, 1, 2, ... that pandas writes as the header
    of an array's table (`pandas.DataFrame(x).to_csv(index=False)`)."""
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return bool(cells) and cells != [str(i) for i in range(len(cells))]


def data_files(spec, base_dir: Path) -> list[Path]:
    """The files a data setting names (every string among its arguments, nested calls' included, that is a file
    relative to `base_dir`): what a command's output must never go over."""
    found, todo = [], [data_call(spec)] if spec is not None else []
    while todo:
        value = todo.pop()
        if isinstance(value, ast.Call):
            todo += [*value.args, *(k.value for k in value.kwargs)]
        elif isinstance(value, ast.String) and (path := base_dir / Path(value.value).expanduser()).is_file():
            found.append(path)
    return found


def _loader_for_path(path: ast.String) -> str:
    suffix = Path(path.value).suffix.lower()
    if suffix in SUFFIX_LOADERS:
        return SUFFIX_LOADERS[suffix]
    raise DataError(
        f'cannot tell the format of "{path.value}" from its name',
        path.span,
        "write the loader: npz(...), npy(...), csv(...), text(...), idx(...) or mnist(...)",
    )


def _finish(req: Request, data: Dataset) -> Dataset:
    """The options common to all loaders, then checks that every loader's output must pass."""
    values = req.options.values
    if values.get("binarize") is not None:  # noted in `info`: what `predict` does to its input too
        data = replace(data, x=binarized(data.x, values["binarize"]))
        data.info["binarize"] = values["binarize"]
    if values.get("shape") is not None:
        data = replace(data, x=_reshaped(req, data.x, values["shape"]))
        data.info["shape"] = list(data.x.shape[1:])
    if values.get("scale", "none") != "none":
        data.info["scale"] = values["scale"]
        if req.sequences:  # a recurrent model's examples [T, ...]: statistics per feature over the steps too
            data.info["scale_steps"] = True
    _check_finite(req, data)
    return data


def _reshaped(req: Request, x: np.ndarray, shape: list[int]) -> np.ndarray:
    size = int(np.prod(x.shape[1:]))
    free = shape.count(-1)
    fixed = int(np.prod([d for d in shape if d != -1]))
    fits = all(d > 0 or d == -1 for d in shape) and free <= 1
    if not fits or (size % fixed if free else size != fixed):
        raise req.error(
            f"{req.name}: each example has {size} values (shape {list(x.shape[1:])}); "
            f"it cannot be reshaped to {shape}",
            "the dimensions must multiply to the example size (one of them may be -1)",
            option="shape",
        )
    return x.reshape(len(x), *shape)


def _check_finite(req: Request, data: Dataset) -> None:
    """What every loader's output must pass (the file loaders check their arrays already, naming the file)."""
    refuse_non_finite(data.x, f"{req.name}: the inputs", req.dtype, req.error)
    if data.y is not None:
        refuse_non_finite(data.y, f"{req.name}: the targets", req.dtype, req.error)
