"""The table of loaders: each data set name, the options it takes, and the function that makes it.

Loaders register themselves with `@register(name, options)`; a loader receives a `Request`
holding its checked options and everything needed to resolve paths and report errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nngraph.data.dataset import Dataset
from nngraph.data.options import Bound, Option
from nngraph.errors import DataError, Span, lookalikes
from nngraph.safe_files import about_bytes, available_memory, describe_bytes

SCALINGS = ("none", "standard", "minmax")

# Options that transform float inputs; `load_dataset` applies them after the loader, except
# `scale`, whose statistics must come from the training part (see `split_dataset`).
SCALED = {"scale": Option("choice", "none", choices=SCALINGS)}
FEATURES = {**SCALED, "binarize": Option("float"), "shape": Option("ints")}
SEEDED = {"seed": Option("int", minimum=0)}
LIMITED = {"limit": Option("int", minimum=1)}


@dataclass(frozen=True)
class Request:
    """What a loader gets: its options, the call (for error positions) and where paths start."""

    name: str
    options: Bound
    span: Span | None
    base_dir: Path
    seed: int
    base_is: str = "the spec's folder"  # what `base_dir` is, for hints: `eval --data` reads from the current one
    dtype: np.dtype | type = np.float32  # the run's: the loader's inputs and float targets are made in it
    sequences: bool = False  # for a recurrent model: integer targets (n, T) beside (n, T, features) label each step

    def __getitem__(self, option: str):
        return self.options[option]

    def rng(self) -> np.random.Generator:
        seed = self.options.values.get("seed")
        return np.random.default_rng(self.seed if seed is None else seed)

    def expect_room(self, rows: int, values: int, option: str = "n") -> None:
        """A generated set of `rows` examples of `values` numbers each, drawn in float64 before the cast to the run's
        type, must fit in the memory available: refused at `option` before anything is drawn (`n=1e30` was
        numpy's 'Maximum allowed dimension exceeded', exit 70; `n=10000000000` ran into a MemoryError)."""
        need, limit = rows * values * 8, available_memory()
        if need > limit:
            raise self.error(f"{self.name}: {rows:,} examples of {values:,} values need {about_bytes(need)}; "
                             f"{describe_bytes(limit)} is available", "generate fewer or smaller examples",
                             option)

    def error(self, message: str, hint: str | None = None, option: str | None = None) -> DataError:
        """A DataError at the named option's value where it was given, else at the call."""
        node = self.options.nodes.get(option) if option else None
        return DataError(message, node.span if node is not None else self.span, hint)

    def path(self, option: str = "path") -> Path:
        """The file an option names, relative to `base_dir`; it must exist and be a file."""
        path = self._existing(option, "file")
        if path.is_dir():
            raise self.error(f"{self.name}: {path} is a folder, not a file")
        return path

    def folder(self, option: str = "path") -> Path:
        path = self._existing(option, "folder")
        if not path.is_dir():
            raise self.error(f"{self.name}: {path} is a file; {option}= names a folder")
        return path

    def _existing(self, option: str, what: str) -> Path:
        raw = self[option]
        if raw is None:
            raise self.error(f'{self.name} needs a {what}: write {self.name}({option}="...")')
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        if not path.exists():
            hint = lookalikes(raw) or f"relative paths start at {self.base_is} ({self.base_dir})"
            raise self.error(f"{self.name}: no such {what}: {path}", hint)
        return path

    def limited(self, data: Dataset) -> Dataset:
        """The first `limit` examples, when the option is there and set."""
        limit = self.options.values.get("limit")
        return data if limit is None or limit >= len(data) else data.take(np.arange(limit))


@dataclass(frozen=True)
class Loader:
    name: str
    make: Callable[[Request], Dataset]
    options: dict[str, Option]
    positional: tuple[str, ...]
    doc: str


LOADERS: dict[str, Loader] = {}


def register(name: str, options: dict[str, Option], positional: tuple[str, ...] = ()):
    """Add a loader to the table under `name` (the word a spec writes after `data`)."""

    def add(make: Callable[[Request], Dataset]):
        LOADERS[name] = Loader(name, make, dict(options), positional, make.__doc__ or "")
        return make

    return add
