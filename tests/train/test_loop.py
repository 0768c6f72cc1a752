import json
import os
import signal
import time

import numpy as np
import pytest

from nngraph.errors import TrainingError
from nngraph.graph.training import Choice
from nngraph.train import loop
from nngraph.train.checkpoint import load_checkpoint
from nngraph.train.loop import fit, resume
from nngraph.train.outputs import make_run_dir

from .fakes import LinearMethod, config, linear_data

EVERY_EPOCH = {"checkpoint": None}  # as if the spec set `checkpoint 1`: no time throttle


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def test_fit_learns_and_writes_metrics_and_checkpoint(tmp_path):
    cfg = config()
    train, val = linear_data(), linear_data(n=20, seed=1)
    method = LinearMethod(cfg)
    run = make_run_dir(out=tmp_path, spec_text="spec")
    history = fit(method, train, val, cfg, run, np.random.default_rng(0))
    assert len(history.records) == 10
    assert history.records[-1]["loss_running"] < history.records[0]["loss_running"] / 5
    assert {"epoch", "lr", "loss_running", "val_loss", "time"} <= set(history.records[0])
    lines = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    assert lines == history.records
    state, meta = load_checkpoint(run.checkpoint, expect_spec_hash=run.spec_hash)
    assert meta["epoch"] == 10 and meta["complete"]
    np.testing.assert_array_equal(state["out.weight"], method.params["out.weight"])


def test_step_metrics_are_averaged_by_batch_size():
    class Counting(LinearMethod):
        def train_step(self, batch, rng):
            return {"loss": float(len(batch))}

    history = fit(Counting(config()), linear_data(n=10), None, config(batch=4, epochs=1), None,
                  np.random.default_rng(0))
    assert history.records[0]["loss_running"] == pytest.approx((4 * 4 + 4 * 4 + 2 * 2) / 10)


def test_learning_rate_follows_the_schedule():
    cfg = config(schedule=Choice("step", {"every": 2, "gamma": 0.5}), epochs=4)
    method = LinearMethod(cfg)
    history = fit(method, linear_data(), None, cfg, None, np.random.default_rng(0))
    assert method.rates == pytest.approx([0.05, 0.05, 0.025, 0.025])
    assert history.series("lr") == method.rates


class Overfitting(LinearMethod):
    """Validation loss best at epoch 4, worse on either side (5 steps an epoch on linear_data())."""

    def evaluate(self, data):
        return {"loss": abs(self.optimizer.steps // 5 - 4) + 1.0}


def straight_and_resumed(tmp_path, cfg, stop_at, kind=LinearMethod):
    train, val = linear_data(), linear_data(n=20, seed=1)
    straight = kind(cfg)
    expected = fit(straight, train, val, cfg, None, np.random.default_rng(7))

    run = make_run_dir(out=tmp_path, spec_text="spec")
    fit(kind(cfg), train, val, cfg, run, np.random.default_rng(7),
        on_epoch=lambda record: record["epoch"] == stop_at)
    resumed = kind(cfg)
    history = resume(resumed, run.checkpoint, train, val, cfg, run, np.random.default_rng(999))
    return straight, expected, resumed, history, run


def test_five_plus_five_epochs_equal_ten_exactly(tmp_path):
    cfg = config(schedule=Choice("cosine", {"warmup": 2, "min_lr": 0.001}), spans=EVERY_EPOCH)
    straight, expected, resumed, history, run = straight_and_resumed(tmp_path, cfg, stop_at=5)
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])
    np.testing.assert_array_equal(resumed.optimizer.buffers["momentum"]["out.weight"],
                                  straight.optimizer.buffers["momentum"]["out.weight"])
    assert without_time(history.records) == without_time(expected.records)
    assert len(run.metrics.read_text().splitlines()) == 10


def test_crash_after_a_checkpoint_resumes_without_duplicate_epochs(tmp_path):
    cfg = config(checkpoint_every=3, spans=EVERY_EPOCH)
    train = linear_data()
    run = make_run_dir(out=tmp_path)

    class Crashing(LinearMethod):
        def train_step(self, batch, rng):
            if len(self.rates) == 5:
                raise KeyboardInterrupt
            return super().train_step(batch, rng)

    with pytest.raises(KeyboardInterrupt):
        fit(Crashing(cfg), train, None, cfg, run, np.random.default_rng(3))
    assert load_checkpoint(run.checkpoint)[1]["epoch"] == 3
    history = resume(LinearMethod(cfg), run.checkpoint, train, None, cfg, run)
    epochs = [json.loads(line)["epoch"] for line in run.metrics.read_text().splitlines()]
    assert epochs == list(range(1, 11)) and len(history.records) == 10

    straight = LinearMethod(cfg)
    fit(straight, train, None, cfg, None, np.random.default_rng(3))
    resumed = LinearMethod(cfg)
    resume(resumed, run.checkpoint, train, None, cfg)  # the finished checkpoint: nothing left to do
    np.testing.assert_array_equal(resumed.params["out.weight"], straight.params["out.weight"])


def test_nan_loss_names_epoch_and_step_and_keeps_the_checkpoint(tmp_path):
    cfg = config(spans=EVERY_EPOCH)
    run = make_run_dir(out=tmp_path)

    class Diverging(LinearMethod):
        steps = 0

        def train_step(self, batch, rng):
            self.steps += 1
            metrics = super().train_step(batch, rng)
            return {"loss": float("nan")} if self.steps == 12 else metrics  # 5 steps per epoch

    with pytest.raises(TrainingError, match="loss is nan at epoch 3, step 2"):
        fit(Diverging(cfg), linear_data(), None, cfg, run, np.random.default_rng(0))
    assert load_checkpoint(run.checkpoint)[1]["epoch"] == 2


def test_default_checkpointing_is_throttled(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(loop, "save_checkpoint", lambda path, state, meta: saved.append(meta["epoch"]))
    fit(LinearMethod(config()), linear_data(), None, config(), make_run_dir(out=tmp_path / "a"))
    assert saved == [10]  # 10 quick epochs: only the final checkpoint
    saved.clear()
    cfg = config(checkpoint_every=4, spans=EVERY_EPOCH)
    fit(LinearMethod(cfg), linear_data(), None, cfg, make_run_dir(out=tmp_path / "b"))
    assert saved == [4, 8, 10]


def test_early_stopping_restores_best_and_finishes_the_run(tmp_path):
    cfg = config(epochs=30, early_stopping={"monitor": "val_loss", "patience": 2, "min_delta": 0.0})
    method = Overfitting(cfg)
    run = make_run_dir(out=tmp_path, spec_text="s")
    history = fit(method, linear_data(), linear_data(seed=2), cfg, run, np.random.default_rng(0))
    assert history.stopped_early and history.best_epoch == 4 and len(history.records) == 6
    state, meta = load_checkpoint(run.checkpoint)
    assert meta["complete"] and meta["history"]["best_epoch"] == 4
    np.testing.assert_array_equal(method.params["out.weight"], state["out.weight"])
    np.testing.assert_array_equal(state["__best__.out.weight"], state["out.weight"])
    again = Overfitting(cfg)
    assert len(resume(again, run.checkpoint, linear_data(), None, cfg, run).records) == 6
    assert again.rates == []


def test_early_stopping_progress_survives_resume(tmp_path):
    stopping = {"monitor": "val_loss", "patience": 3, "min_delta": 0.0}
    cfg = config(epochs=12, early_stopping=stopping, spans=EVERY_EPOCH)
    straight, expected, resumed, history, _ = straight_and_resumed(tmp_path, cfg, 5, Overfitting)
    assert expected.stopped_early and len(expected.records) == 7 and expected.best_epoch == 4
    assert history.stopping == expected.stopping and len(history.records) == 7
    assert history.best_epoch == 4
    np.testing.assert_array_equal(resumed.params["out.weight"], straight.params["out.weight"])


def test_user_errors_are_training_errors(tmp_path):
    cfg = config(early_stopping={"monitor": "val_loss", "patience": 2})
    with pytest.raises(TrainingError, match="no validation split"):
        fit(LinearMethod(cfg), linear_data(), None, cfg)
    with pytest.raises(TrainingError, match="empty"):
        fit(LinearMethod(config()), linear_data().take(np.arange(0)), None, config())
    run = make_run_dir(out=tmp_path, spec_text="one")
    fit(LinearMethod(config(epochs=1)), linear_data(), None, config(epochs=1), run)
    other = make_run_dir(out=tmp_path, spec_text="two", resume=True)
    with pytest.raises(TrainingError, match="another spec"):
        resume(LinearMethod(config()), run.checkpoint, linear_data(), None, config(), other)


def test_a_batch_as_large_as_the_set_is_the_set_itself():  # as uploaded once (train/feed.py): no copy
    seen = []

    class Recording(LinearMethod):
        def train_step(self, batch, rng):
            seen.append(batch)
            return super().train_step(batch, rng)

    train = linear_data(n=8)
    fit(Recording(config()), train, None, config(batch=8, epochs=2), None, np.random.default_rng(0))
    assert len(seen) == 2 and all(b is seen[0] for b in seen)
    assert np.shares_memory(seen[0].x, train.x) and np.shares_memory(seen[0].y, train.y)  # numpy: not copied


class CtrlC(LinearMethod):
    """Sends itself SIGINT during its `at`-th step (counted over the whole run), `times` times."""

    def __init__(self, cfg, at: int, times: int = 1):
        super().__init__(cfg)
        self.at, self.times, self.step = at, times, 0

    def train_step(self, batch, rng):
        self.step += 1
        if self.step == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the handler runs between two bytecodes of this thread
        return super().train_step(batch, rng)


@pytest.mark.parametrize("at, stopped", [(12, (3, 2)), (15, (3, None)), (1, (1, 1))])
def test_ctrl_c_checkpoints_after_the_step_and_resume_continues_exactly(tmp_path, at, stopped):
    cfg = config(schedule=Choice("cosine", {"warmup": 2, "min_lr": 0.001}))  # 5 steps an epoch
    train, val = linear_data(), linear_data(n=20, seed=1)
    straight = LinearMethod(cfg)
    expected = fit(straight, train, val, cfg, None, np.random.default_rng(7))

    run = make_run_dir(out=tmp_path, spec_text="spec")
    with pytest.raises(loop.TrainingInterrupted) as interrupted:
        fit(CtrlC(cfg, at), train, val, cfg, run, np.random.default_rng(7))
    epoch, step = stopped
    stop = interrupted.value
    assert (stop.epoch, stop.step, stop.checkpoint) == (epoch, step, run.checkpoint)
    done = epoch - 1 if step else epoch
    assert load_checkpoint(run.checkpoint)[1]["epoch"] == done
    assert [json.loads(line)["epoch"] for line in run.metrics.read_text().splitlines()] == list(range(1, done + 1))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back

    resumed = LinearMethod(cfg)
    history = resume(resumed, run.checkpoint, train, val, cfg, run, np.random.default_rng(999))
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])
    assert without_time(history.records) == without_time(expected.records)
    assert len(run.metrics.read_text().splitlines()) == 10


def test_a_second_ctrl_c_stops_at_once_and_leaves_a_consistent_run(tmp_path):
    cfg = config(checkpoint_every=1, spans=EVERY_EPOCH)
    run = make_run_dir(out=tmp_path, spec_text="spec")
    with pytest.raises(KeyboardInterrupt) as stopped:
        fit(CtrlC(cfg, at=12, times=2), linear_data(), None, cfg, run, np.random.default_rng(7))
    assert not isinstance(stopped.value, loop.TrainingInterrupted)
    _, meta = load_checkpoint(run.checkpoint)
    assert meta["epoch"] == 2 and len(run.metrics.read_text().splitlines()) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_unfinished_epoch_needs_the_same_training_split(tmp_path):
    cfg = config()
    run = make_run_dir(out=tmp_path, spec_text="spec")
    with pytest.raises(loop.TrainingInterrupted):
        fit(CtrlC(cfg, at=2), linear_data(), None, cfg, run, np.random.default_rng(7))
    with pytest.raises(TrainingError, match="training split of 40 examples; this one has 30"):
        resume(LinearMethod(cfg), run.checkpoint, linear_data(n=30), None, cfg, run)


def test_a_feedforward_regression_reports_its_mse_among_the_running_figures(tmp_path):
    """As a recurrent one does (docs/language.md section 7): with one batch an epoch and the loss an unweighted
    mse of the scored unit, mse_running is the running loss; the evaluation's mse is measured apart."""
    import nngraph

    checked = nngraph.loads("""
model m { input x[3]; output y[1] identity; x -> y }
train { model m; data linear(n=64, features=3); loss mse(y); optimizer sgd(lr=0.1); batch 64
        epochs 2 }""")
    nngraph.fit(checked, out=tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["mse_running"] for r in records] == pytest.approx([r["loss_running"] for r in records], rel=1e-6)
