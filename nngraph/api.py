"""The Python API: load and check specs; compile and train them (see README "Python API").

    import nngraph
    checked = nngraph.load("specs/xor.nn")          # or nngraph.loads(text)
    program = nngraph.program(checked, "xor")       # a Program on numpy, float32
    result = nngraph.fit(checked, out="runs/xor")
"""

from __future__ import annotations

import dataclasses
import os

from nngraph.errors import ValidationError
from nngraph.graph.check import CheckedSpec, check_spec
from nngraph.spec import ast
from nngraph.spec.parser import parse_fragment

SET_PATH = "<--set>"


def parse_spec_file(path: str | os.PathLike) -> ast.Spec:
    from nngraph.spec.load import load_spec

    return load_spec(path)


def parse_spec_text(text: str, path: str = "<string>") -> ast.Spec:
    from nngraph.spec.load import load_spec_text

    return load_spec_text(text, path)


def load(path: str | os.PathLike, overrides: list[str] = (), train: str | None = None) -> CheckedSpec:
    """Parse and check a spec file (.nn or .yaml); `overrides` are `key=value` train settings."""
    spec = parse_spec_file(path)
    return check_spec(apply_overrides(spec, overrides, train)) if overrides else check_spec(spec)


def loads(text: str, path: str = "<string>", fmt: str = "nn") -> CheckedSpec:
    """Parse and check spec text given as a string."""
    if fmt == "yaml":
        from nngraph.spec.yaml_surface import parse_yaml

        return check_spec(parse_yaml(text, path))
    from nngraph.spec.parser import parse

    return check_spec(parse(text, path))


def apply_overrides(spec: ast.Spec, overrides: list[str], train: str | None = None) -> ast.Spec:
    """`--set epochs=5 --set optimizer=adam(lr=1e-3)`: replace or add settings of one train block."""
    trains = [t for t in spec.trains if train is None or t.name == train]
    if not trains:
        raise ValidationError("--set needs a train block to change", None, "the spec has none by that name")
    block = trains[0]
    new: dict[str, ast.Setting] = {}  # by name, in the order of each name's last --set (linear in their number)
    for i, text in enumerate(overrides, 1):
        key, sep, value = text.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValidationError(f"--set expects key=value, got {text!r}", None, "e.g. --set epochs=5")
        parsed = parse_fragment(value.strip() or '""', "value_only", SET_PATH, i, len(key) + 2)
        new.pop(key.strip(), None)
        new[key.strip()] = ast.Setting(key.strip(), parsed, (), parsed.span)
    settings = [s for s in block.settings if s.name not in new] + list(new.values())
    replaced = dataclasses.replace(block, settings=tuple(settings))
    items = tuple(replaced if it is block else it for it in spec.items)
    return dataclasses.replace(spec, items=items)



def program(checked: CheckedSpec, model: str | None = None, backend: str = "numpy", dtype: str = "float32",
            seed: int = 0, train: str | None = None):
    """A Program for one model, with the losses of its train block (if any) attached."""
    from nngraph.backend import get_backend
    from nngraph.compile import compile_model

    config = _train_block_for(checked, model, train)
    name = model or (config.model if config else next(iter(checked.models)))
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
          dtype: str | None = None, quiet: bool = True, overwrite: bool = False) -> dict:
    """Train as the spec's train block says; returns summary.json's content (with "run_dir").
    An `out` folder that holds a run already is refused unless `overwrite`; `resume` continues one."""
    from nngraph.session import run_training

    return run_training(checked, train, out=out, resume=resume, backend=backend, dtype=dtype, quiet=quiet,
                        overwrite=overwrite)
