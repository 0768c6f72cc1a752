"""A run resumes with any number of ranks: what it checkpoints (parameters, optimizer state, the loop's
generator) is the global run's, the same on every rank."""

from __future__ import annotations

from tests.parallel.helpers import mpiexec, run, train
from tests.parallel.test_same_results import MLP, assert_same_training


def test_a_run_started_in_one_process_resumes_on_two_ranks_as_if_never_stopped(tmp_path):
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(MLP.replace("epochs 3", "epochs 4"))
    straight = train(1, path, tmp_path / "straight")
    halves = train(1, path, tmp_path / "halves", "--set", "epochs=2")
    resumed = run(2, "train", path, "--resume", halves.folder, "--threads", "1", "--set", "epochs=4",
                  folder=halves.folder)
    assert resumed.code == 0, resumed.err
    assert [r["epoch"] for r in halves.records()] == [1, 2, 3, 4]
    assert_same_training(straight, halves)


def test_persistent_chains_stepped_on_two_ranks_resume_in_one_process_as_if_never_stopped(tmp_path):
    """Each rank steps its share of the PCD chains, and every checkpoint holds all of them: a run stopped on 2
    ranks goes on in one process with the chains (and the generator) one process would have."""
    from tests.parallel.test_same_results import PCD

    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(PCD.replace("epochs 2", "epochs 3"))
    straight = train(1, path, tmp_path / "straight")
    halves = train(2, path, tmp_path / "halves", "--set", "epochs=1")
    resumed = run(1, "train", path, "--resume", halves.folder, "--threads", "1", "--set", "epochs=3",
                  folder=halves.folder)
    assert resumed.code == 0, resumed.err
    assert [r["epoch"] for r in halves.records()] == [1, 2, 3]
    assert_same_training(straight, halves)
