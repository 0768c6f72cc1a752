"""Every ```nn and ```yaml example in the docs is a spec that `nngraph check` accepts (fragments use ```text),
those indented inside a list item too."""

import re
import textwrap
from pathlib import Path

import pytest

import nngraph

DOCS = Path(__file__).resolve().parents[2]
FILES = [DOCS / "docs" / "language.md", DOCS / "README.md"]


def examples():
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^( *)```(nn|yaml)\n(.*?)^\1```", text, re.M | re.S):
            line = text.count("\n", 0, match.start()) + 2
            yield pytest.param(match.group(2), textwrap.dedent(match.group(3)), id=f"{path.name}:{line}")


@pytest.mark.parametrize("kind,body", list(examples()))
def test_example_checks(kind, body):
    checked = nngraph.loads(body, f"example.{kind}", fmt=kind)
    assert checked.models


def test_there_are_examples():
    assert len(list(examples())) >= 10
