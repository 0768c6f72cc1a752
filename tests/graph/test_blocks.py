"""Blocks and stacks: how they expand, and one test per kind of block error."""

import pytest

from nngraph.errors import ValidationError

from .helpers import assert_error, check, errors_of, the_only_error

BLOCK = """
    block dense_pair(n) {
      input in
      layer a[n] relu
      layer b[n] relu
      in -> a -> b
    }
    model m {
      input x[2]
      {use}
      output y[1]
      x -> b1 -> y
    }"""


def with_use(use: str) -> str:
    return BLOCK.replace("{use}", use)


def edges(checked, model="m"):
    return sorted((e.source, e.target) for e in checked.models[model].edges)


def test_a_block_instance_expands_to_prefixed_units_through_its_port():
    checked = check(with_use("use b1 = dense_pair(3)"))
    assert edges(checked) == [("b1.a", "b1.b"), ("b1.b", "y"), ("b1.in", "b1.a"), ("x", "b1.in")]
    assert checked.models["m"].shapes["b1.b"] == (3,)
    assert checked.models["m"].edges[0].kind == "identity"  # the port passes x through unchanged


def test_a_repeated_block_chains_its_instances():
    checked = check(with_use("use b1 = dense_pair(n=3) repeat=2"))
    assert ("b1_1.b", "b1_2.in") in edges(checked)
    assert ("x", "b1_1.in") in edges(checked) and ("b1_2.b", "y") in edges(checked)


def test_a_repeated_unit_is_a_stack():
    checked = check("""
        model m {
          input x[2]
          layer h[5] tanh repeat=3
          output y[1]
          x -> h -> y
        }""")
    assert edges(checked) == [("h_1", "h_2"), ("h_2", "h_3"), ("h_3", "y"), ("x", "h_1")]


BLOCK_ERRORS = {
    "unknown block": ("use b1 = dense_pai(3)", "no block named 'dense_pai'", 12, "did you mean 'dense_pair'\\?"),
    "unknown parameter": ("use b1 = dense_pair(m=3)", "block 'dense_pair' has no parameter 'm'", 23,
                          "expected one of: n"),
    "too many arguments": ("use b1 = dense_pair(3, 4)", "block 'dense_pair' takes 1 parameter\\(s\\)", 26, None),
    "missing parameter": ("use b1 = dense_pair()", "block 'dense_pair' needs a value for n", 12, None),
    "repeat=0": ("use b1 = dense_pair(3) repeat=0", "repeat: expected a whole number from 1 to 10000, got 0", 26,
                 None),
    "repeat too large": ("use b1 = dense_pair(3) repeat=10001", "repeat: .* got 10001", 26, None),
}


@pytest.mark.parametrize("case", sorted(BLOCK_ERRORS))
def test_block_error(case):
    use, match, column, hint = BLOCK_ERRORS[case]
    assert_error(errors_of(with_use(use))[0], match, 9, column, hint)


def test_a_bad_size_argument_is_found_where_the_block_uses_it():
    errors = errors_of(with_use("use b1 = dense_pair(0)"))
    assert_error(errors[0], "shape of 'b1.a': 0 is out of range \\[1, inf\\)", 3, 11)


@pytest.mark.parametrize("case", ["unknown block", "missing parameter", "repeat=0"])
def test_a_refused_use_is_the_only_error(case):
    use, match, column, hint = BLOCK_ERRORS[case]
    the_only_error(with_use(use), match, 9, column, hint)


def test_a_refused_stack_is_the_only_error():
    the_only_error("""
        model m {
          input x[2]
          layer h[3] repeat=0
          output y[1]
          x -> h -> y
        }""", "repeat: expected a whole number from 1 to 10000, got 0", 3, 14)


def test_a_block_using_itself_is_refused():
    errors = errors_of("""
        block loop() {
          layer a[2]
          use inner = loop()
        }
        model m {
          input x[2]
          use b = loop()
          x -> b
        }""")
    assert any("blocks nested more than 16 deep" in e.message for e in errors)
    assert all(isinstance(e, ValidationError) for e in errors)


def test_a_block_without_units():
    errors = errors_of("""
        block empty() {
        }
        model m {
          input x[2]
          use b = empty()
          x -> b
        }""")
    assert_error(errors[0], "block 'empty' declares no units", 1, 1)


def test_duplicate_block():
    errors = errors_of(BLOCK.replace("{use}", "use b1 = dense_pair(3)") + "\nblock dense_pair() {\n  layer z[1]\n}")
    assert_error(errors[0], "block 'dense_pair' is defined twice", 13, 1, "first defined at line 1")
