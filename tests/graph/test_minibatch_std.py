"""minibatch_std links: the shapes they deliver, no weights, and refusals at the link wherever a batch-wide value
makes no sense (outside a gan's discriminator, in a recurrent model) or the group is not a whole number."""

import pytest

from nngraph.errors import ShapeError, ValidationError
from nngraph.graph.shapes import total_parameters, unit_bias

from .helpers import check, the_only_error


def model(*lines: str, source: str = "x[2, 4, 5]") -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"model m {{\n  input {source}\n{body}\n}}\n"


def gan(generator: str = "z -> g -> p", discriminator: str = "q -> d -> s minibatch_std -> r") -> str:
    return f"""
model g {{
  noise z[2] normal
  layer g[8] relu
  layer h
  output p[2]
  {generator}
}}
model d {{
  input q[2]
  layer d[8] relu
  layer s
  output r[1] sigmoid
  {discriminator}
}}
train {{
  data grid(n=100)
  method gan(generator=g, discriminator=d)
}}
"""


@pytest.mark.parametrize("source, shape", [("x[6]", (7,)), ("x[2, 4, 5]", (3, 4, 5))])
def test_minibatch_std_appends_one_value_or_one_channel(source, shape):
    graph = check(model("layer u", "x -> u minibatch_std(group=2)", source=source)).models["m"]
    assert graph.shapes["u"] == shape
    assert unit_bias(graph, "u") is None and total_parameters(graph) == 0  # no weights, so no bias either


def test_a_gan_discriminator_takes_it():
    graph = check(gan(generator="z -> g -> p\n  g -> h identity")).models["d"]
    assert graph.shapes["s"] == (9,)


@pytest.mark.parametrize("group", ["0", "2.5"])
def test_a_group_that_is_not_a_whole_number_is_refused_at_the_link(group):
    the_only_error(model("layer u", f"x -> u minibatch_std(group={group})", source="x[6]"),
                   "minibatch_std group: expected a whole number >= 1", 4, 5, "ProGAN", kind=ShapeError)


def test_it_is_refused_in_a_generator():
    text = gan(generator="z -> g -> h minibatch_std -> p", discriminator="q -> d -> s identity -> r")
    the_only_error(text, "minibatch_std link g -> h in model 'g', which method gan trains", 6, 10,
                   "gan's discriminator", kind=ValidationError)


def test_it_is_refused_in_a_classifier():
    text = ("model m {\n  input x[2]\n  layer h[4] tanh\n  layer s\n  output y[1] sigmoid\n"
            "  x -> h -> s minibatch_std -> y\n}\ntrain {\n  data xor\n  loss bce(y)\n}\n")
    the_only_error(text, "minibatch_std link h -> s in model 'm', which method backprop trains", 6, 10,
                   "depend on its batch", kind=ValidationError)


def test_it_is_refused_in_a_recurrent_model():
    text = model("layer h[3] tanh", "layer s", "output y[1]", "x -> h -> s minibatch_std -> y", "h -> h delay 1",
                 source="x[2] sequence")
    the_only_error(text, "minibatch_std link h -> s in a recurrent model", 6, 10, "discriminator")
