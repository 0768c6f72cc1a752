"""Shared checks for the construct tests of this folder."""

import pytest

import nngraph
from nngraph.errors import ErrorList


def refused_alone(text: str, message: str) -> None:
    """`text` fails its check with exactly one error, matching `message` (a cause, no follow-on errors)."""
    with pytest.raises(ErrorList, match=message) as info:
        nngraph.loads(text)
    assert len(info.value.errors) == 1, info.value.errors
