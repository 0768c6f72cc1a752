"""Diagnostics as compilers print them: `path:line:col: error: message`, the line, a caret, a hint.

The line comes from the source text the caller passes (what the loader read), else from the file itself, read
only where it is a regular file within the spec size cap: a diagnostic about `/dev/zero` or a FIFO must not
read it again (or hang on it) to show a line. On a terminal the line is highlighted as an editor would show it
(the .nn lexer, nngraph/spec/highlight.py, through rich); never in a pipe or a file, nor where NO_COLOR is set
or TERM is dumb.
"""

from __future__ import annotations

import os
import sys

from nngraph.errors import Diagnostic, NngraphError, plural

MAX_LINE_SHOWN = 200


def render_diagnostic(d: Diagnostic, sources: dict[str, str], colour: bool | None = None) -> str:
    """The diagnostic's lines; `colour` highlights the source line (None: where stderr is a terminal)."""
    span = d.span
    if span is None or span.line < 1:
        head = f"{d.severity}: {d.message}"
        return head + (f"\n  hint: {d.hint}" if d.hint else "")
    lines = [f"{span.path}:{span.line}:{span.column}: {d.severity}: {d.message}"]
    text = _source_line(sources, span.path, span.line)
    if text is not None:
        shown = text.expandtabs(1)[:MAX_LINE_SHOWN]
        width = 1
        if span.end_line == span.line and span.end_column > span.column:
            width = span.end_column - span.column
        col = min(max(span.column, 1), len(shown) + 1)
        width = max(1, min(width, len(shown) - col + 1))
        if colour is None:
            colour = stderr_is_a_terminal()
        lines.append(f"  {coloured(shown) if colour else shown}")
        lines.append("  " + " " * (col - 1) + "^" + "~" * (width - 1))
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def stderr_is_a_terminal() -> bool:
    """Colours for people only: a terminal that has not asked for none (https://no-color.org)."""
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR") and \
        os.environ.get("TERM") != "dumb"


def coloured(line: str) -> str:
    """`line` with ANSI colours from the .nn lexer (plain where the lexer cannot be loaded)."""
    try:
        from rich.console import Console
        from rich.syntax import Syntax

        from nngraph.spec.highlight import NngraphLexer
    except ImportError:  # pygments comes with rich; without either the line stays plain
        return line
    text = Syntax(line, NngraphLexer(), theme="ansi_dark", background_color="default").highlight(line)
    text.rstrip()
    console = Console(force_terminal=True, color_system="standard", width=len(line) + 1)
    with console.capture() as captured:
        console.print(text, end="", soft_wrap=True, highlight=False)
    return captured.get()


def _source_line(sources: dict[str, str], path: str, line: int) -> str | None:
    if path not in sources:
        sources[path] = read_shown_source(path)  # None is remembered too: one attempt per file
    text = sources[path]
    if text is None:
        return None
    rows = text.splitlines()
    return _printable(rows[line - 1]) if 0 < line <= len(rows) else None


def read_shown_source(path: str) -> str | None:
    """A spec's text for showing its lines, or None: read through the one door for user files
    (`safe_files`), so only a regular file within the spec size cap is read, never a device or a FIFO."""
    from nngraph.errors import NngraphError
    from nngraph.safe_files import read_bytes
    from nngraph.spec.parser import MAX_SOURCE_BYTES

    try:
        return read_bytes(path, MAX_SOURCE_BYTES).decode("utf-8-sig", errors="replace")
    except (NngraphError, ValueError):  # ValueError: a NUL in the name
        return None


def _printable(line: str) -> str:
    """Control characters (a binary file's bytes) are shown escaped, never sent to the terminal."""
    return "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" if ord(c) < 256 else "?"
                   for c in line)


def render_error(err: NngraphError, sources: dict[str, str] | None = None, warnings=(),
                 colour: bool | None = None) -> str:
    """The warnings, then every error of `err`; several end with their count (and how many the cap cut).
    `colour` as for `render_diagnostic`."""
    sources = dict(sources or {})
    parts = [render_diagnostic(w, sources, colour) for w in warnings]
    parts += [render_diagnostic(d, sources, colour) for d in err.diagnostics]
    shown, cut = len(err.diagnostics), getattr(err, "cut", 0)
    if cut:
        parts.append(f"{plural(shown + cut, 'error')}; the first {shown} are shown")
    elif shown > 1:
        parts.append(plural(shown, "error"))
    return "\n".join(parts)
