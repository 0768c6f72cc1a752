"""Small recurrent models built from spec text, and a float64 finite-difference check over a whole program."""

from __future__ import annotations

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import Program, compile_model
from nngraph.ops.gradcheck import host
from nngraph.train.sequences import Targets, select_rows

SPEC = """
model m {{
  input x[3] sequence
  {units}
  {connections}
}}
train {{ model m; data sine; loss {loss} }}
"""


def program(units: str, connections: str, loss: str = "mse(y)", backend_name: str = "numpy",
            dtype: str = "float64", learn_initial: bool = False) -> Program:
    checked = nngraph.loads(SPEC.format(units=units, connections=connections, loss=loss))
    return compile_model(checked.models["m"], checked.train().loss, get_backend(backend_name, dtype), seed=1,
                         learn_initial=learn_initial)


def batch(per_step: bool = True, labels: bool = False, n: int = 3, steps: int = 5, width: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, 3))
    shape = (n, steps) if per_step else (n,)
    y = rng.integers(0, width, shape) if labels else rng.standard_normal(shape + (width,))
    return x, y


def run(prog: Program, x, state=None, targets: Targets | None = None, training: bool = False) -> dict:
    """The slot values of a forward pass over sequences x (with the losses where `targets` are given)."""
    rows, data = (targets.rows, targets.data) if targets else (None, None)
    values = prog.feeds({"x": x}, data, training=training, state=state, rows=rows)
    prog.run(values, training=training, with_loss=targets is not None)
    return values


def loss_of(prog: Program, x, targets: Targets, state=None) -> float:
    return prog.loss(run(prog, x, state, targets, training=True), prog.train_plan)[0]


def output(prog: Program, values: dict, unit: str, batch: int) -> np.ndarray:
    """A unit's values as (batch, steps, *shape)."""
    return host(prog.batch_major(values[prog.train_plan.slot(unit)], prog.train_plan, batch))


def grads_of(prog: Program, x, targets: Targets, state=None) -> dict:
    return prog.loss_and_grads({"x": x}, targets.data, state=state, rows=targets.rows)[2]


def assert_gradients_match(prog: Program, x, targets: Targets, state=None, step: float = 1e-6,
                           rtol: float = 1e-5) -> None:
    """Every parameter's BPTT gradient against central differences of the loss (float64)."""
    grads = grads_of(prog, x, targets, state)
    for name, param in prog.params.items():
        numeric = np.zeros(param.shape)
        flat = param.reshape(-1)
        for i in range(flat.size):
            keep = flat[i].item()
            flat[i] = keep + step
            up = loss_of(prog, x, targets, state)
            flat[i] = keep - step
            down = loss_of(prog, x, targets, state)
            flat[i] = keep
            numeric.reshape(-1)[i] = (up - down) / (2 * step)
        scale = max(np.abs(numeric).max(), 1e-8)
        np.testing.assert_allclose(host(grads[name]) / scale, numeric / scale, atol=rtol, err_msg=name)


def rows(y, lengths=None, per_step=True, start=0, steps=None, total=None):
    n = len(y)
    total = total or (y.shape[1] if per_step else steps)
    return select_rows(y, lengths, per_step, n, start, steps or total, total)
