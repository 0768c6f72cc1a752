"""The parser, built once: from tables saved beside the grammar when they match it, else from the grammar.

Building the LALR tables costs 60-200 ms, a large part of `nngraph check`'s start-up; loading saved ones costs
about 20 ms. The tables are plain JSON (never a pickle), stamped with a hash of the grammar and the Lark version,
and ignored when either differs. `python -m nngraph.spec.tables` rewrites them after a grammar change (a test
fails until that is done).
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import lark
from lark import Lark

START_RULES = ("start", "statement_only", "value_only", "setting_only")
TABLES_NAME = "nngraph.tables.json"
_SOURCE_GRAMMAR = Path(__file__).resolve().parents[2] / "grammar"


def _grammar_file(name: str):
    """Inside the wheel (nngraph/grammar/) or, in a source checkout, the top-level grammar/ folder."""
    packaged = resources.files("nngraph").joinpath(f"grammar/{name}")
    return packaged if packaged.is_file() else _SOURCE_GRAMMAR / name


def grammar_text() -> str:
    return _grammar_file("nngraph.lark").read_text(encoding="utf-8")


def stamp(text: str) -> str:
    return hashlib.sha256(f"{lark.__version__}\n{text}".encode()).hexdigest()


# The grammar ignores comments, so the parser never sees them; the lexer hands each to this callback on its
# way past, and `collecting_comments` keeps them for the formatter. One parser serves every thread, hence a
# thread-local list (None outside `collecting_comments`: a plain parse keeps nothing).
_collecting = threading.local()


def _keep_comment(token):
    found = getattr(_collecting, "comments", None)
    if found is not None:
        found.append(token)
    return token


LEXER_CALLBACKS = {"COMMENT": _keep_comment}


@contextmanager
def collecting_comments():
    """The COMMENT tokens the lexer passes over inside the `with`, in source order."""
    previous = getattr(_collecting, "comments", None)
    _collecting.comments = found = []
    try:
        yield found
    finally:
        _collecting.comments = previous


def build_parser(text: str, callbacks=LEXER_CALLBACKS) -> Lark:
    return Lark(text, parser="lalr", propagate_positions=True, start=list(START_RULES), lexer_callbacks=callbacks)


def load_parser() -> Lark:
    text = grammar_text()
    saved = _grammar_file(TABLES_NAME)
    try:
        tables = json.loads(saved.read_text(encoding="utf-8"))
        if tables.get("stamp") == stamp(text):
            data = _decode(tables["parser"])
            return Lark._load_from_dict(data["data"], data["memo"], lexer_callbacks=LEXER_CALLBACKS)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # missing, stale or from another Lark: build from the grammar instead
    return build_parser(text)


def write_tables(path: Path | None = None) -> Path:
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    text = grammar_text()
    # The comment callback is a function, which JSON cannot hold: the tables are saved without it, load adds it.
    data, memo = build_parser(text, callbacks={}).memo_serialize([TerminalDef, Rule])
    path = path or _SOURCE_GRAMMAR / TABLES_NAME
    payload = {"stamp": stamp(text), "parser": _encode({"data": data, "memo": memo})}
    path.write_text(json.dumps(payload, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


# JSON has no tuples and only string keys; the tables have both, so they are spelled out.


def _encode(value):
    if isinstance(value, dict):
        return {"d": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot save a {type(value).__name__} in the parser tables")


def _decode(value):
    if isinstance(value, dict):
        if "d" in value:
            return {_decode(k): _decode(v) for k, v in value["d"]}
        return tuple(_decode(v) for v in value["t"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


if __name__ == "__main__":
    print(f"wrote {write_tables()}")
