"""The loop's side of `augment`: training minibatches only, drawn from the run's generator, resumed exactly."""

import os
import signal
import time

import numpy as np
import pytest

from nngraph.data.dataset import regression
from nngraph.errors import DataError, Span
from nngraph.train import loop
from nngraph.train.loop import fit, resume
from nngraph.train.outputs import make_run_dir

from .fakes import FakeMethod, config, linear_data
from .test_loop import without_time

TURN_AND_SHIFT = {"shift": 1, "rotate": 15.0, "noise": 0.0}


def images(n=40, seed=0):
    """Images [1, 4, 4] whose target is the example's row number, so a batch says which rows it holds."""
    x = np.random.default_rng(seed).random((n, 1, 4, 4)).astype(np.float32)
    return regression(x, np.arange(n, dtype=np.float32), "squares")


class PixelLinear(FakeMethod):
    """A linear regression on the pixels; it keeps what it trained on and what it evaluated, and draws from the
    rng in its step as a method with dropout does (so the augmentation's draws and its own interleave)."""

    def __init__(self, cfg):
        super().__init__(cfg, {"w": np.zeros((16, 1)), "b": np.zeros(1)})
        self.trained, self.evaluated = [], []

    def train_step(self, batch, rng):
        self.trained.append(batch)
        x = batch.x.reshape(len(batch), -1)
        err = (x @ self._params["w"] + self._params["b"] - batch.y) / 40
        grads = {"w": 2 * x.T @ err / len(err) + 0.01 * rng.standard_normal((16, 1)), "b": 2 * err.mean(0)}
        self.optimizer.update(self._params, grads)
        return {"loss": float((err ** 2).mean())}

    def evaluate(self, data):
        self.evaluated.append(data)
        return {"loss": 0.0}


def test_training_batches_are_augmented_and_evaluation_is_not():
    train, val = images(), images(n=12, seed=1)
    cfg = config(epochs=3, augment={"shift": 0, "rotate": 0.0, "noise": 0.1})
    method = PixelLinear(cfg)
    fit(method, train, val, cfg, None, np.random.default_rng(0))
    assert len(method.trained) == 15 and len(method.evaluated) == 3
    assert all(data is val for data in method.evaluated)
    added = np.concatenate([b.x - train.x[b.y.astype(int).ravel()] for b in method.trained])
    assert added.std() == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(train.x, images().x)  # the training split itself is left as it was


def test_without_augment_the_batches_are_the_examples():
    train = images()
    cfg = config(epochs=1)
    method = PixelLinear(cfg)
    fit(method, train, None, cfg, None, np.random.default_rng(0))
    for batch in method.trained:
        np.testing.assert_array_equal(batch.x, train.x[batch.y.astype(int).ravel()])


def test_a_seed_repeats_the_run_and_another_seed_changes_it():
    cfg = config(epochs=2, augment=TURN_AND_SHIFT)
    runs = []
    for seed in (4, 4, 5):
        method = PixelLinear(cfg)
        fit(method, images(), None, cfg, None, np.random.default_rng(seed))
        runs.append(method.params["w"].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_a_resumed_run_equals_the_run_straight_through(tmp_path):
    cfg = config(epochs=4, augment=TURN_AND_SHIFT, spans={"checkpoint": None})
    straight = PixelLinear(cfg)
    expected = fit(straight, images(), None, cfg, None, np.random.default_rng(7))
    run = make_run_dir(out=tmp_path, spec_text="spec")
    fit(PixelLinear(cfg), images(), None, config(epochs=2, augment=TURN_AND_SHIFT, spans={"checkpoint": None}), run,
        np.random.default_rng(7))
    resumed = PixelLinear(cfg)
    history = resume(resumed, run.checkpoint, images(), None, cfg, run, np.random.default_rng(999))
    np.testing.assert_array_equal(resumed.params["w"], straight.params["w"])
    assert without_time(history.records) == without_time(expected.records)


class StopsAt(PixelLinear):
    """Sends itself SIGINT in its `at`-th step: the loop checkpoints inside the epoch."""

    def __init__(self, cfg, at):
        super().__init__(cfg)
        self.at = at

    def train_step(self, batch, rng):
        if len(self.trained) + 1 == self.at:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        return super().train_step(batch, rng)


def test_a_run_stopped_inside_an_epoch_resumes_with_the_same_draws(tmp_path):
    cfg = config(epochs=3, augment=TURN_AND_SHIFT)  # 5 steps an epoch: it stops after step 2 of epoch 2
    straight = PixelLinear(cfg)
    fit(straight, images(), None, cfg, None, np.random.default_rng(7))
    run = make_run_dir(out=tmp_path, spec_text="spec")
    with pytest.raises(loop.TrainingInterrupted):
        fit(StopsAt(cfg, at=7), images(), None, cfg, run, np.random.default_rng(7))
    resumed = PixelLinear(cfg)
    resume(resumed, run.checkpoint, images(), None, cfg, run, np.random.default_rng(999))
    assert len(resumed.trained) == 8
    for got, want in zip(resumed.trained, straight.trained[7:], strict=True):
        np.testing.assert_array_equal(got.x, want.x)
    np.testing.assert_array_equal(resumed.params["w"], straight.params["w"])


def test_examples_that_are_not_images_are_refused_before_training():
    span = Span("t.nn", 12, 3)
    cfg = config(augment=TURN_AND_SHIFT, spans={"augment": span})
    with pytest.raises(DataError, match=r"the examples of 'linear' have shape \[3\]") as info:
        fit(PixelLinear(cfg), linear_data(), None, cfg, None, np.random.default_rng(0))
    assert info.value.span == span
