"""Typed options of a data call: the spec layer's `Option` system (nngraph/spec/options.py), whose
refusals are data errors here: a data call's options are checked when the data loads."""

from __future__ import annotations

from nngraph.errors import DataError
from nngraph.spec import ast
from nngraph.spec import options as spec_options
from nngraph.spec.options import Bound, Option

__all__ = ["Bound", "Option", "bind"]


def bind(call: ast.Call, options: dict[str, Option], positional: tuple[str, ...]) -> Bound:
    """Check every argument of `call` against a loader's `options`; unknown or ill-typed ones raise DataError."""
    return spec_options.bind(call, options, positional, DataError)
