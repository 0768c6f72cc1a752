"""`train`, `eval`, `predict` and `sample` from the command line, and their errors."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nngraph.train.checkpoint import load_checkpoint
from tests.cli.helpers import SPECS, run_cli, run_subprocess, write

BAD_CHECKPOINT_SPEC = """model other {
  input x[2]
  output y[1] sigmoid
  x -> y
}
train { data xor; loss bce(y); epochs 1 }
"""


def _train(tmp_path, *extra):
    out = tmp_path / "run"
    result = run_cli("train", SPECS / "xor.nn", "--out", out, "--quiet", *extra)
    assert result.code == 0, result.both
    return out, result


def test_train_writes_the_run_folder_and_json_prints_the_summary(tmp_path):
    out, result = _train(tmp_path, "--set", "epochs=50", "--json")
    summary = json.loads(result.out)
    assert summary["epochs_run"] == 50 and summary["run_dir"] == str(out)
    assert {p.name for p in out.iterdir()} >= {"metrics.jsonl", "summary.json", "checkpoint.npz", "curves.png"}


def test_train_float64_on_request(tmp_path):
    _, result = _train(tmp_path, "--set", "epochs=5", "--dtype", "float64", "--json")
    assert json.loads(result.out)["dtype"] == "float64"


def test_set_with_a_bad_value_is_a_positioned_error(tmp_path):
    result = run_cli("train", SPECS / "xor.nn", "--set", "batch=0", "--out", tmp_path / "r")
    assert result.code == 1
    assert "<--set>:1:7: error: batch: 0 is out of range" in result.err
    assert not (tmp_path / "r").exists()


def test_eval_and_predict_use_the_trained_checkpoint(tmp_path):
    out, _ = _train(tmp_path)
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--json")
    assert result.code == 0, result.both
    assert json.loads(result.out)["train"]["accuracy"] == 1.0
    x = tmp_path / "x.npy"
    np.save(x, np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    y = tmp_path / "y.npy"
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", x, "-o", y)
    assert result.code == 0, result.both
    np.testing.assert_array_equal(np.load(y).ravel() > 0.5, [False, True, True, False])


def test_a_checkpoint_of_another_spec_is_refused_and_nothing_is_written(tmp_path):
    out, _ = _train(tmp_path)
    other = write(tmp_path, "other.nn", BAD_CHECKPOINT_SPEC)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 2), np.float32))
    result = run_cli("predict", other, "--checkpoint", out / "checkpoint.npz", "--input", x, "-o", tmp_path / "y.npy")
    assert result.code == 1 and "spec" in result.err and "Traceback" not in result.both
    assert not (tmp_path / "y.npy").exists()


def test_predict_with_inputs_of_the_wrong_shape(tmp_path):
    out, _ = _train(tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 5), np.float32))
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", x,
                     "-o", tmp_path / "y.npy")
    assert result.code == 1 and "[5]" in result.err and "x[2]" in result.err


def test_unreadable_inputs_and_missing_checkpoints_are_plain_errors(tmp_path):
    out, _ = _train(tmp_path)
    junk = write(tmp_path, "x.npy", "not an array")
    result = run_cli("predict", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz", "--input", junk,
                     "-o", tmp_path / "y.npy")
    assert result.code == 1 and "cannot read" in result.err
    result = run_cli("eval", SPECS / "xor.nn", "--checkpoint", tmp_path / "none.npz")
    assert result.code == 1 and "Traceback" not in result.both


def test_resume_continues_a_run(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=10")
    result = run_cli("train", SPECS / "xor.nn", "--resume", out, "--set", "epochs=20", "--json", "--quiet")
    assert result.code == 0, result.both
    assert json.loads(result.out)["epochs_run"] == 20
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 20


def test_sample_on_a_model_that_cannot_generate(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=1")
    result = run_cli("sample", SPECS / "xor.nn", "--checkpoint", out / "checkpoint.npz")
    assert result.code == 1 and "does not generate samples" in result.err


def test_an_out_folder_that_holds_a_run_is_refused_unless_overwrite(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=20")
    before = (out / "metrics.jsonl").read_text()
    result = run_cli("train", SPECS / "xor.nn", "--out", out, "-q", "--set", "epochs=1")
    assert result.code == 1 and "already holds a training run" in result.err
    assert "--resume" in result.err and "--overwrite" in result.err
    assert (out / "metrics.jsonl").read_text() == before
    for old_picture in ("samples.png", "samples_filters.png"):  # what `sample` wrote there for the old run
        (out / old_picture).write_bytes(b"old")
    (out / "notes.png").write_bytes(b"the user's")
    result = run_cli("train", SPECS / "xor.nn", "--out", out, "-q", "--set", "epochs=1", "--overwrite", "--json")
    assert result.code == 0, result.both
    assert json.loads(result.out)["epochs_run"] == 1 and len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (out / "samples.png").exists() and not (out / "samples_filters.png").exists()
    assert (out / "notes.png").read_bytes() == b"the user's"


def test_resume_takes_no_out_and_no_overwrite(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=2")
    for extra in (["--out", tmp_path / "other"], ["--overwrite"]):
        result = run_cli("train", SPECS / "xor.nn", "--resume", out, *extra)
        assert result.code == 2 and "give --resume alone" in result.err
    assert not (tmp_path / "other").exists()


def test_after_resume_the_summary_counts_the_epochs_run_now(tmp_path):
    out, _ = _train(tmp_path, "--set", "epochs=10")
    result = run_cli("train", SPECS / "xor.nn", "--resume", out, "--set", "epochs=25", "-q")
    assert result.code == 0, result.both
    assert result.out.startswith("15 epochs (11-25, resumed) in ")
    result = run_cli("train", SPECS / "xor.nn", "--resume", out, "--set", "epochs=25", "-q")
    assert result.out.startswith("0 epochs (the run was complete at epoch 25) in ")
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "one", "-q", "--set", "epochs=1")
    assert result.out.startswith("1 epoch in ")


def test_without_a_terminal_progress_lines_go_to_stderr_unless_quiet(tmp_path):
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "a", "--set", "epochs=30")
    assert result.code == 0, result.both
    lines = result.err.splitlines()
    assert lines[0].startswith("epoch 1/30  loss_running ") and lines[-1].startswith("epoch 30/30  loss_running ")
    assert "\x1b" not in result.err and not result.out.startswith("epoch")
    quiet = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "b", "--set", "epochs=30", "-q")
    assert quiet.err == ""


MOONS = """model m {
  input x[2]
  layer h[32] tanh
  output y[1] sigmoid
  x -> h -> y
}
train {
  model m
  data moons(n=2000)
  loss bce(y)
  optimizer adam(lr=0.01)
  batch 8
  epochs 100000
  seed 0
}
"""


def _wait_for_epochs(metrics: Path, count: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {count} epochs in {metrics}: {child.poll()}")


def test_ctrl_c_writes_a_checkpoint_says_how_to_resume_and_resume_continues_exactly(tmp_path):
    spec, run = write(tmp_path, "moons.nn", MOONS), tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "nngraph", "train", spec, "--out", run, "-q"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epochs(run / "metrics.jsonl", 2, child)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and out == ""
    stopped = re.search(r"interrupted at (epoch \d+, step \d+ of 250|the end of epoch \d+); "
                        rf"checkpoint written to {re.escape(str(run / 'checkpoint.npz'))}\n"
                        rf"resume with: nngraph train {re.escape(str(spec))} --resume {re.escape(str(run))}\n",
                        err)
    assert stopped, err
    done = len((run / "metrics.jsonl").read_text().splitlines())
    assert load_checkpoint(run / "checkpoint.npz")[1]["epoch"] == done  # the checkpoint and the metrics agree
    evaluated = run_cli("eval", spec, "--checkpoint", run / "checkpoint.npz")  # a checkpoint like any other
    assert evaluated.code == 0 and evaluated.out.startswith("train: loss "), evaluated.both

    epochs = f"epochs={done + 2}"
    resumed = run_subprocess("train", spec, "--resume", run, "--set", epochs, "-q", "--json", cwd=tmp_path)
    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out)["epochs_run"] == done + 2
    assert len((run / "metrics.jsonl").read_text().splitlines()) == done + 2
    straight = run_subprocess("train", spec, "--out", tmp_path / "straight", "--set", epochs, "-q", cwd=tmp_path)
    assert straight.code == 0, straight.err
    a, _ = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    b, _ = load_checkpoint(run / "checkpoint.npz")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("option, message", [
    (["--temperature", "0.5"], "--temperature shapes a character model's text; method 'gan' on this model samples no text"),
    (["--prime", "ab"], "--prime shapes a character model's text; method 'gan' on this model samples no text"),
    (["--means"], "--means gives a Boltzmann machine's visible probabilities; method 'gan' has none"),
])
def test_sample_options_the_model_would_ignore_are_refused_at_the_method(tmp_path, option, message):
    out = tmp_path / "run"
    assert run_cli("train", SPECS / "gan_ring.nn", "--out", out, "--quiet", "--set", "epochs=1").code == 0
    result = run_cli("sample", SPECS / "gan_ring.nn", "--checkpoint", out / "checkpoint.npz", "-n", "4",
                     "-o", tmp_path / "s.npy", *option)
    line = next(i for i, text in enumerate((SPECS / "gan_ring.nn").read_text().splitlines(), 1)
                if text.strip().startswith("method gan"))
    assert result.code == 1 and f"gan_ring.nn:{line}:" in result.err and message in result.err, result.both
    assert not (tmp_path / "s.npy").exists()


def test_a_resumed_run_trains_on_the_threads_its_run_recorded(tmp_path, monkeypatch):
    """OpenBLAS sums a product in another order on another thread count (a 256 x 784 x 256 product differs by
    8e-5), and the default count follows the free cores: run.json records the count, and a resume without
    --threads takes it again, so that it goes on with the bits an unbroken run would have."""
    from nngraph.backend import threads

    monkeypatch.setattr(threads, "cores", lambda: 2)
    spec, run = SPECS / "xor.nn", tmp_path / "run"
    assert run_cli("train", spec, "--out", run, "-q", "--threads", "2", "--set", "epochs=1").code == 0
    assert json.loads((run / "run.json").read_text())["threads"] == 2
    monkeypatch.setattr("nngraph.session._default_threads", lambda: 1)  # the machine is busier now
    resumed = run_cli("train", spec, "--resume", run, "-q", "--set", "epochs=2")
    assert resumed.code == 0, resumed.both
    assert json.loads((run / "run.json").read_text())["threads"] == 2
    fresh = tmp_path / "fresh"
    assert run_cli("train", spec, "--out", fresh, "-q", "--set", "epochs=1").code == 0
    assert json.loads((fresh / "run.json").read_text())["threads"] == 1
    resumed = run_cli("train", spec, "--resume", run, "-q", "--set", "epochs=3", "--threads", "1")
    assert resumed.code == 0 and json.loads((run / "run.json").read_text())["threads"] == 1  # --threads decides



def test_eval_predict_and_sample_run_on_the_threads_the_run_recorded(tmp_path, monkeypatch):
    """A checkpoint's commands take the threads its run trained on (OpenBLAS rounds a large product otherwise on
    another count, so eval's figures could differ from the summary's in their last digits; the BLAS had run on
    all its threads)."""
    from nngraph.backend import accel, threads
    from nngraph.train.backprop import Backprop

    monkeypatch.setattr(threads, "cores", lambda: 2)
    spec, run = SPECS / "xor.nn", tmp_path / "run"
    assert run_cli("train", spec, "--out", run, "-q", "--threads", "1", "--set", "epochs=1").code == 0
    monkeypatch.setattr("nngraph.session._default_threads", lambda: 2)  # the machine is idle now
    seen = []
    predict = Backprop.predict
    monkeypatch.setattr(Backprop, "predict", lambda self, *a: seen.append(
        (accel.kernel_threads(), [p["num_threads"] for p in threads._controller().info()])) or predict(self, *a))
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    assert run_cli("predict", spec, "--checkpoint", run / "checkpoint.npz", "--input", tmp_path / "x.npy",
                   "-o", tmp_path / "y.npy").code == 0
    assert seen == [(1, [1] * len(seen[0][1]))]
