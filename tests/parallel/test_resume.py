"""A run resumes with any number of ranks: what it checkpoints (parameters, optimizer state, the loop's
generator) is the global run's, the same on every rank."""

from __future__ import annotations

from tests.parallel.helpers import mpiexec, run, train
from tests.parallel.test_same_results import MLP, assert_same_training


def resumed_across_ranks(tmp_path, spec: str, epochs: int, first: int, then: int,
                         steps_per_epoch: int | None = None):
    """`spec` trained straight for `epochs` in one process, and trained for half of them on `first` ranks, then
    resumed on `then`: the two runs' records and parameters. An agent's (`steps_per_epoch` environment steps
    an update) is as long as its `steps` say."""
    mpiexec()
    path = tmp_path / "spec.nn"
    path.write_text(spec)

    def length(count: int) -> str:
        return f"epochs={count}" if steps_per_epoch is None else f"steps={count * steps_per_epoch}"

    straight = train(1, path, tmp_path / "straight", "--set", length(epochs))
    halves = train(first, path, tmp_path / "halves", "--set", length(epochs // 2))
    resumed = run(then, "train", path, "--resume", halves.folder, "--threads", "1", "--set", length(epochs),
                  folder=halves.folder)
    assert resumed.code == 0, resumed.err
    assert [r["epoch"] for r in halves.records()] == list(range(1, epochs + 1))
    return straight, halves


def test_a_run_started_in_one_process_resumes_on_two_ranks_as_if_never_stopped(tmp_path):
    assert_same_training(*resumed_across_ranks(tmp_path, MLP, 4, first=1, then=2))


def test_persistent_chains_stepped_on_two_ranks_resume_in_one_process_as_if_never_stopped(tmp_path):
    """Each rank steps its share of the PCD chains, and every checkpoint holds all of them: a run stopped on 2
    ranks goes on in one process with the chains (and the generator) one process would have."""
    from tests.parallel.test_same_results import PCD

    assert_same_training(*resumed_across_ranks(tmp_path, PCD, 3, first=2, then=1))
