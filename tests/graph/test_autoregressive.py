"""autoregressive links: the shapes they deliver, their free weights, and refusals at the link (ends of other
sizes, a recurrent model)."""

import pytest

from nngraph.errors import ShapeError
from nngraph.graph.shapes import edge_parameters, total_parameters, unit_bias

from .helpers import check, the_only_error


def model(*lines: str, source: str = "x[6]") -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"model m {{\n  input {source}\n{body}\n}}\n"


@pytest.mark.parametrize("source, target, shape", [("x[6]", "p", (6,)), ("x[1, 2, 3]", "p[6]", (6,)),
                                                   ("x[1, 2, 3]", "p", (1, 2, 3))])
def test_it_delivers_as_many_values_and_has_the_free_weights_and_a_bias(source, target, shape):
    graph = check(model(f"output {target} sigmoid", "x -> p autoregressive", source=source)).models["m"]
    assert graph.shapes["p"] == shape
    assert edge_parameters(graph, graph.edges[0]) == 6 * 5 // 2 and unit_bias(graph, "p") == (6, False)
    assert total_parameters(graph) == 15 + 6


def test_ends_of_other_sizes_are_an_error_at_the_link():
    the_only_error(model("output p[5] sigmoid", "x -> p autoregressive"),
                   "an autoregressive link needs as many values at both ends: 'x' has 6, 'p' 5", 4, 5,
                   "use a dense link", kind=ShapeError)


def test_it_is_refused_in_a_recurrent_model():
    text = model("layer h[2] tanh", "output y[2]", "x -> h autoregressive -> y", "h -> h delay 1",
                 source="x[2] sequence")
    the_only_error(text, "autoregressive link x -> h in a recurrent model", 5, 5, "feedforward")
