"""benchmarks/twin_check.py, nngraph against a PyTorch twin written from docs/language.md, run briefly: two
cases of every family agree to 1e-9 relative (augmentation's float32 images to 1e-5; the benchmark runs
hundreds). Torch is a benchmark dependency, not a test one: without it this skips, and says so. It runs in a
child process, since the twin sets torch's default dtype to float64 for its whole process."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def table(output: str) -> dict[str, tuple[int, int]]:
    """The printed table's rows: construct -> (cases, mismatches)."""
    rows = {}
    for line in output.split("\n\n")[0].splitlines()[1:]:
        *name, cases, bad, _ = line.split()
        rows[" ".join(name)] = (int(cases), int(bad))
    return rows


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="the twin check needs torch (pip install torch==2.13.0), a benchmark dependency")
def test_two_cases_of_every_family_agree_with_the_twin():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "twin_check.py"), "--cases", "2", "--seed", "3"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = table(done.stdout)
    failing = {name: row for name, row in rows.items() if row[1]}
    assert not failing, done.stdout
    for family in ("vae_steps", "gan_steps", "rbm_steps", "boltzmann_steps", "dbn_steps", "augment", "init",
                   "rl_steps", "rl_rollouts", "sampling", "vae_inference", "init_draws", "boltzmann_fill", "gan_fill",
                   "sequence_fill", "boltzmann_sample", "dbn_sample", "ar_vae", "fill_masks"):  # prefixed
        assert any(name.startswith(f"{family}: ") for name in rows), family
    assert {"minibatch_std", "schedules", "fit", "tied"} <= rows.keys()
    assert rows.keys() & {"conv and pooling in a loop", "conv net feeding a recurrent layer"}  # conv_loop's
    assert any(name.startswith("block ") for name in rows)  # the blocks family's
    assert any(name.startswith("into one unit: ") for name in rows)  # the combos family's
