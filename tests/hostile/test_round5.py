"""Hostile and careless input, round 5: work with no bound (eval --likelihood/--refine, sample's counts multiplied),
option values that overflow in arithmetic, a huge inspect table, data files, YAML, checkpoints and the Python API
(see test_cli.py for how the real command is run)."""

import numpy as np
import pytest

import nngraph
from tests.hostile.test_cli import assert_refused, nngraph as run_nngraph, write

RNG = np.random.default_rng(0)


# ---- inspect of a large model ----------------------------------------------------------------------------------


def test_inspect_of_20000_units_prints_every_row_in_a_few_seconds(tmp_path):
    # rich's Table measured and wrapped each cell through its renderables: 12 s of CPU (17 s on a loaded machine)
    write(tmp_path, "big.nn", "model m {\n  input x[2]\n  layer h[2] tanh repeat=10000\n  layer g[2] tanh repeat=9998\n"
                              "  output y[1]\n  x -> h -> g -> y\n}\n")
    run = run_nngraph("inspect", "big.nn", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]
    lines = run.output.splitlines()
    assert lines[4] == "│ x       │ input  │ [2]   │ input             │ -          │          0 │     0 │"
    assert "│ g_9998  │ layer  │ [2]   │ tanh              │ <- g_9997  │          6 │     8 │" in lines
    assert sum(line.startswith("│ ") for line in lines) == 20000
    assert run.seconds < 7, run.seconds  # 2.5 s of CPU now
