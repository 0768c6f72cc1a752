"""The Python API: load and check specs; compile and train them (see README "Python API").

    import nngraph
    checked = nngraph.load("specs/xor.nn")          # or nngraph.loads(text)
    program = nngraph.program(checked, "xor")       # a Program on numpy, float32
    result = nngraph.fit(checked, out="runs/xor")
"""

from __future__ import annotations

import dataclasses
import os
import re

from nngraph.errors import Span, ValidationError
from nngraph.graph.check import CheckedSpec, check_spec
from nngraph.spec import ast
from nngraph.spec.parser import parse_fragment

SET_PATH = "<--set>"  # where the settings given with --set come from, line i the i-th
RECORDED_PATH = "<run --set>"  # those a trained run recorded (train/provenance.py), re-applied after it
DATA_PATH = "<--data>"  # the data set given on the command line in place of the spec's


def parse_spec_file(path: str | os.PathLike) -> ast.Spec:
    from nngraph.spec.load import load_spec

    return load_spec(path)


def parse_spec_text(text: str, path: str = "<string>") -> ast.Spec:
    from nngraph.spec.load import load_spec_text

    return load_spec_text(text, path)


def load(path: str | os.PathLike, overrides: list[str] = (), train: str | None = None,
         recorded: list[str] = ()) -> CheckedSpec:
    """Parse and check a spec file (.nn or .yaml); `overrides` are `key=value` train settings. `recorded`: the
    overrides a trained run recorded (`recorded_run`), applied first, so that `overrides` go on top of them."""
    overrides = _strings(overrides, "overrides")
    _expect(path, "load", "path", (str, os.PathLike), "the path of a .nn or .yaml spec")
    _expect(train, "load", "train", (str, type(None)), "a train block's name")
    spec = parse_spec_file(path)
    if recorded:
        spec = apply_overrides(spec, recorded, train, RECORDED_PATH)
    return check_spec(apply_overrides(spec, overrides, train)) if overrides else check_spec(spec)


def recorded_run(checkpoint: str | os.PathLike) -> tuple[str | None, list[str]]:
    """How the run that wrote `checkpoint` was made: its train block's name and its `--set` settings
    (train/provenance.py); (None, []) for a checkpoint older than these records."""
    from nngraph.train.checkpoint import read_meta
    from nngraph.train.provenance import RUN_KEY

    record = read_meta(checkpoint).get(RUN_KEY)
    record = record if isinstance(record, dict) else {}
    train, overrides = record.get("train"), record.get("overrides")
    overrides = [o for o in overrides if isinstance(o, str)] if isinstance(overrides, list) else []
    return (train if isinstance(train, str) else None), overrides


def data_option(text: str) -> ast.Value:
    """A data set given on the command line (`digits(scale=standard)`), positioned in `<--data>`. A bare file
    name with a data suffix (`--data new.csv`) is that file, as if quoted (`--data '"new.csv"'`)."""
    from nngraph.data.loading import SUFFIX_LOADERS

    name = text.strip()
    bare = not any(c in name for c in '"\\()')
    if bare and os.path.splitext(name)[1].lower() in SUFFIX_LOADERS:
        text = f'"{name}"'
    return parse_fragment(text, "value_only", DATA_PATH)


def loads(text: str, path: str = "<string>", fmt: str = "nn") -> CheckedSpec:
    """Parse and check spec text given as a string."""
    if not isinstance(text, str):
        raise TypeError(f"loads takes the spec's text as a str, not {type(text).__name__}")
    if fmt not in ("nn", "yaml"):
        raise ValueError(f"loads: fmt must be 'nn' or 'yaml', not {fmt!r}")
    if fmt == "yaml":
        from nngraph.spec.yaml_surface import parse_yaml

        return check_spec(parse_yaml(text, path))
    from nngraph.spec.parser import parse

    return check_spec(parse(text, path))


def apply_overrides(spec: ast.Spec, overrides: list[str], train: str | None = None,
                    path: str = SET_PATH) -> ast.Spec:
    """`--set epochs=5 --set "optimizer=adam(lr=1e-3)" --set "early_stopping=10 monitor=val_loss"`: replace or
    add settings of one train block. Each override is one setting as the spec writes it (`early_stopping
    monitor=val_loss`), its name optionally followed by `=` (`epochs=5`), so every setting, trailing options
    included, can be set. Errors are positioned in `path`, line i the i-th override."""
    overrides = _strings(overrides, "overrides")
    if not isinstance(spec, ast.Spec):  # a checked spec, or None: 'has no attribute 'trains''/'settings''
        raise TypeError(f"apply_overrides takes a parsed spec (nngraph.api.parse_spec_file(path)), not "
                        f"{type(spec).__name__}; nngraph.load(path, overrides=[...]) loads and overrides at once")
    trains = [t for t in spec.trains if train is None or t.name == train]
    if not trains:
        raise ValidationError("--set needs a train block to change", None, "the spec has none by that name")
    block = trains[0]
    new: dict[str, ast.Setting] = {}  # by name, in the order of each name's last --set (linear in their number)
    for i, text in enumerate(overrides, 1):
        setting = _override(text, i, path)
        new.pop(setting.name, None)
        new[setting.name] = setting
    settings = [s for s in block.settings if s.name not in new] + list(new.values())
    replaced = dataclasses.replace(block, settings=tuple(settings))
    items = tuple(replaced if it is block else it for it in spec.items)
    return dataclasses.replace(spec, items=items)


def _expect_checked(checked, function: str) -> None:
    """program(None), program("spec.nn") were 'NoneType' object has no attribute 'trains'."""
    if not isinstance(checked, CheckedSpec):
        raise TypeError(f"{function} takes a checked spec (nngraph.load(path) or nngraph.loads(text)), not "
                        f"{type(checked).__name__}")


def _expect(value, function: str, name: str, kinds: tuple, what: str) -> None:
    """A TypeError naming the argument and what it takes, before a wrong type fails deep inside (`fit(out=5)`
    was pathlib's 'expected str, bytes or os.PathLike object, not int')."""
    if not isinstance(value, kinds):
        raise TypeError(f"{function}: {name} takes {what}, not {type(value).__name__}")


def _strings(values, name: str, example: str = "['epochs=5']") -> list[str]:
    """A list of strings as the API takes it: one string alone counts as a list of one (iterating over its
    characters read `overrides="epochs=3"` as seven settings, and `log="tensorboard"` as an unknown log `t`)."""
    if isinstance(values, (dict, bytes)) or not hasattr(values, "__iter__"):  # 5: "'int' object is not iterable"
        raise TypeError(f"{name} takes a list of strings, like {example}, not {type(values).__name__}")
    values = [values] if isinstance(values, str) else list(values)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be strings, like {example}; got {values!r}")
    return values


_NAME_EQUALS = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*(=)?")


def _override(text: str, line: int, path: str) -> ast.Setting:
    """One `--set` as a setting, parsed by the grammar's own setting rule (line `line` of `path`): the `=`
    after the name becomes a space, so columns in errors still point into the text as typed."""
    named = _NAME_EQUALS.match(text)
    if named is None:
        raise ValidationError(f"--set expects a setting, got {text!r}", Span(path, line, 1),
                              "e.g. --set epochs=5, or --set \"early_stopping monitor=val_loss patience=5\"")
    spaced = text[:named.start(1)] + " " + text[named.end(1):] if named.group(1) else text
    setting = parse_fragment(spaced, "setting_only", path, line, 1)
    if setting.value is None and not setting.kwargs and named.group(1):
        value = parse_fragment('""', "value_only", path, line, named.end(1) + 1)
        setting = dataclasses.replace(setting, value=value)  # `--set data=`: an empty value, as before
    return setting


def program(checked: CheckedSpec, model: str | None = None, backend: str = "numpy", dtype: str = "float32",
            seed: int = 0, train: str | None = None):
    """A Program for one model, with the losses of its train block (if any) attached."""
    from nngraph.backend import get_backend
    from nngraph.compile import compile_model

    _expect_checked(checked, "program")
    _expect(model, "program", "model", (str, type(None)), "a model's name")
    _expect(train, "program", "train", (str, type(None)), "a train block's name")
    config = _train_block_for(checked, model, train)
    name = model or (config.model if config else next(iter(checked.models)))
    if name is None:  # a train block of several models (a GAN's generator and discriminator)
        raise ValidationError(f"the train block trains several models ({', '.join(checked.models)}): name the "
                              f"one to compile", None, "nngraph.program(checked, model=NAME)")
    if name not in checked.models:
        from nngraph.errors import did_you_mean

        raise ValidationError(f"no model named '{name}'", None, did_you_mean(name, checked.models))
    losses = config.loss if config is not None and config.model == name else ()
    return compile_model(checked.models[name], losses, get_backend(backend, dtype), seed)


def _train_block_for(checked: CheckedSpec, model: str | None, train: str | None):
    """The train block whose losses a program gets: the one named `train` (as every command picks it),
    else the first that trains `model` (or the first of all); None where the spec has none."""
    if train is not None:
        return checked.train(train)
    return next((t for t in checked.trains if model in (None, t.model)), None)


def fit(checked: CheckedSpec, train: str | None = None, out=None, resume=None, backend: str = "numpy",
          dtype: str | None = None, quiet: bool | None = None, overwrite: bool = False, log=()) -> dict:
    """Train as the spec's train block says; returns summary.json's content (with "run_dir").
    An `out` folder that holds a run already is refused unless `overwrite`; `resume` continues one.
    `quiet=None`: a progress bar in a Jupyter notebook, nothing elsewhere. `log`: experiment logs as
    `train --log` takes them ("tensorboard", "mlflow", "mlflow=URI")."""
    from nngraph.session import run_training
    from nngraph.train.logs import make_loggers
    from nngraph.train.progress import in_notebook

    _expect_checked(checked, "fit")
    log = _strings(log, "log", "['tensorboard']")
    for name, flag in (("quiet", quiet), ("overwrite", overwrite)):  # quiet="no" was taken as True
        _expect(flag, "fit", name, (bool, type(None)) if name == "quiet" else (bool,), "True or False")
    _expect(train, "fit", "train", (str, type(None)), "a train block's name")
    for name, folder in (("out", out), ("resume", resume)):
        _expect(folder, "fit", name, (str, os.PathLike, type(None)), "a folder's path")
    if quiet is None:
        quiet = not in_notebook()
    return run_training(checked, train, out=out, resume=resume, backend=backend, dtype=dtype, quiet=quiet,
                        overwrite=overwrite, loggers=make_loggers(list(log)))


def evaluate(checked: CheckedSpec, checkpoint: str | os.PathLike, data: str | None = None, train: str | None = None,
             backend: str = "numpy") -> dict:
    """What `nngraph eval` prints, as a dict: a trained checkpoint's metrics on each split of its train block's
    data ({"train": {...}, "validation": ..., "test": ...}), or with `data` (a data call as `--data` takes it:
    "digits(limit=100)", "new.csv") on all of that set, under "data". The train block is the run's unless `train`
    names one; a setting of `checked` that differs from the run's is named in a CheckpointWarning."""
    from nngraph.session import run_evaluation

    _expect_checked(checked, "evaluate")
    _expect(checkpoint, "evaluate", "checkpoint", (str, os.PathLike), "a checkpoint.npz's path")
    _expect(data, "evaluate", "data", (str, type(None)), 'a data call, e.g. "digits(limit=100)"')
    _expect(train, "evaluate", "train", (str, type(None)), "a train block's name")
    train = train or recorded_run(checkpoint)[0]
    return run_evaluation(checked, train, checkpoint, backend, data=None if data is None else data_option(data))


def predict(checked: CheckedSpec, checkpoint: str | os.PathLike, x, unit: str | None = None,
            train: str | None = None, backend: str = "numpy"):
    """What `nngraph predict` saves, returned: the values of `unit` (default: what the method predicts, for
    backprop the output) for the examples of `x` (an array, one example a row), prepared as the training data
    was (binarised, reshaped, scaled with the training split's statistics)."""
    import numpy as np

    from nngraph.session import predict_values

    _expect_checked(checked, "predict")
    _expect(checkpoint, "predict", "checkpoint", (str, os.PathLike), "a checkpoint.npz's path")
    _expect(unit, "predict", "unit", (str, type(None)), "a unit's name")
    _expect(train, "predict", "train", (str, type(None)), "a train block's name")
    train = train or recorded_run(checkpoint)[0]
    return predict_values(checked, train, checkpoint, np.asarray(x), unit, backend)
