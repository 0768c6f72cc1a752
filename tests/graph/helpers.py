"""Check spec text and pull out the errors, so each test states only the input and what it expects."""

import re
import textwrap

import pytest

from nngraph.errors import ErrorList, NngraphError
from nngraph.graph.check import CheckedSpec, check_spec
from nngraph.spec.parser import parse

PATH = "t.nn"

# A valid model on lines 1-6 and a train block from line 7; extra settings start on line 10.
XOR = """
model m {
  input x[2]
  layer h[4] tanh
  output y[1] sigmoid
  x -> h -> y
}
train {
  data xor
  loss bce(y)
"""


def source(text: str) -> str:
    """Dedented, without the leading newline, so line 1 of the spec is the first line written."""
    return textwrap.dedent(text).lstrip("\n")


def check(text: str, **options) -> CheckedSpec:
    return check_spec(parse(source(text), PATH), **options)


def errors_of(text: str, match: str | None = None, **options) -> list[NngraphError]:
    with pytest.raises(ErrorList, match=match) as info:
        check(text, **options)
    return info.value.errors


def with_train(*settings: str) -> str:
    return source(XOR) + "".join(f"  {s}\n" for s in settings) + "}\n"


def assert_error(err: NngraphError, match: str, line: int, column: int, hint: str | None = None) -> None:
    assert re.search(match, err.message), err.message
    assert (err.span.path, err.span.line, err.span.column) == (PATH, line, column), str(err)
    if hint is not None:
        assert err.hint and re.search(hint, err.hint), err.hint


def the_only_error(text: str, match: str, line: int, column: int, hint: str | None = None,
                   kind: type = NngraphError, **options) -> NngraphError:
    errors = errors_of(text, match, **options)
    assert len(errors) == 1, [str(e) for e in errors]
    assert isinstance(errors[0], kind)
    assert_error(errors[0], match, line, column, hint)
    return errors[0]
