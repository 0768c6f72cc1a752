"""Highlighting for `.nn` specs, from the parser's own words: a Pygments lexer (`pygmentize -l nngraph`, Sphinx
and mkdocs code blocks, the source line of an error message on a terminal) and a TextMate grammar for editors
(editors/vscode: VS Code, and any editor that reads TextMate grammars).

Both come from one table of rules (`RULES`). Their words and patterns are the parser's: the keywords, the
operators and the patterns of names, numbers, strings and comments are the grammar's terminals
(grammar/nngraph.lark, through the parser built from it), and the builtin words are the vocabulary's
(nngraph/graph/vocabulary.py, plain data: every word list there, the roles, the settings and the rest: activations,
cells, norms, edge kinds, optimizers, schedules, losses...) and the method registry's names (graph/methods.py). A
word or a list added there is highlighted here. `python -m nngraph.spec.highlight`
rewrites the TextMate grammar; tests/spec/test_highlight.py fails while the saved one differs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from nngraph.graph import vocabulary as v
from nngraph.graph.methods import METHODS
from nngraph.spec.tables import load_parser

TEXTMATE_PATH = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "syntaxes" / "nngraph.tmLanguage.json"


def _terminals() -> tuple[dict[str, str], set[str], list[str]]:
    """The grammar's terminals: (named patterns by name, its keywords, its operator and punctuation strings)."""
    patterns, keywords, symbols = {}, set(), []
    for terminal in load_parser().terminals:
        value = terminal.pattern.value
        if terminal.pattern.type == "re":
            patterns[terminal.name] = value
        elif value.isidentifier():
            keywords.add(value)
        else:
            symbols.append(value)
    return patterns, keywords, symbols


def vocabulary_lists() -> dict[str, set[str]]:
    """Every word list of the vocabulary (its upper-case tuples and dicts), by name: its words."""
    lists = {name: {w for w in value if isinstance(w, str) and w.isidentifier()}
             for name, value in vars(v).items() if name.isupper() and isinstance(value, (tuple, dict))}
    return lists | {"METHODS": set(METHODS)}  # the method registry's names (graph/methods.py)


SETTING_LISTS = ("TRAIN_SETTINGS", "UNIT_FLAGS", "UNIT_SETTINGS")  # the rest name things: builtins
PATTERNS, _GRAMMAR_WORDS, _SYMBOLS = _terminals()
NAME = PATTERNS["NAME"]
ROLES = tuple(v.ROLES)
KEYWORDS = tuple(sorted(_GRAMMAR_WORDS - set(ROLES)))  # model, block, train, use, delay
DECLARING = ("model", "block", "train", "use")  # keywords whose next word is a name being defined
_LISTS = vocabulary_lists()
BUILTINS = tuple(sorted(set().union(*(words for name, words in _LISTS.items() if name not in SETTING_LISTS))
                        - set(KEYWORDS) - set(ROLES)))
SETTINGS = tuple(sorted(set().union(*(_LISTS[name] for name in SETTING_LISTS)) - set(KEYWORDS) - set(BUILTINS)))
OPERATORS = "|".join(re.escape(s) for s in ("<->", "->", *(s for s in _SYMBOLS if s in "~=+-*")))
PUNCTUATION = "[" + "".join(re.escape(s) for s in _SYMBOLS if s not in "~=+-*") + "]"


def _words(items) -> str:
    return r"\b(?:" + "|".join(sorted(items, key=lambda w: (-len(w), w))) + r")\b"


# (pattern, Pygments token or a list for its groups, TextMate scope or a list for its groups); the first that
# matches wins
RULES = [
    (PATTERNS["COMMENT"], Comment.Single, "comment.line.number-sign.nngraph"),
    (PATTERNS["ESCAPED_STRING"], String.Double, "string.quoted.double.nngraph"),
    (rf"({_words(DECLARING)})([ \t]+)({NAME})", [Keyword, Whitespace, Name.Class],
     ["keyword.control.nngraph", None, "entity.name.type.nngraph"]),
    (rf"({_words(ROLES)})([ \t]+)({NAME})", [Keyword.Declaration, Whitespace, Name.Variable],
     ["storage.type.nngraph", None, "variable.other.definition.nngraph"]),
    (rf"{NAME}(?=[ \t]*=)", Name.Attribute, "variable.parameter.nngraph"),  # `lr=0.1`, `dropout=0.3`
    (_words(KEYWORDS), Keyword, "keyword.control.nngraph"),
    (_words(ROLES), Keyword.Declaration, "storage.type.nngraph"),
    (_words(BUILTINS), Name.Builtin, "support.function.nngraph"),
    (_words(SETTINGS), Name.Attribute, "variable.parameter.nngraph"),
    (NAME, Name, "variable.other.nngraph"),  # so that no rule matches inside a name (the 2 of `h2`)
    (PATTERNS["NUMBER"], Number, "constant.numeric.nngraph"),
    (OPERATORS, Operator, "keyword.operator.nngraph"),
    (PUNCTUATION, Punctuation, "punctuation.separator.nngraph"),
]


class NngraphLexer(RegexLexer):
    """The nngraph spec language (.nn)."""

    name = "nngraph"
    aliases = ["nngraph"]
    filenames = ["*.nn"]
    tokens = {"root": [(r"\s+|\\\r?\n", Whitespace)] +
              [(pattern, bygroups(*token) if isinstance(token, list) else token) for pattern, token, _ in RULES]}


def textmate_grammar() -> dict:
    """The TextMate grammar of the same rules (Oniguruma reads these Python patterns alike)."""
    patterns = []
    for pattern, _, scope in RULES:
        if isinstance(scope, list):
            captures = {str(i): {"name": s} for i, s in enumerate(scope, start=1) if s}
            patterns.append({"match": pattern, "captures": captures})
        else:
            patterns.append({"match": pattern, "name": scope})
    return {"$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
            "name": "nngraph", "scopeName": "source.nngraph", "fileTypes": ["nn"],
            "comment": "Generated by `python -m nngraph.spec.highlight` from the parser's words; do not edit.",
            "patterns": patterns}


def textmate_text() -> str:
    return json.dumps(textmate_grammar(), indent=2) + "\n"


if __name__ == "__main__":
    TEXTMATE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TEXTMATE_PATH.write_text(textmate_text(), encoding="utf-8")
    print(f"wrote {TEXTMATE_PATH}")
