"""Build `data ...` settings the way a spec writes them, and check where errors point."""

from __future__ import annotations

from pathlib import Path

import pytest

from nngraph.data import Dataset, load_dataset
from nngraph.errors import DataError
from nngraph.spec.parser import parse

DATA_LINE = 3
DATA_COLUMN = len("  data ") + 1  # where the text after `data` starts


def data_setting(text: str):
    """The `data` setting of a tiny spec whose train block reads `data <text>`."""
    spec = parse(f"model m {{ input x[2] }}\ntrain {{\n  data {text}\n}}\n", "spec.nn")
    return spec.trains[0].get("data")


def load(text: str, base_dir: Path | str = ".", seed: int = 0, dtype: str = "float32") -> Dataset:
    return load_dataset(data_setting(text), Path(base_dir), seed, dtype=dtype)


def load_fails(text: str, match: str, at: str | None = None, base_dir: Path | str = "."):
    """Loading must raise DataError matching `match`, positioned at the fragment `at` of `text`
    (at the start of the call when `at` is None)."""
    with pytest.raises(DataError, match=match) as info:
        load(text, base_dir)
    span = info.value.span
    assert span is not None and span.path == "spec.nn"
    assert (span.line, span.column) == (DATA_LINE, DATA_COLUMN + (text.index(at) if at else 0))
    return info.value
