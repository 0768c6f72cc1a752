"""`format_source` (nngraph fmt): the canonical layout with every comment kept where it was, idempotent, and
never a change of meaning, over every spec in specs/ and over random specs with comments sprinkled in."""

import random
import re
from pathlib import Path

import pytest

from nngraph.spec import tables
from nngraph.spec.format import format_source
from nngraph.spec.parser import parse, parse_commented
from tests.property.random_specs import random_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.nn"))


def comment_texts(text: str) -> list[str]:
    return [c.text for c in parse_commented(text)[1]]


def assert_formats_faithfully(text: str) -> str:
    formatted = format_source(text)
    assert parse(formatted) == parse(text)  # the same meaning (spans aside)
    assert comment_texts(formatted) == comment_texts(text)  # every comment, in the same order
    assert format_source(formatted) == formatted  # idempotent
    return formatted


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_example_spec_formats_faithfully(path):
    assert_formats_faithfully(path.read_text())


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_example_spec_is_in_the_layout_fmt_writes(path):
    # the examples are what users copy: `nngraph fmt --check specs/*.nn` must pass on them
    assert format_source(path.read_text()) == path.read_text()


def sprinkled(text: str, rng: random.Random) -> str:
    """`text` with comments, blank lines, odd spacing and `;`-joined lines added where the grammar allows."""
    out = []
    for number, line in enumerate(text.splitlines()):
        if rng.random() < 0.3:
            out.append(" " * rng.randrange(4) + f"# own {number} \"quoted\" -> x")
        if rng.random() < 0.15:
            out.append("")
        line = re.sub(r" +", lambda m: " " * rng.randrange(1, 4), line.strip()) if rng.random() < 0.5 else line
        if rng.random() < 0.4:
            line += " " * rng.randrange(4) + f"# trailing {number} # with a hash"
        out.append(line)
    if rng.random() < 0.5:
        out += ["", "# the end"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_specs_with_comments_format_faithfully(seed):
    text = sprinkled(random_spec(seed), random.Random(seed))
    assert_formats_faithfully(text)


def test_comments_stay_where_they_were():
    text = ("# about m\n\n# more\nmodel m {  # on the header\n\n\n  input x[1];input y[2]   # after y\n\n"
            "    # before the link\n  x->y;  # on the link\n # closing the block\n}  # after the brace\n"
            "train {\nmodel m # the model\n}\n# the end\n")
    assert format_source(text) == (
        "# about m\n\n# more\nmodel m {  # on the header\n  input  x[1]\n  input  y[2]  # after y\n\n"
        "  # before the link\n  x -> y  # on the link\n  # closing the block\n}  # after the brace\n\n"
        "train {\n  model m  # the model\n}\n\n# the end\n")


def test_a_hash_inside_a_string_is_no_comment():
    text = 'model m {\n  input  x[1] label="a # b"  # real\n}\n'
    assert comment_texts(text) == ["# real"]
    assert format_source(text) == text


def test_a_spec_of_comments_only_keeps_them():
    assert format_source("# nothing yet\n\n# still nothing\n") == "# nothing yet\n\n# still nothing\n"


def test_saved_and_built_parsers_both_collect_comments():
    text = "model m { # a\n  input x[1]  # b\n}\n# c\n"
    for parser in (tables.load_parser(), tables.build_parser(tables.grammar_text())):
        with tables.collecting_comments() as found:
            parser.parse(text, start="start")
        assert [str(t) for t in found] == ["# a", "# b", "# c"]

