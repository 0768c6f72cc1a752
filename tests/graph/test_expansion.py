"""Blocks and `repeat=` multiply: a model's size is counted before anything is built, and refused past the
limits with the figure, at the statement that crosses them."""

import time
import tracemalloc

import pytest

from nngraph.errors import Collector, ErrorList
from nngraph.graph.build import build_model
from nngraph.graph.check import check_spec
from nngraph.graph.expand import MAX_LINKS, MAX_UNITS, expansion_size
from nngraph.spec.parser import parse

from .helpers import assert_error, errors_of, source


def refused_quickly(text: str, match: str):
    """The only error, found in well under a second with little memory."""
    tracemalloc.start()
    start = time.process_time()
    try:
        err, = errors_of(text, match)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.process_time() - start < 1 and peak < 20 * 2**20, (time.process_time() - start, peak)
    return err


def test_nested_repeats_reaching_a_hundred_million_units_are_refused_before_any_is_made():
    err = refused_quickly("""
        block b(n) { layer a[2] repeat=n }
        block c() { use i = b(10000) repeat=10000 }
        model m {
          input x[2]
          use s = c()
          output y[1]
          x -> s -> y
        }""", "model 'm' would expand to 100,000,001 units; at most 20,000 are allowed")
    assert_error(err, "", 5, 3, "this statement makes 100,000,000 of them")


def levels(count: int, uses: int = 2) -> str:
    """Blocks b0..b{count-1}, each using the one below `uses` times."""
    lines = ["block b0() { layer a[2] }"]
    for i in range(1, count):
        body = "; ".join(f"use u{k} = b{i - 1}()" for k in range(uses))
        lines.append(f"block b{i}() {{ {body} }}")
    return "\n".join(lines) + f"\nmodel m {{\n  input x[2]\n  use s = b{count - 1}()\n  x -> s\n}}"


def test_sixteen_levels_of_blocks_using_the_one_below_twice_are_refused_with_the_figure():
    err = refused_quickly(levels(16), "would expand to 32,769 units")
    assert_error(err, "", 19, 3)


def test_blocks_nested_past_the_depth_limit_are_refused_at_once_whatever_their_fan_out():
    err = refused_quickly(levels(17, uses=3), "blocks nested more than 16 deep")
    assert_error(err, "", 2, 14)


def test_a_block_using_itself_twice_is_refused_at_once():
    refused_quickly("""
        block loop() { layer a[2]; use p = loop(); use q = loop() }
        model m { input x[2]; use b = loop(); x -> b }""", "blocks nested more than 16 deep")


def test_too_many_connections_are_refused_too():
    links = "; ".join("a -> c" for _ in range(10))
    err = refused_quickly(f"""
        block b() {{ layer a[2]; layer c[2]; {links} }}
        model m {{ input x[2]; use s = b() repeat={MAX_LINKS // 10}; x -> s }}""",
                          f"would expand to {MAX_LINKS // 10 * 11 - 1:,} connections; at most {MAX_LINKS:,}")
    assert err.span.line == 2


def test_an_astronomical_figure_is_written_as_a_power_of_ten():
    nested = "\n".join(f"block b{i}() {{ use u = b{i - 1}() repeat=10000 }}" for i in range(1, 15))
    err = refused_quickly("block b0() { layer a[2] repeat=10000 }\n" + nested
                          + "\nmodel m { input x[2]; use s = b14(); x -> s }", "would expand to about 10\\^60 units")
    assert err.span.line == 16


@pytest.mark.parametrize("text", [
    """block p(n) { input i; layer a[n] repeat=3; layer b[n]; i -> a -> b }
       block q() { use one = p(2) repeat=2; use two = p(4); one -> two }
       model m { input x[2]; layer h[3] repeat=4; use s = q() repeat=3; output y[1]; x -> h -> s -> y }""",
    levels(6, uses=3),
    """block r(k) { layer a[2] repeat=k; layer c[2]; a -> c; c -> a delay 1 }
       model m { input x[2]; use s1 = r(2); use s2 = r(5) repeat=2; x -> s1 -> s2; x -> s2 }""",
])
def test_the_count_is_what_the_expansion_makes(text):
    spec = parse(source(text), "t.nn")
    blocks = {b.name: b for b in spec.blocks}
    model = build_model(spec.models[0], blocks, errors := Collector())
    assert not errors.errors
    size = expansion_size(spec.models[0], blocks)
    assert (size.units, size.links) == (model.graph.number_of_nodes(), _written_links(model))


def _written_links(model) -> int:
    return sum(1 for e in model.edges if not e.implicit and e.kind != "sample")


def test_the_limits_admit_a_stack_of_ten_thousand():
    text = "model m { input x[2]; layer h[2] repeat=10000; output y[1]; x -> h -> y }\n"
    assert expansion_size(parse(text).models[0], {}).units == 10002 <= MAX_UNITS
    with pytest.raises(ErrorList, match="would expand"):
        check_spec(parse(text.replace("repeat=10000", "repeat=10000; layer g[2] repeat=10000")))


def test_a_storm_of_unknown_names_is_reported_quickly():
    # each error past the cap of 20 is dropped; its "did you mean" (a search of every name) is not made. CPU
    # time (time.process_time), so that other processes on a loaded machine do not count
    units = "\n".join(f"  layer h{i}[2] tanh" for i in range(3000))
    links = "\n".join(f"  x -> h{i}z" for i in range(3000))
    blocks = "".join(f"block b{i}() {{ layer a[2] }}\n" for i in range(2000))
    uses = "\n".join(f"  use u{i} = b{i}z()" for i in range(2000))
    for text in (f"model m {{\n  input x[2]\n{units}\n{links}\n}}", f"{blocks}model m {{\n  input x[2]\n{uses}\n}}"):
        start = time.process_time()
        errors = errors_of(text)
        assert len(errors) == 20 and errors[0].hint.startswith("did you mean")
        assert time.process_time() - start < 3  # 20 s before
