"""Defects found by an independent twin (issue 11, items 1-5 and 7): biases of units fed by mixed links, losses
that compare two units of the model, dropout on an identity unit a cross-entropy reads, and which train block's
losses `nngraph.program` attaches. The random-spec property test (tests/property) covers the same ground broadly;
these pin each case down."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.compile.recurrent_program import select_rows


def _program(text, dtype="float64"):
    return nngraph.program(nngraph.loads(text), dtype=dtype, seed=1)


def _finite_difference(program, name, index, loss):
    param = program.params[name].reshape(-1)
    keep = param[index].copy()
    param[index] = keep + 1e-6
    up = loss()
    param[index] = keep - 1e-6
    down = loss()
    param[index] = keep
    return (up - down) / 2e-6


@pytest.mark.parametrize("links", [
    "x -> h; x2 -> h",                                                 # two dense links into an image unit
    "x -> h; i -> h conv(filters=2, kernel=3, padding=1)",             # dense + conv
    "x -> h; i -> h maxpool(kernel=3, stride=1, padding=1)",           # dense + pooling
])
def test_an_image_unit_fed_by_a_dense_link_has_one_bias_per_value(links):
    program = _program(f"""
model m {{ input x[4]; input x2[2]; input i[2, 2, 2]; layer h[2, 2, 2] tanh; output y[1]
  {links}; h -> y }}
train {{ model m; data xor; loss mse(y) }}""")
    assert program.params["h.bias"].shape == (8,)
    bias = np.arange(8.0)
    program.set("h.bias", bias)
    for name, p in program.params.items():
        if name != "h.bias":
            p[...] = 0
    inputs = {name: np.zeros((3, *program.train_plan.shapes[name])) for name in program.train_plan.feeds}
    h = program.forward(inputs)["h"]
    np.testing.assert_allclose(h, np.tanh(np.broadcast_to(bias.reshape(2, 2, 2), (3, 2, 2, 2))))


def test_conv_and_pooling_into_one_unit_gets_one_bias_per_channel():
    program = _program("""
model m { input x[1, 4, 4]; layer c[1, 4, 4] tanh; layer u tanh; output y[1]
  x -> c conv(filters=1, kernel=3, padding=1)
  x -> u conv(filters=1, kernel=3, padding=1)
  c -> u maxpool(kernel=3, stride=1, padding=1); u -> y }
train { model m; data xor; loss mse(y) }""")
    assert program.params["u.bias"].shape == (1,)
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    loss, _, _, _ = program.loss_and_grads({"x": x}, target=np.zeros((2, 1)))
    assert np.isfinite(loss)


COMPARE = """
model m {{ input x[3]; layer h[2] {hidden}; output q[2] tanh; x -> h -> q }}
train {{ model m; data xor; loss {loss} }}
"""


@pytest.mark.parametrize("hidden", ["", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["mse(q, h)", "bce(q, h)", "0.5 * mse(q, h) + mse(q)"])
def test_a_loss_comparing_two_units_differentiates_through_both(hidden, loss):
    if loss.startswith("bce"):
        hidden, loss = "sigmoid", loss
        text = COMPARE.replace("output q[2] tanh", "output q[2] sigmoid")
    else:
        text = COMPARE
    program = _program(text.format(hidden=hidden, loss=loss))
    x = np.random.default_rng(0).standard_normal((4, 3))
    target = np.random.default_rng(1).random((4, 2))

    def total():
        return program.loss_and_grads({"x": x}, target=target)[0]

    _, _, grads, _ = program.loss_and_grads({"x": x}, target=target)
    for name in ("h.bias", "x->h.weight"):
        for index in range(2):
            assert grads[name].reshape(-1)[index] == pytest.approx(
                _finite_difference(program, name, index, total), rel=1e-6, abs=1e-10), name


def test_a_recurrent_loss_comparing_two_units_differentiates_through_both():
    checked = nngraph.loads("""
model m { input x[3] sequence; layer h[2] tanh; output q[2] tanh; x -> h -> q; h -> h delay 1 }
train { model m; data sine; loss mse(q, h) }""")
    program = compile_model(checked.models["m"], checked.train().loss, get_backend("numpy", "float64"), seed=1)
    x = {"x": np.random.default_rng(0).standard_normal((2, 4, 3))}
    targets = select_rows(None, None, True, 2, 0, 4, 4)

    def total():
        return program.loss(program.run(x), targets)[0]

    _, _, grads, _ = program.loss_and_grads(x, targets)
    for index in range(2):
        assert grads["h.bias"][index] == pytest.approx(
            _finite_difference(program, "h.bias", index, total), rel=1e-6, abs=1e-10)


def test_the_input_gradient_includes_a_loss_that_compares_with_the_input():
    checked = nngraph.loads("""
model m { input x[3]; layer h[2] tanh; output r[3]; x -> h -> r }
train { model m; data xor; loss mse(r, x) }""")
    program = compile_model(checked.models["m"], checked.train().loss, get_backend("numpy", "float64"), seed=1,
                            input_grads=True)
    x = np.random.default_rng(0).standard_normal((2, 3))
    values = program.feeds({"x": x})
    _, input_grads = program.backward_to_inputs(values, program.run(values, training=True))

    def total():
        vals = program.feeds({"x": x})
        program.run(vals, training=True)
        return program.loss(vals, program.train_plan)[0]

    for index in range(3):
        keep = x[0, index]
        x[0, index] = keep + 1e-6
        up = total()
        x[0, index] = keep - 1e-6
        down = total()
        x[0, index] = keep
        assert input_grads["x"][0, index] == pytest.approx((up - down) / 2e-6, rel=1e-6)


def test_dropout_on_an_identity_unit_reaches_the_cross_entropy_that_reads_it():
    program = _program("""
model m { input x[3]; output y[4] dropout=0.5; x -> y }
train { model m; data xor; loss cross_entropy(y) }""")
    x, labels = np.random.default_rng(0).standard_normal((6, 3)), np.array([0, 1, 2, 3, 1, 2])
    values = program.feeds({"x": x}, labels, rng=np.random.default_rng(3), training=True)
    program.run(values, training=True)
    mask = values["random:y.dropout"]
    logits = (x @ program.get("x->y.weight") + program.get("y.bias")) * mask
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert program.loss(values, program.train_plan)[0] == pytest.approx(-log_p[np.arange(6), labels].mean())


@pytest.mark.parametrize("output, loss", [("y[4] softmax", "cross_entropy(y)"), ("y[1] sigmoid", "bce(y)")])
def test_dropout_on_probabilities_a_fused_loss_reads_is_refused(output, loss):
    with pytest.raises(nngraph.errors.NngraphError, match="would drop the"):
        nngraph.loads(f"model m {{ input x[3]; output {output} dropout=0.5; x -> y }}\n"
                      f"train {{ model m; data xor; loss {loss} }}")


def test_terms_that_read_the_data_differently_are_refused():
    with pytest.raises(nngraph.errors.NngraphError, match="both compare with the data's one target"):
        nngraph.loads("model m { input x[2]; output a[1] sigmoid; output b[3] softmax; x -> a; x -> b }\n"
                      "train { model m; data xor; loss bce(a) + cross_entropy(b) }")


def test_a_target_unit_of_another_shape_is_refused():
    with pytest.raises(nngraph.errors.NngraphError, match=r"compares 'q' \[2\] with 'h' \[3\]"):
        nngraph.loads(COMPARE.format(hidden="", loss="mse(q, h)").replace("h[2]", "h[3]"))


def test_metrics_read_the_unit_the_data_term_names():
    program = _program("""
model m { input x[2]; layer h[2] tanh; output a[2]; output b[1] sigmoid; x -> h -> a; h -> b }
train { model m; data xor; loss mse(a, h) + bce(b) }""")
    assert program.train_plan.scored == "b"


def test_program_takes_the_losses_of_a_named_train_block():
    checked = nngraph.loads("model m { input x[2]; output y[1] sigmoid; x -> y }\n"
                            "train fast { model m; data xor; loss bce(y) }")
    assert [ls.label for ls in nngraph.program(checked).train_plan.losses] == ["bce(y)"]
    assert [ls.label for ls in nngraph.program(checked, "m", train="fast").train_plan.losses] == ["bce(y)"]
