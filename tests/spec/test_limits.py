"""Hostile spec text: long operator chains, deep brackets, numbers that overflow, files that are no files.

Each is refused with a positioned error, quickly, and nothing downstream (the transformer, constant
folding, the formatter, YAML's span shifting, the checks) ever walks a tree deep enough to overflow
Python's stack.
"""

import os
import time

import pytest

from nngraph.api import apply_overrides
from nngraph.errors import ErrorList, SourceError, Span, SpecSyntaxError
from nngraph.graph.check import check_spec
from nngraph.spec.format import format_spec
from nngraph.spec.limits import MAX_NESTING, MAX_OPERATORS, check_limits
from nngraph.spec.parser import parse, parse_fragment, read_source
from nngraph.spec.yaml_surface import parse_yaml, to_yaml
from tests.hostile.files import in_time

HEAD = "model m { input x[2]; output y[1]; x -> y }\ntrain { model m; data xor; loss mse(y); optimizer sgd(lr="


def spec_with_lr(value: str) -> str:
    return HEAD + value + ") }\n"


def refused(text: str, match: str, path: str = "t.nn") -> Span:
    with pytest.raises(SpecSyntaxError, match=match) as info:
        parse(text, path)
    return info.value.span


@pytest.mark.parametrize("chain, operator", [("0.5" + "+0" * 200_000, "+"), ("- " * 100_000 + "1", "-"),
                                             ("2" + "*1" * 50_000, "*"), ("1" + "-1" * 50_000, "-")])
def test_a_long_chain_is_refused_at_the_first_operator_too_many_and_quickly(chain, operator):
    start = time.process_time()  # CPU time: other processes on the machine do not count
    span = refused(spec_with_lr(chain), f"chains more than {MAX_OPERATORS} operators")
    assert time.process_time() - start < 2  # Lark took ~10 s on such a line before failing deep inside
    text = spec_with_lr(chain)
    line_start = text.index("\n") + 1
    offset = [i for i, c in enumerate(text) if c == operator and text[i + 1] != ">"][MAX_OPERATORS]
    assert (span.line, span.column) == (2, offset - line_start + 1)


def deepest_value() -> str:
    """As deep a tree as a setting's value may have: a list in a list... to the bracket limit (the train
    block's `{` is the first bracket), each level adding one operator, the rest chained innermost."""
    levels = MAX_NESTING - 1
    return "[1+" * levels + "1" + "+1" * (MAX_OPERATORS - levels) + "]" * levels


def test_the_deepest_allowed_value_goes_through_every_pass_that_walks_it():
    spec = parse(f"train {{ model m; l2 {deepest_value()} }}\n")
    assert parse(format_spec(spec)) == spec
    assert parse_yaml(to_yaml(spec), "t.yaml") == spec
    model = "model m { input x[2]; output y[1]; x -> y }\n"
    with pytest.raises(ErrorList, match="needs numbers"):  # folded to the bottom, no RecursionError
        check_spec(parse(model + f"train {{ model m; data xor; loss mse(y); l2 {deepest_value()} }}\n"))
    chain = "(" * 60 + "1" + "+1)" * 60 + "+1" * (MAX_OPERATORS - 61)
    assert check_spec(parse(spec_with_lr(f"{chain} - {MAX_OPERATORS - 1}"))).trains[0].optimizer.options["lr"] == 1


def test_operators_in_separate_values_and_statements_do_not_add_up():
    many = ", ".join(["1+1+1"] * 60)  # 120 operators in one list, 2 in each value
    parse(f"train {{ model m; schedule [{many}] }}\n")
    lines = "\n".join(f"  s{i} 1" + "+1" * 60 for i in range(5))
    parse("train {\n" + lines + "\n}\n")


def test_arrows_exponents_strings_and_comments_are_not_operators():
    links = " -> ".join(f"u{i}" for i in range(300))
    exponents = ", ".join(["1e-5"] * 150)
    text = (f'model m {{ input u0[2]\n  {links}\n}}\ntrain {{ model m; s [{exponents}]; p "{"-" * 500}" }}\n'
            f'# {"+" * 500}\n')
    parse(text)


def test_brackets_in_comments_and_strings_do_not_count_toward_the_nesting_limit():
    text = ("# a comment with " + "(" * 100 + "\nmodel m { input x[2]; output y[1]; x -> y }  # " + "[" * 100
            + '\ntrain { model m; data npz("' + "(" * 100 + '.npz"); loss mse(y) }\n')
    spec = parse(text)
    assert spec.trains[0].get("data").value.args[0].value == "(" * 100 + ".npz"


def test_brackets_still_count_outside_comments():
    span = refused("# ((((\ntrain {\n  x " + "[" * MAX_NESTING + "]" * MAX_NESTING + "\n}", "nested more than")
    assert (span.line, span.column) == (3, 4 + MAX_NESTING)


def test_a_fragment_is_checked_where_it_stands_in_its_file():
    with pytest.raises(SpecSyntaxError, match="chains more than") as info:
        parse_fragment("1" + "+1" * (MAX_OPERATORS + 1), "value_only", "s.yaml", 7, 9)
    assert (info.value.span.line, info.value.span.column) == (7, 9 + 1 + 2 * MAX_OPERATORS)
    with pytest.raises(SpecSyntaxError, match="chains more than"):
        check_limits("[" + "1-" * 200 + "1]", "s.yaml")


def test_set_refuses_a_long_chain_and_an_overflowing_number():
    spec = parse(spec_with_lr("0.1"))
    with pytest.raises(SpecSyntaxError, match="chains more than") as info:
        apply_overrides(spec, ["lr=0.5" + "+0" * 200_000])
    assert info.value.span.path == "<--set>"
    with pytest.raises(SpecSyntaxError, match="too large"):
        apply_overrides(spec, ["lr=1e999"])


# ---- numbers that overflow ----------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["1e999", "1" + "0" * 400, "9" * 5000, "1e309", ".5e400"])
def test_a_literal_that_overflows_to_infinity_is_refused_at_the_literal(literal):
    span = refused(spec_with_lr(literal), "too large .*overflows to infinity")
    assert (span.line, span.column) == (2, spec_with_lr(literal).split("\n")[1].index(literal[:3]) + 1)


@pytest.mark.parametrize("where", ["input x[{}]", "x -> y delay {}"])
def test_whole_numbers_that_overflow_are_refused_in_shapes_and_delays(where):
    body = "model m { input x[2]; output y[1]; " + where.format("7" * 400) + " }\n"
    refused(body.replace("input x[2]; input", "input"), "too large")


def test_a_long_run_of_leading_zeros_is_a_small_number():
    spec = parse(spec_with_lr("0" * 5000 + "1"))
    assert spec.trains[0].get("optimizer").value.kwargs[0].value.value == 1


@pytest.mark.parametrize("value", ["1e300 * 1e300", "1e308 + 1e308", "-1e308 - 1e308", "9" * 300 + " * " + "9" * 300])
def test_arithmetic_that_overflows_is_refused_at_the_operation(value):
    with pytest.raises(Exception, match="overflows") as info:
        check_spec(parse(spec_with_lr(value), "t.nn"))
    assert info.value.span.line == 2


# ---- files that are not spec files ---------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x.nn"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="FIFO") as info:
        in_time(lambda: read_source(fifo))
    assert info.value.span is None  # no line to show, and nothing to open again to show it


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_unread(device, tmp_path):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    link = tmp_path / "spec.nn"
    link.symlink_to(device)
    for path in (device, link):
        with pytest.raises(SourceError, match="device; only regular files are read"):
            in_time(lambda p=path: read_source(p))


def test_many_set_overrides_cost_linear_time_and_the_last_of_each_name_wins():
    spec = parse(spec_with_lr("0.1"))
    out = apply_overrides(spec, ["epochs=5", "batch=4", "epochs=7"])
    assert [(s.name, s.value.value) for s in out.trains[0].settings[-2:]] == [("batch", 4), ("epochs", 7)]
    def seconds(count: int) -> float:
        start = time.process_time()
        many = apply_overrides(spec, [f"k{i}=1" for i in range(count)])
        assert len(many.trains[0].settings) == 4 + count
        return time.process_time() - start

    small, large = seconds(4_000), seconds(16_000)
    assert large < 8 * small, (small, large)  # 4x as many: ~4x the time (each used to rebuild the list: ~16x)


# ---- strings no file name can hold ----------------------------------------------------------------------


@pytest.mark.parametrize("literal, why", [(r'"a\q.npz"', r"Invalid \\escape"), ('"C:\\data\\x.npz"', r"Invalid \\escape"),
                                          ('"a\tb.npz"', "Invalid control character"),
                                          (r'"\ud800.npz"', "half of a .u surrogate pair")])
def test_a_string_that_is_not_text_is_refused_at_the_string(literal, why):
    # json.loads read the literal inside the transformer: an internal error (lark's VisitError), exit 70
    text = HEAD + "0.1); data npz(" + literal + ") }\n"
    span = refused(text, "cannot read the string .*" + why)
    assert (span.line, span.column) == (2, text.split("\n")[1].index(literal) + 1)


def test_in_yaml_a_literal_refused_by_the_parser_is_placed_in_the_file():
    # it was placed as if the scalar were the first line of the file
    text = ("model m:\n  units:\n    - input x[2]\n    - output y[1]\n  connections:\n    - x -> y\ntrain:\n"
            "  model: m\n  loss: mse(y)\n  data: 'npz(\"\\ud800.npz\")'\n")
    with pytest.raises(SpecSyntaxError, match="half of a .u surrogate pair") as info:
        parse_yaml(text, "t.yaml")
    assert (info.value.span.line, info.value.span.column) == (10, 14)  # the string, inside the quoted scalar
