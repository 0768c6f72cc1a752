"""Text formats: `csv` tables and plain `text` for character models. Both must be UTF-8."""

from __future__ import annotations

import csv as csvlib
import io
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nngraph.data.arrays import FILE, file_error, from_arrays
from nngraph.data.catalog import LIMITED, Request, register
from nngraph.data.dataset import Dataset
from nngraph.data.options import Option
from nngraph.safe_files import open_regular, read_bytes

# csv rows become Python lists (~50 bytes a cell) and text a code per character: past this, a binary
# format is the better home for the data
MAX_TEXT_BYTES = 64 << 20
FIRST_ROW_LINES = 10_000  # blank lines looked past for a table's first row


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

    The rows are read one at a time into arrays (8 bytes a number): held as lists of strings, a 63 MiB file of
    11 million rows took 3.8 GB and 36 s.
    """
    text = read_text(req)
    names, rows = _table(req, text)
    target = _target_index(req, names) if req["target"] is not None else None
    features = [i for i in range(len(names)) if i != target]
    x, lines, numbers = _numbers(req, rows, names, features, target)
    where = {"sources": (str(req.path()), f"{req.path()} (column '{names[target]}')" if target is not None else ""),
             "lines": lines, "columns": [names[i] for i in features]}
    if req["header"]:
        where["named_columns"] = where["columns"]
    if target is None:
        return from_arrays(req, x, None, **where)
    y, classes = _target_values(req, numbers, _data_rows(req, text, len(names)), target)
    return from_arrays(req, x, y, **where, **classes)


def first_row(path: Path, delimiter: str) -> list[str]:
    """The cells of a csv file's first row that is not blank (its header, where it has one), stripped, reading no
    more of the file than that row; [] where there is none (the loader then says what is wrong)."""
    with open_regular(path) as f:
        for _ in range(FIRST_ROW_LINES):
            line = f.readline(MAX_TEXT_BYTES).decode("utf-8", "replace")
            if not line or line.strip():
                break
    cells = next(csvlib.reader([line], delimiter=delimiter), []) if len(delimiter) == 1 else []
    return [cell.strip() for cell in cells]


def _rows(req: Request, text: str, width: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each line that is not blank, read lazily; every row of `width` cells where given."""
    at = [0]

    def lines():
        for number, line in enumerate(io.StringIO(text, newline=None), 1):
            if line.strip():
                at[0] = number
                yield line

    reader = csvlib.reader(lines(), delimiter=req["delimiter"])
    while True:
        try:
            cells = next(reader, None)
        except csvlib.Error as e:  # a cell of more than csv's 131,072 characters: was exit 70
            raise req.error(f"csv: line {at[0]}: {str(e)[:1].lower()}{str(e)[1:]}",
                            "a cell holds one number; is this file a table of numbers?") from None
        if cells is None:
            return
        if width is not None and len(cells) != width:
            raise req.error(f"csv: line {at[0]} has {len(cells)} columns, expected {width}")
        yield at[0], cells


def _table(req: Request, text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Column names, and the data rows (line, cells) still to be read."""
    if len(req["delimiter"]) != 1:
        raise req.error("csv: delimiter must be one character", option="delimiter")
    first = next(_rows(req, text), None)
    if first is None:
        raise req.error(f"csv: {req.path()} has no data rows")
    names = first[1] if req["header"] else [str(i) for i in range(len(first[1]))]
    return [n.strip() for n in names], _data_rows(req, text, len(names))


def _data_rows(req: Request, text: str, width: int) -> Iterator[tuple[int, list[str]]]:
    rows = _rows(req, text, width)
    if req["header"]:
        next(rows, None)
    return rows


def _numbers(req: Request, rows, names: list[str], features: list[int], target: int | None):
    """The features as an (n, k) float64 array, each row's line, and the target column's numbers (None once a
    cell of it is not a number: its text is read again by `_target_values`)."""
    x, lines, numbers = array("d"), array("q"), array("d") if target is not None else None
    for line, row in rows:
        try:
            x.extend([float(row[i]) for i in features])
        except ValueError:
            for i in features:
                _number(req, row, i, names, line)
        lines.append(line)
        if numbers is not None:
            try:
                numbers.append(float(row[target]))
            except ValueError:
                numbers = None
    if not lines:
        raise req.error(f"csv: {req.path()} has no data rows")
    return np.frombuffer(x, np.float64).reshape(len(lines), len(features)), lines, numbers


def _target_index(req: Request, names: list[str]) -> int:
    target = req["target"]
    if isinstance(target, str):
        if not req["header"]:
            raise req.error(
                "csv: without a header, name the target column by number", option="target"
            )
        if names.count(target) > 1:  # was the first of them, the second read as a feature: "'dog' is not a number"
            columns = [i + 1 for i, name in enumerate(names) if name == target]
            raise req.error(f"csv: the header names {len(columns)} columns '{target}' (columns "
                            f"{', '.join(map(str, columns))}); which is the target?",
                            "rename one of them in the file, or give target= its number (0 = first)", "target")
        if target in names:
            return names.index(target)
        raise req.error(f"csv: {req.path()} has no column '{target}'", "its columns: " + ", ".join(names), "target")
    if -len(names) <= target < len(names):
        return target % len(names)
    raise req.error(
        f"csv: column {target} is out of range", f"{req.path()} has {len(names)} columns", "target"
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


def _target_values(req: Request, numbers, rows, target: int):
    """Whole numbers >= 0 as class labels, other numbers as they are; text (the target column read again from
    `rows`) as class names, numbered in sorted order (one dict look-up a row: `classes.index` per row was
    quadratic in the classes)."""
    if numbers is None:
        if req["task"] == "regression":
            raise req.error("csv: task=regression needs numeric targets", option="task")
        seen, codes = {}, array("q")  # class name -> the order it was first seen in
        for _, row in rows:
            codes.append(seen.setdefault(row[target].strip(), len(seen)))
        classes = sorted(seen)
        rank = {name: i for i, name in enumerate(classes)}
        sorted_code = np.array([rank[name] for name in seen], np.int64)  # `seen` iterates in first-seen order
        return sorted_code[np.frombuffer(codes, np.int64)], {"classes": classes}
    numbers = np.frombuffer(numbers, np.float64)
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
