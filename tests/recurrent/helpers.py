"""Small recurrent models built from spec text, and a float64 finite-difference check over a whole program."""

from __future__ import annotations

import numpy as np

import nngraph
from nngraph.backend import get_backend
from nngraph.compile.recurrent import lower_recurrent
from nngraph.compile.recurrent_program import RecurrentProgram, select_rows
from nngraph.ops.gradcheck import host

SPEC = """
model m {{
  input x[3] sequence
  {units}
  {connections}
}}
train {{ model m; data sine; loss {loss} }}
"""


def program(units: str, connections: str, loss: str = "mse(y)", backend_name: str = "numpy",
            dtype: str = "float64", learn_initial: bool = False) -> RecurrentProgram:
    checked = nngraph.loads(SPEC.format(units=units, connections=connections, loss=loss))
    plan = lower_recurrent(checked.models["m"], checked.train().loss, learn_initial=learn_initial)
    return RecurrentProgram(plan, get_backend(backend_name, dtype), seed=1)


def batch(per_step: bool = True, labels: bool = False, n: int = 3, steps: int = 5, width: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, 3))
    shape = (n, steps) if per_step else (n,)
    y = rng.integers(0, width, shape) if labels else rng.standard_normal(shape + (width,))
    return x, y


def assert_gradients_match(prog: RecurrentProgram, x, targets, state=None, step: float = 1e-6,
                           rtol: float = 1e-5) -> None:
    """Every parameter's BPTT gradient against central differences of the loss (float64)."""
    _, _, grads, _ = prog.loss_and_grads({"x": x}, targets, state)
    for name, param in prog.params.items():
        numeric = np.zeros(param.shape)
        flat = param.reshape(-1)
        for i in range(flat.size):
            keep = flat[i].item()
            flat[i] = keep + step
            up = prog.loss(prog.run({"x": x}, state), targets)[0]
            flat[i] = keep - step
            down = prog.loss(prog.run({"x": x}, state), targets)[0]
            flat[i] = keep
            numeric.reshape(-1)[i] = (up - down) / (2 * step)
        scale = max(np.abs(numeric).max(), 1e-8)
        np.testing.assert_allclose(host(grads[name]) / scale, numeric / scale, atol=rtol, err_msg=name)


def rows(y, lengths=None, per_step=True, start=0, steps=None, total=None):
    n = len(y)
    total = total or (y.shape[1] if per_step else steps)
    return select_rows(y, lengths, per_step, n, start, steps or total, total)
