import json
import os

import pytest

from nngraph.errors import OutputError, TrainingError
from nngraph.train.loop import History
from nngraph.train.outputs import make_run_dir, spec_hash, summarize

NOON = 1714564800.0  # a fixed clock so folder names are predictable


def test_spec_hash_is_16_hex_of_sha256():
    digest = spec_hash("model a {}")
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert digest != spec_hash("model b {}") and digest == spec_hash("model a {}")


def test_fresh_folders_never_collide(tmp_path):
    first = make_run_dir("specs/xor.nn", root=tmp_path, now=NOON)
    second = make_run_dir("specs/xor.nn", root=tmp_path, now=NOON)
    assert first.path.name.startswith("xor-") and second.path.name == first.path.name + "-2"
    assert first.path.is_dir() and second.path.is_dir()


def test_out_folder_is_created_or_reused_while_it_holds_no_run(tmp_path):
    run = make_run_dir(out=tmp_path / "a" / "b", spec_text="text")
    assert run.path.is_dir() and run.spec_hash == spec_hash("text")
    (run.path / "notes.txt").write_text("mine")
    assert make_run_dir(out=tmp_path / "a" / "b").path == run.path
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        make_run_dir(out=tmp_path / "file")
    blocker = tmp_path / "file"
    with pytest.raises(OutputError, match=f"cannot create the folder {blocker}: {blocker} is a file"):
        make_run_dir(out=tmp_path / "file" / "run")


def test_a_folder_that_holds_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    run = make_run_dir(out=tmp_path)
    run.metrics.write_text('{"epoch": 1}\n')
    run.checkpoint.write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds a training run") as refused:
        make_run_dir(out=tmp_path)
    assert "--resume" in refused.value.hint and "--overwrite" in refused.value.hint
    assert run.metrics.read_text() == '{"epoch": 1}\n'  # untouched
    assert make_run_dir(out=tmp_path, resume=True).path == tmp_path
    assert run.checkpoint.exists()
    make_run_dir(out=tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # the old run's files only are gone


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        make_run_dir(out=tmp_path / "none", resume=True)
    assert not (tmp_path / "none").exists()
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(TrainingError, match="stopped before its first checkpoint"):
        make_run_dir(out=tmp_path, resume=True)
    os.mkfifo(tmp_path / "checkpoint.npz")  # it was "the run stopped before its first checkpoint" too
    with pytest.raises(TrainingError, match="checkpoint.npz is a FIFO, not a checkpoint"):
        make_run_dir(out=tmp_path, resume=True)


def test_metrics_log_writes_one_flushed_line_per_record(tmp_path):
    run = make_run_dir(out=tmp_path)
    with run.open_metrics([{"epoch": 1, "loss": 1.0}]) as log:
        log.write({"epoch": 2, "loss": float("nan")})
        lines = run.metrics.read_text().splitlines()  # readable before the log closes
    assert [json.loads(line) for line in lines] == [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": None}]


def test_summary_has_splits_and_provenance(tmp_path):
    history = History([{"epoch": 1, "lr": 0.1, "time": 0.1, "loss_running": 0.5, "val_loss": 0.7},
                       {"epoch": 2, "lr": 0.1, "time": 0.2, "loss_running": 0.4, "val_loss": 0.9}],
                      stopped_early=True, best_epoch=1)
    summary = summarize(history, spec_hash="abc", seed=3, backend="numpy", dtype="float32",
                        wall_time=1.23456, test={"loss": 0.8}, train={"loss": 0.45})
    assert summary["train_running"] == {"loss": 0.5} and summary["validation"] == {"loss": 0.7}  # best epoch
    assert summary["train"] == {"loss": 0.45}  # the split measured in eval mode, as `nngraph eval` does
    assert summary["test"] == {"loss": 0.8} and summary["epochs_run"] == 2
    assert set(summary["versions"]) == {"python", "numpy", "nngraph"}
    run = make_run_dir(out=tmp_path)
    run.finish(history.records, summary)
    assert json.loads((tmp_path / "summary.json").read_text())["spec_hash"] == "abc"


def test_curves_are_drawn_as_a_png(tmp_path):
    run = make_run_dir(out=tmp_path)
    path = run.plot_curves([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}])
    assert path == tmp_path / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
