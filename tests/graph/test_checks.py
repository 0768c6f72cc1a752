"""One test per kind of model error: the message, its exact line and column, and the hint."""

import pytest

from nngraph.errors import ShapeError, ValidationError

from .helpers import XOR, check, errors_of, source, the_only_error

MODEL_ERRORS = {
    "undefined unit": ("""
        model m {
          input x[2]
          layer h[4] tanh
          output y[1] sigmoid
          x -> h -> yy
        }""", "unknown unit 'yy'", 5, 13, "did you mean 'y'\\?", ValidationError),
    "duplicate unit": ("""
        model m {
          input x[2]
          layer h[4]
          layer h[3]
          output y[1]
          x -> h -> y
        }""", "unit 'h' is declared twice", 4, 3, "first declared at line 3", ValidationError),
    "duplicate model": ("""
        model m {
          input x[2]
          output y[1]
          x -> y
        }
        model m {
          input x[2]
          output y[1]
          x -> y
        }""", "model 'm' is defined twice", 6, 1, "first defined at line 1", ValidationError),
    "connection into an input": ("""
        model m {
          input x[2]
          input w[2]
          output y[1]
          x -> y
          x -> w
        }""", "'w' is an input; nothing can connect into it", 6, 5, "inputs get their values from data",
                                 ValidationError),
    "delay-0 cycle": ("""
        model m {
          input x[2]
          layer a[3]
          layer b[3]
          output y[1]
          x -> a -> b -> a
          b -> y
        }""", "cycle of same-step connections: a -> b -> a", 6, 10, "delay 1", ValidationError),
    "symmetric link on a deterministic unit": ("""
        model m {
          visible v[2]
          layer h[3]
          v <-> h
        }""", "symmetric link touches deterministic unit 'h' \\(layer\\)", 4, 5, "`visible` or `hidden`",
                                               ValidationError),
    "delay on a symmetric link": ("""
        model m {
          visible v[2]
          hidden h[3]
          v <-> h delay 1
        }""", "a symmetric link has no delay", 4, 5, "use `->` for recurrence", ValidationError),
    "conv on a vector": ("""
        model m {
          input x[8]
          layer c relu
          output y[1]
          x -> c conv(filters=2, kernel=3) -> y
        }""", "conv needs a \\[channels, height, width\\] input; 'x' is \\[8\\]", 5, 5, "x\\[1, 8, 8\\]",
                         ShapeError),
    "kernel larger than its input": ("""
        model m {
          input x[1, 4, 4]
          layer c relu
          output y[1]
          x -> c conv(filters=2, kernel=5) -> y
        }""", "conv kernel \\[5, 5\\] is larger than its input \\[4, 4\\]", 5, 5, None, ShapeError),
    "incompatible incoming shapes": ("""
        model m {
          input x[1, 8, 8]
          input x2[1, 8, 8]
          layer c relu
          output y[1]
          x -> c conv(filters=2, kernel=3)
          x2 -> c conv(filters=2, kernel=5)
          c -> y
        }""", "connection x2 -> c gives shape \\[2, 4, 4\\], but another input gives \\[2, 6, 6\\]", 7, 6,
                                     None, ShapeError),
    "dense connection into a shapeless unit": ("""
        model m {
          input x[2]
          layer h
          output y[1]
          x -> h -> y
        }""", "a dense connection cannot size 'h'", 5, 5, "`layer h\\[64\\]`", ShapeError),
    "dropout of 1": ("""
        model m {
          input x[2]
          layer h[3] dropout=1.0
          output y[1]
          x -> h -> y
        }""", "dropout: 1.0 is out of range \\[0, 1\\)", 3, 22, None, ValidationError),
    "negative dropout": ("""
        model m {
          input x[2]
          layer h[3] dropout=-0.1
          output y[1]
          x -> h -> y
        }""", "dropout: -0.1 is out of range \\[0, 1\\)", 3, 22, None, ValidationError),
    "unknown activation": ("""
        model m {
          input x[2]
          output y[1] sigmod
          x -> y
        }""", "unknown unit attribute 'sigmod'", 3, 15, "did you mean 'sigmoid'\\?", ValidationError),
    "unknown activation option": ("""
        model m {
          input x[2]
          output y[1] leaky_relu(slop=0.2)
          x -> y
        }""", "activation 'leaky_relu' has no option 'slop'", 3, 26, "did you mean 'slope'\\?",
                                  ValidationError),
    "unknown edge kind": ("""
        model m {
          input x[2]
          output y[1]
          x -> y dnse
        }""", "unknown connection kind 'dnse'", 4, 10, "did you mean 'dense'\\?", ValidationError),
    "unit not reachable": ("""
        model m {
          input x[2]
          layer h[3]
          output y[1]
          x -> y
          h -> y
        }""", "unit 'h' is not reachable from any input", 3, 3, "`x -> h`", ValidationError),
    "hidden group linked to no visible unit": ("""
        model m {
          visible v[2]
          hidden h[2]
          hidden g[2]
          v <-> h
          g <-> g
        }""", "unit 'g' is not reachable from any input", 4, 3, "`v <-> g`", ValidationError),
    "pooling window wholly in the padding": ("""
        model m {
          input x[1, 4, 4]
          layer p
          output y[1]
          x -> p maxpool(kernel=2, stride=1, padding=2) -> y
        }""", "maxpool padding \\[2, 2\\] must be at most half its kernel \\[2, 2\\]", 5, 5, "wholly in the padding",
                                             ShapeError),
    "model without input": ("""
        model m {
          layer h[3]
          output y[1]
          h -> y
        }""", "model 'm' has no input", 1, 7, "input x\\[4\\]", ValidationError),  # at the name
}


@pytest.mark.parametrize("case", sorted(MODEL_ERRORS))
def test_model_error(case):
    text, match, line, column, hint, kind = MODEL_ERRORS[case]
    the_only_error(text, match, line, column, hint, kind)


def test_unused_unit_is_a_warning_not_an_error():
    checked = check("""
        model m {
          input x[2]
          layer u[3]
          output y[1]
          x -> y
          x -> u
        }""")
    (warning,) = checked.warnings
    assert warning.severity == "warning"
    assert warning.message == "unit 'u' feeds nothing and is not an output"
    assert (warning.span.line, warning.span.column) == (3, 3)
    assert "output u" in warning.hint


def test_several_independent_errors_are_reported_together():
    errors = errors_of("""
        model m {
          input x[2]
          layer h[3] sigmod
          output y[1] sigmoid
          x -> y
          y -> zz
        }
        train {
          data xor
          loss bce(y)
          batch 0
          epoch 3
        }""")
    assert [(e.span.line, e.span.column) for e in errors] == [(3, 14), (6, 8), (11, 9), (12, 3)]
    assert [type(e) for e in errors] == [ValidationError] * 4


def test_unknown_unit_inside_a_chain_is_reported_once():
    the_only_error("""
        model m {
          input x[2]
          layer h[4] tanh
          output y[1] sigmoid
          x -> hh -> y
        }""", "unknown unit 'hh'", 5, 8, "did you mean 'h'\\?")


def test_model_too_large_is_refused_before_allocation():
    import tracemalloc

    tracemalloc.start()
    err = the_only_error("""
        model big {
          input x[100000]
          layer h[100000]
          output y[1]
          x -> h -> y
        }""", "model 'big' needs about 149.0 GiB to make its parameters", 1, 7, "nothing was allocated",
                         ValidationError, memory_limit=2**30)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "1.0 GiB is available" in err.message
    assert peak < 50 * 2**20  # 10^10 parameters, yet nothing near their size was allocated


def test_a_shape_error_is_reported_once_not_again_at_the_units_it_feeds():
    """`padding=same` with stride 2 fails at c1; c2 (fed by a conv from c1) and y must not be reported with
    a hint that speaks of dense links (issue 18, item 9)."""
    the_only_error("""
        model m {
          input x[1, 8, 8]
          layer c1 relu
          layer c2 relu
          layer p
          output y[2] softmax
          x -> c1 conv(filters=2, kernel=3, stride=2, padding=same) -> c2 conv(filters=2, kernel=3)
          c2 -> p maxpool(2) -> y
        }""", "padding=.same. needs stride 1", 7, 5, None, ShapeError)


def test_a_declared_unit_after_a_failure_is_still_checked():
    errors = errors_of("""
        model m {
          input x[1, 8, 8]
          layer c1 relu
          layer c2[3]
          x -> c1 conv(filters=2, kernel=3, stride=2, padding=same) -> c2 conv(filters=2, kernel=3)
        }""")
    assert errors[0].message == "padding='same' needs stride 1"
    assert len(errors) == 1  # c2's declared [3] is not an image, but its source's shape is unknown


@pytest.mark.parametrize("unit, word, column", [
    ("input x[4] relu", "relu", 12), ("input x[4] dropout=0.2", "dropout", 12), ("input x[4] nobias", "nobias", 12),
    ("noise x[4] uniform tanh", "tanh", 20), ("input x[4] lstm", "lstm", 12),
])
def test_attributes_an_input_would_ignore_are_refused(unit, word, column):
    """Issue 18 item 4: these were accepted, shown by inspect and viz, and ignored by every executor."""
    the_only_error(f"""
        model m {{
          {unit}
          layer h[3] tanh
          output y[1]
          x -> h -> y
        }}""", f"unit 'x' takes no '{word}'", 2, column + 2, None, ValidationError)


def test_sample_and_boltzmann_units_refuse_what_they_would_ignore():
    the_only_error("""
        model m {
          input x[4]
          layer mu[2]
          layer lv[2]
          sample z ~ normal(mu, lv) dropout=0.5
          output y[4] sigmoid
          x -> mu
          x -> lv
          z -> y
        }""", "sample unit 'z' takes no 'dropout'", 5, 29, "on the unit it feeds", ValidationError)
    the_only_error("""
        model m {
          visible v[4] dropout=0.1
          hidden h[2]
          v <-> h
        }""", "visible unit 'v' takes no 'dropout'", 2, 16, "kind", ValidationError)


def test_sequence_marks_inputs_only():
    the_only_error("""
        model m {
          input x[4] sequence
          layer h[3] tanh sequence
          output y[1]
          x -> h -> y
        }""", "'sequence' marks a data input", 3, 19, None, ValidationError)


def test_a_block_port_takes_no_attributes_as_a_data_input_takes_none():
    the_only_error("""
        block b() {
          input in relu
          layer a[3] tanh
          in -> a
        }
        model m {
          input x[4]
          use u = b()
          output y[1]
          x -> u -> y
        }""", "a block's input port takes no attributes", 2, 12, "on the unit it feeds", ValidationError)


def test_a_learned_initial_state_needs_a_loop():
    the_only_error("""
        model m {
          input x[2] sequence
          layer h[4] gru
          layer g[3] tanh initial=learned
          output y[1]
          x -> h -> g -> y
        }""", "'g' is on no recurrent loop", 4, 3, "g -> g delay 1", ValidationError)


@pytest.mark.parametrize("attrs, match, column", [
    ("relu dropout=0.3 dropout=0.2", "unit 'h' sets dropout twice", 31),  # the last one used to win unseen
    ("leaky_relu(0.1, slope=0.2)", "activation 'leaky_relu': option 'slope' is given twice", 30),
    ("leaky_relu(slope=0.1, slope=0.2)", "option 'slope' is given twice", 36),
])
def test_an_attribute_or_option_given_twice_is_refused_where_the_second_is(attrs, match, column):
    text = source(XOR).replace("layer h[4] tanh", f"layer h[4] {attrs}") + "}\n"
    the_only_error(text, match, 3, column)
