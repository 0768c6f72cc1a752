"""`nngraph fmt FILE...`: specs rewritten in the canonical layout, comments kept (`spec/format.py`)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from nngraph.errors import NngraphError, SourceError, Span


def format_files(paths: list[Path], check: bool = False, out=None, err=None) -> int:
    """Rewrite each spec that is not in the canonical layout (with `check`: only name it). 0 when every file
    was (or, without `check`, now is) formatted; 1 when a file failed to read or parse (it is left as it was,
    its error printed as `check` prints it) or, with `check`, would change."""
    from nngraph.cli.render import render_error

    out, err = out or sys.stdout, err or sys.stderr
    failed = False
    for path in paths:
        try:
            changed = _format_file(path, write=not check)
        except NngraphError as e:
            print(render_error(e), file=err)
            failed = True
            continue
        if changed:
            print(f"{'would reformat' if check else 'formatted'} {path}", file=out)
            failed = failed or check
    return 1 if failed else 0


def _format_file(path: Path, write: bool) -> bool:
    """Whether the file's text differs from its formatted text; written (atomically) when `write`."""
    from nngraph.atomic import atomic_write_text
    from nngraph.safe_files import refuse_if_special
    from nngraph.spec.format import format_source
    from nngraph.spec.parser import read_source, source_refusal

    refuse_if_special(path, source_refusal(path))
    _refuse_yaml(path)
    text = read_source(path)
    formatted = format_source(text, str(path))
    if formatted == text:
        return False
    if write:
        target = Path(os.path.realpath(path))  # a symbolic link stays one: the file it names is rewritten
        mode = stat.S_IMODE(target.stat().st_mode)
        atomic_write_text(target, formatted)
        os.chmod(target, mode)  # the file's own mode, not a new file's
    return True


def _refuse_yaml(path: Path) -> None:
    """YAML specs are left to YAML's tools: their layout is YAML's, and the .nn fragments inside are single
    statements and values, which the YAML reader already accepts in any spacing. Another suffix is refused as
    `check` refuses it."""
    from nngraph.spec.load import surface_of

    if surface_of(str(path)) != "nn":
        raise SourceError("fmt formats .nn specs only; this is a YAML spec", Span(str(path), 1, 1),
                          "a YAML spec keeps its own layout; `nngraph convert SPEC -o OUT.nn` gives its .nn form")
