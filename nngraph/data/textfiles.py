"""Text formats: `csv` tables and plain `text` for character models. Both must be UTF-8."""

from __future__ import annotations

import csv as csvlib

import numpy as np

from nngraph.data.arrays import FILE, file_error, from_arrays
from nngraph.data.catalog import LIMITED, Request, register
from nngraph.data.dataset import Dataset
from nngraph.data.options import Option
from nngraph.safe_files import read_bytes

# csv rows become Python lists (~50 bytes a cell) and text a code per character: past this, a binary
# format is the better home for the data
MAX_TEXT_BYTES = 64 << 20


def read_text(req: Request) -> str:
    """The file's text (a regular file of at most MAX_TEXT_BYTES); bytes that are not UTF-8 are reported
    with their offset."""
    path = req.path()
    raw = read_bytes(path, MAX_TEXT_BYTES, "text data files", file_error(req),
                     "save large data as .npz (numpy.savez) and load it with npz(...)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise req.error(
            f"{req.name}: {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})",
            "save the file as UTF-8",
        ) from None


# ---- csv -------------------------------------------------------------------------------------


@register(
    "csv",
    {
        **FILE,
        "target": Option("column"),
        "header": Option("bool", True),
        "delimiter": Option("str", ","),
    },
    positional=("path",),
)
def csv(req: Request) -> Dataset:
    """A table of numbers: one example per row, every column an input except `target`.

    `target` is a column name (with a header) or a number (0 = first, -1 = last). Without it
    the set is unsupervised. Whole-number targets are class labels, other numbers regression
    targets (task= forces either); text targets are class names, numbered in sorted order
    (`info["classes"]`). Blank lines are skipped; every other row needs every column.
    """
    names, rows, lines = _table(req)
    target = _target_index(req, names) if req["target"] is not None else None
    features = [i for i in range(len(names)) if i != target]
    x = np.array(
        [[_number(req, row, i, names, line) for i in features] for line, row in zip(lines, rows)],
        np.float64,
    )
    where = {"sources": (str(req.path()), f"{req.path()} (column '{names[target]}')" if target is not None else ""),
             "lines": lines, "columns": [names[i] for i in features]}
    if target is None:
        return from_arrays(req, x, None, **where)
    y, classes = _target_values(req, [row[target] for row in rows])
    return from_arrays(req, x, y, **where, **classes)


def _table(req: Request) -> tuple[list[str], list[list[str]], list[int]]:
    """Column names, data rows and each data row's line in the file."""
    if len(req["delimiter"]) != 1:
        raise req.error("csv: delimiter must be one character", option="delimiter")
    numbered = [(i + 1, line) for i, line in enumerate(read_text(req).splitlines()) if line.strip()]
    rows = list(csvlib.reader([line for _, line in numbered], delimiter=req["delimiter"]))
    if not rows or (req["header"] and len(rows) == 1):
        raise req.error(f"csv: {req.path()} has no data rows")
    names = rows[0] if req["header"] else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if req["header"] else rows
    lines = [n for n, _ in numbered][1 if req["header"] else 0 :]
    for line, row in zip(lines, body):
        if len(row) != len(names):
            raise req.error(f"csv: line {line} has {len(row)} columns, expected {len(names)}")
    return [n.strip() for n in names], body, lines


def _target_index(req: Request, names: list[str]) -> int:
    target = req["target"]
    if isinstance(target, str):
        if not req["header"]:
            raise req.error(
                "csv: without a header, name the target column by number", option="target"
            )
        if target in names:
            return names.index(target)
        raise req.error(f"csv: no column '{target}'", "columns: " + ", ".join(names), "target")
    if -len(names) <= target < len(names):
        return target % len(names)
    raise req.error(
        f"csv: column {target} is out of range", f"the table has {len(names)} columns", "target"
    )


def _number(req: Request, row: list[str], column: int, names: list[str], line: int) -> float:
    cell = row[column].strip()
    try:
        return float(cell)
    except ValueError:
        raise req.error(
            f"csv: line {line}, column '{names[column]}': {cell!r} is not a number",
            "every column but the target must hold numbers",
        ) from None


def _target_values(req: Request, cells: list[str]):
    cells = [c.strip() for c in cells]
    try:
        numbers = np.array([float(c) for c in cells])
    except ValueError:
        if req["task"] == "regression":
            raise req.error("csv: task=regression needs numeric targets", option="task") from None
        classes = sorted(set(cells))
        return np.array([classes.index(c) for c in cells], np.int64), {"classes": classes}
    with np.errstate(invalid="ignore"):  # inf's remainder is NaN; from_arrays then names the infinite target's line
        whole = np.all(np.mod(numbers, 1) == 0) and numbers.min() >= 0
    return (numbers.astype(np.int64) if whole else numbers), {}


# ---- text --------------------------------------------------------------------------------------


@register(
    "text",
    {**LIMITED, "path": Option("path"), "length": Option("int", 100, minimum=1)},
    positional=("path",),
)
def text(req: Request) -> Dataset:
    """Character sequences for next-character prediction.

    vocabulary = the sorted set of characters in the file; a character's code is its index.
    The text is cut into consecutive, non-overlapping windows of `length` characters:
    x[i] = codes[i*T : (i+1)*T], y[i] = codes[i*T + 1 : (i+1)*T + 1] (x shifted by one),
    both int64 of shape (n, T) with n = (characters - 1) // T; a shorter tail is dropped.
    """
    content, length = read_text(req), req["length"]
    if len(content) < length + 1:
        raise req.error(
            f"text: {req.path()} has {len(content)} characters; length={length} needs "
            f"at least {length + 1}",
            "use a shorter length or a longer text",
        )
    # one code point per character, without a Python object per character (a list of them was ~60x the text)
    points = np.frombuffer(content.encode("utf-32-le"), np.uint32)
    alphabet, codes = np.unique(points, return_inverse=True)
    vocabulary = "".join(map(chr, alphabet))
    codes = codes.astype(np.int64)
    n = (len(codes) - 1) // length
    x = codes[: n * length].reshape(n, length)
    y = codes[1 : n * length + 1].reshape(n, length)
    data = Dataset(x, y, "text", len(vocabulary), vocabulary=vocabulary, name="text")
    return req.limited(data)
