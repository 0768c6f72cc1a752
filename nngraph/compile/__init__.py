"""Lowering checked graphs to plans, and running plans as Programs."""

from nngraph.compile.lower import lower_model
from nngraph.compile.plan import Plan
from nngraph.compile.program import Program


def compile_model(model, losses=(), backend=None, seed: int = 0, sum_units: bool = False,
                  input_grads: bool = False, learn_initial: bool = False) -> Program:
    """A Program for one checked model: a training plan (with dropout) and an eval plan (without). A
    recurrent model's plan loops over time steps (scan instructions) and backpropagates through time.
    `learn_initial` learns the state before the first step of every loop unit (a unit's own `initial=learned`
    does it for that unit alone)."""
    options = dict(sum_units=sum_units, input_grads=input_grads, learn_initial=learn_initial)
    program = Program(lower_model(model, losses, training=True, **options),
                      lower_model(model, losses, training=False, **options), backend, seed)
    program.model = model
    return program


__all__ = ["Plan", "Program", "compile_model", "lower_model"]
