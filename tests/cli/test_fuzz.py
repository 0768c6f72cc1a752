"""Mutated specs through the whole front end: a clean result or a positioned NngraphError, nothing else.

Each example takes a spec from specs/ (as .nn, or converted to YAML) and applies one or two mutations a
person might make by accident: drop a line, cut the file short, type or delete a character, misspell a
reference, write an absurd number.
"""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nngraph.api import loads
from nngraph.cli.render import render_error
from nngraph.errors import NngraphError
from nngraph.spec.load import convert, load_spec

from .helpers import SPECS, run_cli

PATHS = sorted(SPECS.glob("*.nn"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in PATHS}
TEXTS.update({f"{p.stem}.yaml": convert(load_spec(p), "yaml") for p in PATHS[::3]})

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
ABSURD = ["-1", "0", "1e308", "99999999999", "-0.0", "1e-320", "2.5"]
TYPED = st.one_of(st.sampled_from(list("{}[]()<>-=,;#~.:'\"\\ \t\n\r") + ["->", "<->", "é", "\0"]),
                  st.characters(codec="utf-8"))

FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _at(draw, text: str, end_inclusive: bool = False) -> int:
    return draw(st.integers(0, len(text) if end_inclusive else max(len(text) - 1, 0)))


def drop_line(draw, text):
    lines = text.split("\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


def cut(draw, text):
    return text[:_at(draw, text, end_inclusive=True)]


def insert_char(draw, text):
    i = _at(draw, text, end_inclusive=True)
    return text[:i] + draw(TYPED) + text[i:]


def delete_char(draw, text):
    i = _at(draw, text)
    return text[:i] + text[i + 1:]


def _replace_match(draw, text, pattern, choices):
    found = list(pattern.finditer(text))
    if not found:
        return text
    m = draw(st.sampled_from(found))
    return text[:m.start()] + draw(choices) + text[m.end():]


def rename_reference(draw, text):
    names = sorted(set(IDENTIFIER.findall(text)))
    other = st.one_of(st.sampled_from(names), st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True))
    return _replace_match(draw, text, IDENTIFIER, other)


def absurd_number(draw, text):
    return _replace_match(draw, text, NUMBER, st.sampled_from(ABSURD))


MUTATIONS = [drop_line, cut, insert_char, delete_char, rename_reference, absurd_number]


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = TEXTS[name]
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=2)):
        text = mutate(draw, text)
    return name, text


def assert_positioned_inside(diagnostic, text: str, path: str) -> None:
    span = diagnostic.span
    assert span is not None, diagnostic
    rows = text.split("\n")
    assert span.path == path, diagnostic
    assert 1 <= span.line <= len(rows), (diagnostic, len(rows))
    assert 1 <= span.column <= len(rows[span.line - 1]) + 1, (diagnostic, rows[span.line - 1])


def front_end(name: str, text: str) -> None:
    fmt = "yaml" if name.endswith(".yaml") else "nn"
    try:
        checked = loads(text, name, fmt=fmt)
    except NngraphError as e:  # a SourceError about the input as a whole sits at 1:1, also inside
        for diagnostic in e.diagnostics:
            assert_positioned_inside(diagnostic, text, name)
        assert render_error(e, {name: text})
    else:
        for warning in checked.warnings:
            assert_positioned_inside(warning, text, name)


@settings(FUZZ, max_examples=180)
@given(mutated_specs())
def test_mutated_specs_check_or_fail_with_a_position(case):
    front_end(*case)


@settings(FUZZ, max_examples=20)
@given(case=mutated_specs())
def test_mutated_specs_through_the_cli(tmp_path_factory, case):
    name, text = case
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_text(text, encoding="utf-8", newline="")
    result = run_cli("check", path)
    assert result.code in (0, 1), result.both
    assert "Traceback" not in result.both and "internal error" not in result.both


# ---- what longer fuzzing runs found (3,000 examples each), kept as fixed cases -------------------------

FOLDED = "model m:\n  units:\n   - input x[1] sequence\n    - layer h[32] tanh\n  connections:\n    - x -> h\n"


def test_yaml_with_a_control_character(tmp_path):
    text = "model m:\n  units:\n    - input x[2]\x01\n"
    front_end("c.yaml", text)
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    assert run_cli("check", path).code == 1


def test_yaml_folded_scalar_error_is_positioned_inside_the_text():
    front_end("f.yaml", FOLDED)
