"""The column rules of `nngraph fmt`, on plain lines of .nn text (`format.py` decides which lines form a run).

- `padded_first_words`: the first words of a run of lines padded to one width, so what follows starts in one
  column (`input  x[2]` / `layer  h[4] tanh` / `output y[1]`).
- `wrapped`: a line longer than `LINE_LIMIT` broken after the commas between a call's arguments (the next
  line starting under the call's first argument) or, in a chain of links, before an arrow (the next line
  starting under the chain's first arrow), each break a `\\` continuation (the lexer skips a backslash before
  a newline).
- `comment_column`: where the trailing comments of a run of lines start: the author's column when it leaves
  at least `COMMENT_GAP` spaces after every line's code, else that gap after the longest.
"""

from __future__ import annotations

import bisect
import re
from typing import NamedTuple

LINE_LIMIT = 110
COMMENT_GAP = 2
_CONTINUATION = " \\"
_ARROW = re.compile(r"<?-> ")


def padded_first_words(texts: list[str], minimum: int = 0) -> list[str]:
    """`texts` (without indent) with their first words padded to the longest of them, and to `minimum`."""
    width = max([minimum] + [len(text.split(" ", 1)[0]) for text in texts])
    return [_padded(text, width) for text in texts]


def _padded(text: str, width: int) -> str:
    word, space, rest = text.partition(" ")
    return f"{word.ljust(width)} {rest}" if space else word


class Break(NamedTuple):
    """A place a line may break: the next physical line starts at `at` (after the space there), in the column
    of character `hang`; `depth` counts the brackets around it (the shallowest breaks are taken first)."""

    at: int
    hang: int
    depth: int


def wrapped(text: str, limit: int = LINE_LIMIT) -> list[str]:
    """`text` (a line of code, indent included) as physical lines of at most `limit` characters where its
    breaks allow, each line but the last ended by ` \\`. Of the breaks that fit, the shallowest are taken (a
    chain's arrows before its calls' arguments, a call's arguments before those of a call inside it), then
    those of the leftmost call (the least indented continuation), then the last. What no break can shorten
    is left long."""
    if len(text) <= limit:
        return [text]
    breaks = line_breaks(text)
    rows, starts, columns = [], [0], [0]  # where each physical line starts: its index in text, its column
    start, column, first = 0, 0, 0  # breaks[first:] are the breaks after `start`
    while column + len(text) - start > limit:
        while first < len(breaks) and breaks[first].at <= start:
            first += 1
        if first == len(breaks):
            break
        end = first  # breaks[first:end] fit on this line
        while end < len(breaks) and column + (breaks[end].at - 1 - start) + len(_CONTINUATION) <= limit:
            end += 1
        chosen = max(breaks[first:end], key=lambda b: (-b.depth, -b.hang, b.at)) if end > first else breaks[first]
        rows.append(" " * column + text[start: chosen.at - 1] + _CONTINUATION)
        start, column = chosen.at, _column_of(chosen.hang, starts, columns)
        starts.append(start)
        columns.append(column)
    return rows + [" " * column + text[start:]]


def _column_of(index: int, starts: list[int], columns: list[int]) -> int:
    """The column at which character `index` of the text stands, its physical lines starting at `starts`."""
    line = bisect.bisect_right(starts, index) - 1
    return columns[line] + index - starts[line]


def line_breaks(text: str) -> list[Break]:
    """Where `text` may break, in order: after each `, ` between the arguments of a call (not inside a list or a
    parenthesised value within it), the next line under the call's first argument; and before each arrow of a
    connection but its first, the next line under the first arrow. Strings are skipped (they are JSON-quoted,
    so a `\\` escapes the next character)."""
    breaks, stack, in_string, escaped, first_arrow = [], [], False, False, None
    for index, char in enumerate(text):
        if in_string:
            in_string, escaped = (escaped or char != '"'), (not escaped and char == "\\")
        elif char == '"':
            in_string = True
        elif char in "([":
            is_call = char == "(" and (text[index - 1].isalnum() or text[index - 1] == "_")
            stack.append((index, is_call))
        elif char in ")]":
            stack.pop()
        elif char == "," and stack and stack[-1][1]:
            breaks.append(Break(index + 2, stack[-1][0] + 1, len(stack)))
        elif not stack and _ARROW.match(text, index) and text[index - 1] == " ":
            if first_arrow is not None:
                breaks.append(Break(index, first_arrow, 0))
            first_arrow = index if first_arrow is None else first_arrow
    return breaks


def comment_column(code_widths: list[int], written: int) -> int:
    """The column of a run of trailing comments after code lines `code_widths` long: `written` (where the
    author put the run's first one) if it leaves the gap after every line, else the gap after the longest."""
    needed = max(code_widths) + COMMENT_GAP
    return max(written, needed)
