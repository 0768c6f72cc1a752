"""Diagnostics as compilers print them: `path:line:col: error: message`, the line, a caret, a hint."""

from __future__ import annotations

from nngraph.errors import Diagnostic, NngraphError

MAX_LINE_SHOWN = 200


def render_diagnostic(d: Diagnostic, sources: dict[str, str]) -> str:
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
        lines.append(f"  {shown}")
        lines.append("  " + " " * (col - 1) + "^" + "~" * (width - 1))
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def _source_line(sources: dict[str, str], path: str, line: int) -> str | None:
    text = sources.get(path)
    if text is None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return None
        sources[path] = text
    rows = text.splitlines()
    return _printable(rows[line - 1]) if 0 < line <= len(rows) else None


def _printable(line: str) -> str:
    """Control characters (a binary file's bytes) are shown escaped, never sent to the terminal."""
    return "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" if ord(c) < 256 else "?"
                   for c in line)


def render_error(err: NngraphError, sources: dict[str, str] | None = None, warnings=()) -> str:
    sources = dict(sources or {})
    parts = [render_diagnostic(w, sources) for w in warnings]
    parts += [render_diagnostic(d, sources) for d in err.diagnostics]
    count = len(err.diagnostics)
    if count > 1:
        parts.append(f"{count} errors")
    return "\n".join(parts)
