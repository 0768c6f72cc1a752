"""One entry point for both surfaces: the file suffix picks the reader."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nngraph.errors import SourceError, Span
from nngraph.safe_files import refuse_if_special
from nngraph.spec import ast
from nngraph.spec.format import format_spec
from nngraph.spec.parser import parse, read_source, source_refusal
from nngraph.spec.yaml_surface import parse_yaml, to_yaml

READERS: dict[str, Callable[[str, str], ast.Spec]] = {
    ".nn": parse,
    ".yaml": parse_yaml,
    ".yml": parse_yaml,
}
WRITERS: dict[str, Callable[[ast.Spec], str]] = {"nn": format_spec, "yaml": to_yaml}


def load_spec(path: str | os.PathLike) -> ast.Spec:
    """Read and parse a `.nn` or `.yaml`/`.yml` spec file."""
    refuse_if_special(path, source_refusal(path))  # a device or a FIFO first: its error shows no line
    reader = _reader_for(str(path))  # before reading: a wrong suffix is the clearer error
    return reader(read_source(path), str(path))


def load_spec_text(text: str, path: str) -> ast.Spec:
    """Parse spec text; `path` names the file (its suffix picks the surface)."""
    return _reader_for(path)(text, path)


def convert(spec: ast.Spec, to: str) -> str:
    """The spec as text on the other surface: `to` is "nn" or "yaml"."""
    if to not in WRITERS:
        raise ValueError(f"cannot convert to {to!r}; expected one of: {', '.join(WRITERS)}")
    return WRITERS[to](spec)


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
