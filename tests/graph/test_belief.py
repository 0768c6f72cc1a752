"""Method `dbn` checks its model is one stack (graph/belief.py): each way a model can fail to be one is an
error at the unit or link that breaks it, with its line and column."""

import pytest

from nngraph.errors import ValidationError
from nngraph.graph.belief import belief_stack, layer_machine

from .helpers import check, source, the_only_error

TRAIN = """
train {
  data digits
  loss cross_entropy(y)
  method dbn(pretrain=1)
}
"""


def spec(*body: str) -> str:
    """A model `m` whose statements start on line 2, then a dbn train block."""
    return source("model m {\n" + "".join(f"  {line}\n" for line in body) + "}\n" + source(TRAIN))


STACK = ("input x[64]", "layer h1[32] sigmoid", "layer h2[16] sigmoid", "output y[10] softmax")


def test_a_chain_of_sigmoid_layers_is_a_stack_and_each_pair_an_rbm():
    model = check(spec(*STACK, "x -> h1 -> h2 -> y")).models["m"]
    assert belief_stack(model) == ("x", "h1", "h2")
    machine = layer_machine(model, "h1", "h2")
    assert [(u.name, u.role, machine.shapes[u.name]) for u in machine.units] == [("h1", "visible", (32,)),
                                                                                    ("h2", "hidden", (16,))]
    assert [e.symmetric for e in machine.edges] == [True]


# case -> (model body after STACK-like units, message, line, column)
NOT_A_STACK = {
    "relu layer": (("input x[64]", "layer h1[32] relu", "output y[10] softmax", "x -> h1 -> y"),
                   "layer 'h1' is relu; a stack's layers are sigmoid", 3, 3),
    "no bias": (("input x[64]", "layer h1[32] sigmoid nobias", "output y[10] softmax", "x -> h1 -> y"),
                "layer 'h1' has no bias", 3, 3),
    "no layer": (("input x[64]", "output y[10] softmax", "x -> y"), "there is no layer to pretrain", 4, 5),
    "branch": ((*STACK, "x -> h1 -> h2 -> y", "x -> h2"), "'x' feeds 2 units", 7, 5),
    "skip into the output": ((*STACK, "x -> h1 -> h2 -> y", "h1 -> y"), "'h1' feeds 2 units", 7, 6),
    "two inputs": (("input x[64]", "input z[4]", "layer h1[32] sigmoid", "output y[10] softmax", "x -> h1 -> y",
                    "z -> h1"), "has 2 input units", 1, 7),
    "recurrent layer": ((*STACK, "x -> h1 -> h2 -> y", "h2 -> h2 delay 1"), "'h2' is fed by 2 links", 7, 6),
    "pooling link": (("input x[1, 8, 8]", "layer p sigmoid", "layer h1[32] sigmoid", "output y[10] softmax",
                      "x -> p maxpool(2)", "p -> h1 -> y"), "x -> p is a maxpool link", 6, 5),
}


@pytest.mark.parametrize("case", sorted(NOT_A_STACK))
def test_a_model_that_is_not_a_stack_is_refused_where_it_breaks(case):
    body, match, line, column = NOT_A_STACK[case]
    the_only_error(spec(*body), match, line, column, None, ValidationError)

