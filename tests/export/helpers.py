"""Shared pieces of the export tests: brief training runs, the export command, ONNX Runtime, and what nngraph
itself computes for the same inputs (the methods' `predict`, which `nngraph predict` runs)."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from tests.cli.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
TOLERANCE = 1e-5  # float32, max abs difference
ROWS = 256  # examples compared per spec


def train_briefly(spec: Path, folder: Path, overrides=("epochs=1",)):
    """(checked spec, checkpoint) of a one-epoch run of `spec` in `folder`."""
    checked = nngraph.load(spec, list(overrides))
    nngraph.fit(checked, out=folder)
    return checked, folder / "checkpoint.npz"


def export(spec: Path, checkpoint: Path, output: Path, part: str | None = None):
    """`nngraph export` in-process: the loaded ONNX model, checked in full (shapes and types inferred)."""
    result = run_cli("export", spec, "--checkpoint", checkpoint, "-o", output, *(["--part", part] if part else []))
    assert result.code == 0 and f"wrote {output}" in result.out, result.both
    model = onnx.load(output)
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(path: Path, feeds: dict) -> dict:
    """Every output of the ONNX model at `path`, by name, for float32 inputs by name."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    arrays = session.run(names, {k: np.asarray(v, np.float32) for k, v in feeds.items()})
    return dict(zip(names, arrays))


def compared_rows(session, pack: int = 1) -> np.ndarray:
    """Up to ROWS examples of the test split, else the validation split, else the training split."""
    splits = session.splits
    data = next(s for s in (splits.test, splits.validation, splits.train) if s is not None and len(s))
    count = min(ROWS, len(data)) // pack * pack
    return data.x[:count]


def assert_matches(got: dict, want: dict, rounding: dict | None = None) -> None:
    """ONNX Runtime's outputs against nngraph's, unit by unit, within TOLERANCE. `rounding` (unit -> the max
    difference between nngraph's float32 and float64 results on the same data) widens it by as much: where
    float32 rounding alone moves nngraph's own result further, no float32 implementation can be held closer."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    for unit, expected in want.items():
        expected = np.asarray(expected)
        assert got[unit].shape == expected.shape, (unit, got[unit].shape, expected.shape)
        difference = float(np.abs(got[unit] - expected).max())
        allowed = TOLERANCE + (rounding or {}).get(unit, 0.0)
        assert difference <= allowed, f"{unit}: max abs difference {difference:.3g} > {allowed:.3g}"


def float64_rounding(method, feeds: dict, want: dict) -> dict:
    """Per unit, max |float32 - float64| of nngraph's own forward pass (the method's program, recompiled in
    float64 with the same parameters) on these inputs."""
    program = method.program
    twin = compile_model(method.model, method.config.loss, get_backend("numpy", "float64"))
    for name in program.params:
        twin.set(name, program.get(name).astype(np.float64))
    values = twin.forward({k: np.asarray(v, np.float64) for k, v in feeds.items()})
    return {unit: float(np.abs(np.asarray(values[unit]) - want[unit]).max()) for unit in want}


def feeds_of(method, x: np.ndarray) -> dict:
    """The model's inputs by unit, as the method's `predict` splits (and for text, one-hot encodes) x."""
    return method.inputs(x if x.dtype.kind in "iu" else x.astype(np.float32))  # text codes become one-hot
