import numpy as np
import pytest

from nngraph.errors import TrainingError
from nngraph.train.stopping import EarlyStopping, mode_of


def feed(stopper, values, params):
    """Feed one value per epoch; the params hold the epoch number; the epoch it stopped at."""
    for epoch, value in enumerate(values, start=1):
        params["w"][...] = epoch
        if stopper.update(epoch, {stopper.monitor: value}, params):
            return epoch
    return None


def test_modes_follow_the_metric():
    assert mode_of("val_loss") == "min" and mode_of("loss") == "min"
    assert mode_of("val_accuracy") == "max" and mode_of("accuracy") == "max"


def test_stops_after_patience_and_restores_the_best(xp):
    params = {"w": xp.zeros(2)}
    stopper = EarlyStopping("val_loss", patience=2)
    assert feed(stopper, [1.0, 0.5, 0.6, 0.7, 0.1], params) == 4
    assert stopper.best_epoch == 2 and stopper.best == 0.5
    live = params["w"]
    assert stopper.restore(params)
    assert params["w"] is live and float(live[0]) == 2.0


def test_min_delta_ignores_tiny_improvements():
    stopper = EarlyStopping("loss", patience=2, min_delta=0.1)
    assert feed(stopper, [1.0, 0.95, 0.92, 0.5], {"w": np.zeros(1)}) == 3
    assert stopper.best_epoch == 1


def test_max_mode_for_accuracy_and_nan_never_improves():
    stopper = EarlyStopping("val_accuracy", patience=3)
    assert feed(stopper, [0.5, 0.7, float("nan"), 0.6, 0.65], {"w": np.zeros(1)}) == 5
    assert stopper.best == 0.7 and stopper.best_epoch == 2


def test_restore_without_a_best_does_nothing():
    assert not EarlyStopping().restore({"w": np.zeros(1)})


def test_unreported_metric_is_named():
    with pytest.raises(TrainingError, match="val_accuracy.*it reports loss"):
        EarlyStopping("val_accuracy").update(1, {"loss": 0.1}, {})


def test_progress_and_best_state_round_trip():
    params = {"w": np.zeros(2, np.float32)}
    first = EarlyStopping("loss", patience=3)
    feed(first, [1.0, 0.4, 0.8], params)
    second = EarlyStopping("loss", patience=3)
    second.load(first.progress(), first.best_state(), params)
    assert second.progress() == {"best": 0.4, "best_epoch": 2, "wait": 1}
    assert second.best_params["w"].dtype == np.float32 and second.best_params["w"][0] == 2.0
