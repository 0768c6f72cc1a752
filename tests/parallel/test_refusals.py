"""Under MPI a bad setting is refused before anything is written, with the spec position; a rank that fails
stops the whole job, naming itself, instead of leaving the others waiting in a collective."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from tests.parallel.helpers import REPO, mpiexec, run
from tests.parallel.test_same_results import MLP


def refused(tmp_path, spec: str):
    path = tmp_path / "spec.nn"
    path.write_text(spec)
    out = tmp_path / "out"
    result = run(2, "train", path, "--out", out, "--threads", "1", folder=out)
    assert result.code == 1
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert not out.exists()  # refused before the run folder is made
    return path, result.err


def test_a_batch_the_ranks_cannot_share_is_refused_at_the_batch_setting(tmp_path):
    mpiexec()
    path, err = refused(tmp_path, MLP.replace("batch 16", "batch 15"))
    line = MLP.splitlines().index("  batch 16") + 1
    assert f"{path}:{line}:3: error: batch 15 cannot be split evenly across 2 MPI ranks" in err
    assert "rank 0 of 2 failed" in err or "rank 1 of 2 failed" in err


def test_fewer_persistent_chains_than_ranks_are_refused_at_the_method(tmp_path):
    from tests.parallel.test_same_results import PCD

    mpiexec()
    path, err = refused(tmp_path, PCD.replace("chains=9", "chains=1"))
    line = PCD.splitlines().index("  method pcd(k=1, chains=9)") + 1
    assert f"{path}:{line}:10: error: 1 persistent chain cannot be shared by 2 MPI ranks" in err


def test_dropout_in_an_agents_network_is_refused_at_the_model(tmp_path):
    """An agent's forward passes draw their own dropout masks, not the rows of the loop's draws."""
    mpiexec()
    from tests.rl.helpers import agent

    path, err = refused(tmp_path, agent().replace("layer  h[16] tanh", "layer  h[16] tanh dropout=0.1"))
    assert "dropout or noise in an agent's network does not train data-parallel yet" in err
    assert f"{path}:9:3: error:" in err  # the train block's `model`


FAILING_RANK = """\
from nngraph.train.parallel import abort_on_error, world

with abort_on_error():
    if world().rank == 1:
        raise ValueError("rank one broke")
    world().barrier()  # rank 0 waits here for a rank that never comes
"""


def test_a_rank_that_raises_stops_every_rank_and_is_named(tmp_path):
    done = subprocess.run([str(mpiexec()), "-n", "2", sys.executable, "-c", FAILING_RANK], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 1
    assert "nngraph: rank 1 of 2 failed:\nerror: ValueError: rank one broke" in done.stderr


def test_draws_on_rows_other_than_the_examples_stop_the_job_with_a_clear_error(tmp_path):
    """A VAE with two samples per example draws noise for repeated rows: refused at the first step."""
    from tests.parallel.test_same_results import VAE

    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(VAE.replace("samples=1", "samples=2"))
    out = tmp_path / "out"
    result = run(2, "train", path, "--out", out, "--threads", "1", folder=out)
    assert result.code == 1
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert "a random draw of 8 rows for a shard of 4 examples (1 steps) cannot be split" in result.err
    assert "a vae with samples > 1" in result.err
