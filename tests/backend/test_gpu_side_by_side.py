"""benchmarks/gpu_side_by_side.py, the side-by-side benchmark a GPU machine runs (benchmarks/gpu.sh), run here on
numpy with tiny time boxes so that the harness cannot rot between GPU sessions; and gpu.sh itself parses."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import gpu_side_by_side as bench

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--backend", "numpy", "--seconds", "0.01", "--repeats", "1"]
ONE_OF_EACH = ["mlp-b128", "lenet-b64", "elman-b32", "lstm-b32"]


def test_one_case_of_each_kind_times_nngraph_alone(capsys, tmp_path):
    jsonl = tmp_path / "rows.jsonl"
    rows = bench.main(TINY + ["--torch", "none", "--only", ",".join(ONE_OF_EACH), "--jsonl", str(jsonl)])
    out = capsys.readouterr().out
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert printed == rows == [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["case"] for r in rows] == ONE_OF_EACH
    for row in rows:
        assert row["nngraph"] > 0 and row["steps"] >= 1
        assert row["torch"] is None and row["ratio"] is None and row["met"] is None
        assert row["nngraph_memory"].startswith("not measured")
    assert "mlp-b128" in out.split("\n", len(rows))[-1] and "n/a" in out  # the table after the JSON lines


def test_torch_on_the_cpu_is_the_same_harness():
    pytest.importorskip("torch")
    (row,) = bench.main(TINY + ["--torch", "cpu", "--only", "mlp-b128"])
    assert row["torch_device"] == "cpu" and row["torch"] > 0
    assert row["ratio"] == pytest.approx(row["nngraph"] / row["torch"], rel=0.01)  # one pair: its own ratio
    assert row["met"] is None and row["torch_memory"].startswith("not measured")


def test_floors_are_the_issues_and_judge_only_cupy_against_cuda():
    assert bench.floor_met("mlp", 1.31, "cupy", "cuda") and not bench.floor_met("mlp", 1.29, "cupy", "cuda")
    assert bench.floor_met("lenet", 1.0, "cupy", "cuda") and bench.floor_met("elman", 1.0, "cupy", "cuda")
    assert bench.floor_met("lstm", 0.5, "cupy", "cuda") and not bench.floor_met("lstm", 0.49, "cupy", "cuda")
    assert bench.floor_met("mlp", 9.0, "numpy", "cpu") is None and bench.floor_met("mlp", None, "cupy", "cuda") is None
    assert {kind for kind, _ in bench.CASES} == set(bench.FLOORS) and len(bench.CASES) == 9


def test_an_unknown_case_is_named_in_the_error():
    with pytest.raises(SystemExit, match="names no case: mlp-b7"):
        bench.wanted_cases("mlp,mlp-b7")
    assert bench.wanted_cases("lstm") == [("lstm", 32), ("lstm", 256)]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_gpu_sh_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
