"""One entry point for both surfaces: the file suffix picks the reader."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nngraph.errors import SourceError, Span
from nngraph.safe_files import refuse_if_special
from nngraph.spec import ast
from nngraph.spec.format import format_commented
from nngraph.spec.parser import Comment, parse, parse_commented, read_source, source_refusal
from nngraph.spec.yaml_surface import parse_yaml, parse_yaml_commented, to_yaml

READERS: dict[str, Callable[[str, str], ast.Spec]] = {
    ".nn": parse,
    ".yaml": parse_yaml,
    ".yml": parse_yaml,
}
COMMENTED_READERS = {".nn": parse_commented, ".yaml": parse_yaml_commented, ".yml": parse_yaml_commented}
WRITERS: dict[str, Callable[[ast.Spec, tuple[Comment, ...]], str]] = {"nn": format_commented, "yaml": to_yaml}


def load_spec(path: str | os.PathLike) -> ast.Spec:
    """Read and parse a `.nn` or `.yaml`/`.yml` spec file."""
    return _read(path, READERS)


def load_commented(path: str | os.PathLike) -> tuple[ast.Spec, tuple[Comment, ...]]:
    """Read and parse a spec file, and its comments (what `convert` carries over)."""
    return _read(path, COMMENTED_READERS)


def _read(path: str | os.PathLike, readers: dict):
    refuse_if_special(path, source_refusal(path))  # a device or a FIFO first: its error shows no line
    _reader_for(str(path))  # before reading: a wrong suffix is the clearer error
    return readers[Path(path).suffix.lower()](read_source(path), str(path))


def load_spec_text(text: str, path: str) -> ast.Spec:
    """Parse spec text; `path` names the file (its suffix picks the surface)."""
    return _reader_for(path)(text, path)


def convert(spec: ast.Spec, to: str, comments: tuple[Comment, ...] = ()) -> str:
    """The spec as text on the other surface: `to` is "nn" or "yaml". `comments` (positions in `spec.source`)
    are written where they were, as .nn or YAML comments."""
    if to not in WRITERS:
        raise ValueError(f"cannot convert to {to!r}; expected one of: {', '.join(WRITERS)}")
    return WRITERS[to](spec, comments)


def surface_of(path: str) -> str:
    """The surface a file name asks for: "nn" or "yaml"."""
    _reader_for(path)
    return "nn" if Path(path).suffix.lower() == ".nn" else "yaml"


def _reader_for(path: str) -> Callable[[str, str], ast.Spec]:
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        raise SourceError(
            f"{path}: unknown spec suffix {suffix or '(none)'!r}",
            Span(path, 1, 1),
            "name the file NAME.nn (the .nn surface) or NAME.yaml / NAME.yml (the YAML surface)",
        )
    return READERS[suffix]
