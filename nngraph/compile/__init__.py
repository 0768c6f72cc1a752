"""Lowering checked graphs to plans, and running plans as Programs."""

from nngraph.compile.lower import lower_model
from nngraph.compile.plan import Plan
from nngraph.compile.program import Program


def compile_model(model, losses=(), backend=None, seed: int = 0, sum_units: bool = False,
                  input_grads: bool = False):
    """A Program for one checked model: a training plan (with dropout) and an eval plan (without).
    A recurrent model gets a RecurrentProgram (steps looped, backprop through time)."""
    if model.is_recurrent:
        from nngraph.compile.recurrent import lower_recurrent
        from nngraph.compile.recurrent_program import RecurrentProgram

        return RecurrentProgram(lower_recurrent(model, losses), backend, seed)
    train_plan = lower_model(model, losses, training=True, sum_units=sum_units, input_grads=input_grads)
    eval_plan = lower_model(model, losses, training=False, sum_units=sum_units, input_grads=input_grads)
    return Program(train_plan, eval_plan, backend, seed)


__all__ = ["Plan", "Program", "compile_model", "lower_model"]
