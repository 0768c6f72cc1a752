"""`nngraph fmt` writes what the example specs' authors write: numbers as spelled, first words aligned in runs,
trailing comments in one column per run, long lines wrapped at a call's arguments with `\\` continuations."""

import random

import pytest

from nngraph.api import apply_overrides
from nngraph.spec import layout
from nngraph.spec.format import format_commented, format_source, format_spec
from nngraph.spec.parser import parse, parse_commented
from nngraph.spec.yaml_surface import parse_yaml_commented
from tests.spec.test_fmt import assert_formats_faithfully

# ---- numbers -------------------------------------------------------------------------------------


def test_numbers_keep_the_spelling_the_author_wrote():
    text = ("train {\n  optimizer adam(lr=2.3e-3, eps=1E-8, beta1=.9, beta2=0.999)\n  l2 0.001\n  clip 1e-2\n"
            "  gamma 5.\n  epochs 010\n  x [1.50, -2.0e+1]\n}\n")
    assert assert_formats_faithfully(text) == text


def test_format_spec_still_spells_numbers_canonically():
    spec = parse("train {\n  optimizer adam(lr=2.3e-3)\n  l2 0.001\n  epochs 010\n}\n")
    assert format_spec(spec) == "train {\n  optimizer adam(lr=0.0023)\n  l2 1e-3\n  epochs 10\n}\n"


@pytest.mark.parametrize("path", [None, "<string>"])
def test_a_number_from_elsewhere_is_spelled_canonically(path):
    # An override's span points into the --set text (or, given the spec's own path, at unrelated spec text).
    text = "model m {\n  input  x[1]\n}\n\ntrain {\n  optimizer sgd(lr=0.5)\n  l2 0.0010\n}\n"
    spec, comments = parse_commented(text)
    extra = {} if path is None else {"path": path}
    changed = apply_overrides(spec, ["l2=0.0020", "optimizer=sgd(lr=0.50)"], **extra)
    assert format_commented(changed, comments).endswith("train {\n  l2 2e-3\n  optimizer sgd(lr=0.5)\n}\n")


def test_convert_from_yaml_keeps_the_yaml_authors_numbers_too():
    text = ('model m:\n  units:\n    - "input x[2] dropout=0.10"\ntrain:\n  model: m\n  optimizer: adam(lr=2.3e-3)\n'
            "  early_stopping: {value: 1e1, patience: 0.50}\n  loss: >\n    bce(y) * 1.50\n")
    spec, comments = parse_yaml_commented(text, "m.yaml")
    written = format_commented(spec, comments)
    assert parse(written) == spec
    assert written == ("model m {\n  input  x[2] dropout=0.10\n}\n\ntrain {\n  model m\n  optimizer adam(lr=2.3e-3)\n"
                       "  early_stopping 1e1 patience=0.50\n  loss bce(y) * 1.50\n}\n")


# ---- first words -------------------------------------------------------------------------------------


def test_role_words_are_padded_in_runs_and_at_least_to_outputs_width():
    text = ("block b(w) {\n  input in\n  layer a[w] relu\n  in -> a\n}\n\nmodel m {\n  input x[2]\n"
            "  use b1 = b(4)\n  layer h[4] tanh\n  output y[1]\n  x -> b1 -> h -> y\n  noise z[1] normal\n}\n\n"
            "model r {\n  visible v[4] bernoulli\n  # the hidden ones\n  hidden h[2] bernoulli\n\n  sample s[2]\n"
            "  v <-> h\n}\n")
    assert assert_formats_faithfully(text) == (
        "block b(w) {\n  input  in\n  layer  a[w] relu\n  in -> a\n}\n\nmodel m {\n  input  x[2]\n"
        "  use    b1 = b(4)\n  layer  h[4] tanh\n  output y[1]\n  x -> b1 -> h -> y\n  noise  z[1] normal\n}\n\n"
        "model r {\n  visible v[4] bernoulli\n  # the hidden ones\n  hidden  h[2] bernoulli\n\n  sample s[2]\n"
        "  v <-> h\n}\n")


def test_model_and_env_settings_are_aligned_and_no_other():
    text = "train {\n  model agent\n  env cartpole\n  method dqn(k=1)\n  data xor\n}\n\ntrain {\n  model m\n  data xor\n}\n"
    assert assert_formats_faithfully(text) == (
        "train {\n  model agent\n  env   cartpole\n  method dqn(k=1)\n  data xor\n}\n\n"
        "train {\n  model m\n  data xor\n}\n")


def test_padded_first_words():
    assert layout.padded_first_words(["input x", "layer h", "use b = f()"], 6) == [
        "input  x", "layer  h", "use    b = f()"]
    assert layout.padded_first_words(["visible v", "hidden h"]) == ["visible v", "hidden  h"]
    assert layout.padded_first_words(["env", "model m"]) == ["env", "model m"]  # a lone word stays bare


# ---- trailing comments ------------------------------------------------------------------------------


def test_trailing_comments_of_a_run_start_two_spaces_after_its_longest_line():
    text = ("model m {\n  input x[2] # a\n  layer hid[4] tanh # b\n  output y[1]\n  x -> hid # c\n\n"
            "  hid -> y # d\n  # own\n  y -> y delay 1 # e\n}\n")
    assert assert_formats_faithfully(text) == (
        "model m {\n  input  x[2]         # a\n  layer  hid[4] tanh  # b\n  output y[1]\n  x -> hid  # c\n\n"
        "  hid -> y  # d\n  # own\n  y -> y delay 1  # e\n}\n")


def test_the_authors_comment_column_is_kept_where_it_leaves_room():
    kept = "model m {\n  input  x[2]         # a\n  layer  h[4] tanh    # b\n}\n"
    assert assert_formats_faithfully(kept) == kept
    too_near = "model m {\n  input  x[2] # a\n  layer  h[4] tanh    # b\n}\n"
    assert format_source(too_near) == "model m {\n  input  x[2]       # a\n  layer  h[4] tanh  # b\n}\n"
    # A column chosen for other code (here two statements joined by `;`) says nothing about this line.
    joined = "model m {\n  input x[2]; layer h[4] tanh            # b\n}\n"
    assert format_source(joined) == "model m {\n  input  x[2]\n  layer  h[4] tanh  # b\n}\n"


def test_comment_column():
    assert layout.comment_column([10, 14], written=-1) == 16
    assert layout.comment_column([10, 14], written=20) == 20
    assert layout.comment_column([10, 14], written=15) == 16


# ---- long lines ----------------------------------------------------------------------------------


DQN = ("  method dqn(buffer=100000, start=1000, minibatch=64, train_every=256, gradient_steps=128, target_every=10, "
       "explore=0.16, eps_end=0.04, double=false)")


def test_a_long_line_wraps_at_its_calls_arguments_as_the_specs_do():
    assert layout.wrapped(DQN) == [
        "  method dqn(buffer=100000, start=1000, minibatch=64, train_every=256, gradient_steps=128, target_every=10, \\",
        "             explore=0.16, eps_end=0.04, double=false)"]
    text = f"train {{\n{DQN}  # the Zoo's\n  gamma 0.99\n}}\n"
    formatted = assert_formats_faithfully(text)
    assert formatted.splitlines()[2] == "             explore=0.16, eps_end=0.04, double=false)  # the Zoo's"
    assert max(len(line) for line in formatted.splitlines()) <= layout.LINE_LIMIT


def test_a_chain_breaks_before_an_arrow_under_its_first():
    chain = ("  x -> c1 conv(filters=6, kernel=5) -> s2 maxpool(2) -> c3 conv(filters=16, kernel=5) -> s4 maxpool(2) "
             "<-> c5 conv(filters=32, kernel=3)")
    assert layout.wrapped(chain) == [
        "  x -> c1 conv(filters=6, kernel=5) -> s2 maxpool(2) -> c3 conv(filters=16, kernel=5) -> s4 maxpool(2) \\",
        "    <-> c5 conv(filters=32, kernel=3)"]
    assert_formats_faithfully(f"model m {{\n{chain}  # a chain\n}}\n")


def test_arrows_break_before_arguments_and_arguments_before_inner_ones():
    line = ("  x -> h conv(filters=16, kernel=3, padding=1, stride=1, dilation=1, groups=1) -> "
            "y dense(aaaaaaaaaaaaa=1, bbbbbbbbbbbbbbbbbbbbbbbbb=2)")
    assert layout.wrapped(line) == [
        "  x -> h conv(filters=16, kernel=3, padding=1, stride=1, dilation=1, groups=1) \\",
        "    -> y dense(aaaaaaaaaaaaa=1, bbbbbbbbbbbbbbbbbbbbbbbbb=2)"]
    nested = '  data superres(mnist(path="../../shared/data/mnist", limit=60000, binarize=0.5), factor=2, a=1)'
    assert layout.wrapped(nested, limit=95) == [
        '  data superres(mnist(path="../../shared/data/mnist", limit=60000, binarize=0.5), factor=2, \\',
        "                a=1)"]
    assert layout.wrapped(nested, limit=80) == [
        '  data superres(mnist(path="../../shared/data/mnist", limit=60000, \\',
        "                      binarize=0.5), factor=2, a=1)"]


def test_where_a_line_may_break():
    line = '  data f(g(a, b), "x, (y", [1, 2], k=h(1, (2, 3)))'
    assert [(line[b.at:], line[b.hang:b.hang + 2], b.depth) for b in layout.line_breaks(line)] == [
        ('b), "x, (y", [1, 2], k=h(1, (2, 3)))', "a,", 2), ('"x, (y", [1, 2], k=h(1, (2, 3)))', "g(", 1),
        ("[1, 2], k=h(1, (2, 3)))", "g(", 1), ("k=h(1, (2, 3)))", "g(", 1), ("(2, 3)))", "1,", 2)]
    escaped = '  data f("a\\", b", c)'
    assert [escaped[b.at:] for b in layout.line_breaks(escaped)] == ["c)"]
    chain = "  a -> b f(1) <-> c -> d"
    assert [(chain[b.at:], b.hang, b.depth) for b in layout.line_breaks(chain)] == [
        ("<-> c -> d", 4, 0), ("-> d", 4, 0)]


def test_what_cannot_break_stays_long():
    long_list = "  x [" + ", ".join(str(i) for i in range(40)) + "]"
    assert layout.wrapped(long_list) == [long_list]
    long_argument = f'  data f("{"a" * 120}", k=1)'
    assert layout.wrapped(long_argument) == [f'  data f("{"a" * 120}", \\', "         k=1)"]


@pytest.mark.parametrize("seed", range(30))
def test_random_long_calls_wrap_faithfully_within_the_limit(seed):
    rng = random.Random(seed)
    values = ["1", "2.5e-3", "name", "[1, 2]", '"s, t"', "-x * 2"]

    def call(depth: int) -> str:
        args = [f"{'k' * rng.randrange(1, 12)}={rng.choice(values)}" for _ in range(rng.randrange(1, 9))]
        if depth and rng.random() < 0.5:
            args.insert(rng.randrange(len(args)), call(depth - 1))
        return f"{'f' * rng.randrange(1, 8)}({', '.join(args)})"

    units = "".join(f"  layer h{i} {call(2)} {call(1)}  # c{i}\n" for i in range(3))
    text = f"model m {{\n  input x[2]\n{units}  x -> h0 {call(2)} -> h1\n}}\n\ntrain {{\n  data {call(2)}\n}}\n"
    formatted = assert_formats_faithfully(text)
    code = [line.split("  #")[0].rstrip() for line in formatted.splitlines()]
    assert max(len(line) for line in code) <= layout.LINE_LIMIT  # every argument here is short


# ---- lines -------------------------------------------------------------------------------------------


def test_lines_are_counted_as_the_lexer_counts_them():
    # A U+2028 inside a string is no line break: the own-line comment after it stays on its own line.
    text = 'model m {\n  input  x[1] label="a\u2028b"\n  # own\n  layer  h\n}\n'
    assert comment_lines(format_source(text)) == ["  # own"]


def comment_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.lstrip().startswith("#")]
