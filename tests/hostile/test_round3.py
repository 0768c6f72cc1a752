"""Hostile and careless input, round 3: data that lies about its values, outputs that would overwrite inputs or
devices, targets that do not fit the model, through the real command (see test_cli.py for its helpers)."""

import warnings

import numpy as np

from nngraph.train.provenance import CheckpointWarning
from tests.hostile.files import in_time
from tests.hostile.test_cli import assert_refused, nngraph, write

SOFTMAX = "model m { input x[2]; layer h[4] tanh; output y[2] softmax; x -> h -> y }\n"


def train_on(folder, data: str, model: str = SOFTMAX, loss: str = "cross_entropy(y)"):
    spec = write(folder, "s.nn", model + f"train {{ model m; data {data}; loss {loss}; optimizer sgd(lr=0.5); "
                                          "batch 4; epochs 1 }\n")
    return nngraph("train", spec.name, "--out", "r", cwd=folder, timeout=60)


def test_a_warning_while_a_command_runs_is_shown_once_not_recorded_forever(capsys):
    # every warning but a checkpoint's was shown inside catch_warnings(record=True), which recorded it again:
    # `train` on data whose float32 cast overflowed looped until the memory ran out
    from nngraph.cli.training import _checkpoint_warnings

    def warn_inside():
        with _checkpoint_warnings():
            warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
            warnings.warn("trained with other settings", CheckpointWarning, stacklevel=1)

    in_time(warn_inside)
    err = capsys.readouterr().err
    assert err.count("RuntimeWarning: overflow encountered in cast") == 1 and err.endswith("warning: trained with other settings\n")


def test_values_too_large_for_float32_are_refused_at_their_example(tmp_path):
    np.savez(tmp_path / "big.npz", x=np.full((8, 2), 1e300), y=np.arange(8) % 2)
    run = train_on(tmp_path, 'npz("big.npz")')
    assert_refused(run, "s.nn:2:23", "(array 'x') hold 1e+300 at example 0, column 0, beyond float32's range",
                   "--dtype float64", seconds=10)
    assert not (tmp_path / "r").exists()
