"""The column rules of `nngraph fmt`, on plain lines of .nn text (`format.py` decides which lines form a run).

- `padded_first_words`: the first words of a run of lines padded to one width, so what follows starts in one
  column (`input  x[2]` / `layer  h[4] tanh` / `output y[1]`).
- `wrapped`: a line longer than `LINE_LIMIT` broken after the commas between a call's arguments, each break a
  `\\` continuation (the lexer skips a backslash before a newline), the next line starting under the call's
  first argument; each line as full as it can be, broken in the leftmost call that can break there.
- `comment_column`: where the trailing comments of a run of lines start: the author's column when it leaves
  at least `COMMENT_GAP` spaces after every line's code, else that gap after the longest.
"""

from __future__ import annotations

LINE_LIMIT = 110
COMMENT_GAP = 2
_CONTINUATION = " \\"


def padded_first_words(texts: list[str], minimum: int = 0) -> list[str]:
    """`texts` (without indent) with their first words padded to the longest of them, and to `minimum`."""
    width = max([minimum] + [len(text.split(" ", 1)[0]) for text in texts])
    return [_padded(text, width) for text in texts]


def _padded(text: str, width: int) -> str:
    word, space, rest = text.partition(" ")
    return f"{word.ljust(width)} {rest}" if space else word


def wrapped(text: str, limit: int = LINE_LIMIT) -> list[str]:
    """`text` (a line of code, indent included) as physical lines of at most `limit` characters where its
    calls' arguments allow: each line as long as fits with the ` \\` that ends it, broken in the leftmost call
    that can break there (the least indented continuation). An argument longer than a line is left long: a
    line only breaks between arguments."""
    if len(text) <= limit:
        return [text]
    breaks = argument_breaks(text)
    rows, placed = [], [(0, 0)]  # where each physical line starts: (index in text, its column)
    start, column = 0, 0
    while column + len(text) - start > limit:
        later = [b for b in breaks if b[0] > start]
        if not later:
            break
        fitting = [b for b in later if column + (b[0] - 1 - start) + len(_CONTINUATION) <= limit]
        at, paren = max(fitting, key=lambda b: (-b[1], b[0])) if fitting else later[0]
        rows.append(" " * column + text[start: at - 1] + _CONTINUATION)
        start, column = at, _column_of(paren, placed) + 1
        placed.append((start, column))
    return rows + [" " * column + text[start:]]


def _column_of(index: int, placed: list[tuple[int, int]]) -> int:
    """The column at which character `index` of the text stands once its physical lines are `placed`."""
    start, column = max((s, c) for s, c in placed if s <= index)
    return column + index - start


def argument_breaks(text: str) -> list[tuple[int, int]]:
    """Where `text` may break: after each `, ` between the arguments of a call that is not inside another
    bracket, as (the index where the next argument starts, the index of the call's `(`). Strings are skipped
    (they are JSON-quoted, so a `\\` escapes the next character)."""
    breaks, stack, in_string, escaped = [], [], False, False
    for index, char in enumerate(text):
        if in_string:
            in_string, escaped = (escaped or char != '"'), (not escaped and char == "\\")
        elif char == '"':
            in_string = True
        elif char in "([":
            is_call = char == "(" and index > 0 and (text[index - 1].isalnum() or text[index - 1] == "_")
            stack.append((index, is_call))
        elif char in ")]":
            stack.pop()
        elif char == "," and len(stack) == 1 and stack[0][1]:
            breaks.append((index + 2, stack[0][0]))
    return breaks


def comment_column(code_widths: list[int], written: int) -> int:
    """The column of a run of trailing comments after code lines `code_widths` long: `written` (where the
    author put the run's first one) if it leaves the gap after every line, else the gap after the longest."""
    needed = max(code_widths) + COMMENT_GAP
    return written if written >= needed else needed
