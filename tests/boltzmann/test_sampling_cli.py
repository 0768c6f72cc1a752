"""`nngraph sample` and `predict` on Boltzmann machines, and bad input through the CLI: exit 1, no traceback."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.errors import DataError
from nngraph.session import prepare
from nngraph.train.boltzmann import visible_picture
from nngraph.train.fill_in import fill_mask
from tests.boltzmann.helpers import machine
from tests.cli.helpers import run_cli

BARS = """
model m { visible v[9] bernoulli; hidden h[16] bernoulli; v <-> h }
train { model m; data bars(size=3); method cd(k=1); optimizer adam(lr=0.02); batch 16; epochs 30; test 0.25 }
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bars")
    spec = folder / "bars.nn"
    spec.write_text(BARS)
    result = run_cli("train", spec, "--out", folder / "run")
    assert result.code == 0, result.both
    return spec, folder / "run" / "checkpoint.npz"


def test_free_running_samples_and_filters_are_drawn(trained, tmp_path):
    spec, checkpoint = trained
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "-o", tmp_path / "s.png", "-n", "8",
                     "--steps", "50")
    assert result.code == 0, result.both
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "s_filters.png").stat().st_size > 0


@pytest.mark.parametrize("means", [False, True])
def test_fill_names_the_part_filled_in_and_keeps_the_rest(trained, tmp_path, means):
    spec, checkpoint = trained
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "-o", tmp_path / "f.npy", "--fill", "bottom",
                     "--steps", "50", *(["--means"] if means else []))
    assert result.code == 0 and result.out.startswith("filled in the bottom half of 4 examples"), result.both
    assert ("probabilities" if means else "states") + " of the last sweep" in result.out
    filled = np.load(tmp_path / "f.npy").reshape(4, 3, 3)
    truth = prepare(nngraph.load(spec)).splits.test.x.reshape(-1, 3, 3)[:4]
    np.testing.assert_array_equal(filled[:, :2], truth[:, :2])  # the top two rows kept
    assert np.isin(filled, (0, 1)).all() != means and ((filled >= 0) & (filled <= 1)).all()


def test_a_mask_that_does_not_fit_is_a_clear_error(trained, tmp_path):
    spec, checkpoint = trained
    np.save(tmp_path / "mask.npy", np.ones(5, bool))
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", tmp_path / "mask.npy")
    assert result.code == 1 and "does not fit the examples of shape [9]" in result.err
    assert "Traceback" not in result.both


def test_predict_writes_hidden_probabilities(trained, tmp_path):
    spec, checkpoint = trained
    np.save(tmp_path / "x.npy", np.eye(9, dtype=np.float32)[:3])
    result = run_cli("predict", spec, "--checkpoint", checkpoint, "--input", tmp_path / "x.npy",
                     "-o", tmp_path / "h.npy")
    assert result.code == 0, result.both
    assert np.load(tmp_path / "h.npy").shape == (3, 16)


def test_non_binary_data_exits_1_with_a_binarize_hint(tmp_path):
    spec = tmp_path / "digits.nn"
    spec.write_text(BARS.replace("v[9]", "v[2]").replace("bars(size=3)", "moons(n=20)"))
    result = run_cli("train", spec, "--out", tmp_path / "run")
    assert result.code == 1 and "values other than 0 and 1" in result.err and "binarize" in result.err
    assert "Traceback" not in result.both


def test_fill_masks_are_halves_of_the_picture(backend):
    m = machine("model m { visible v[16]; hidden h[2]; v <-> h }", backend)
    assert visible_picture(m) == (4, 4)
    assert fill_mask("top", (4, 4), 16).reshape(4, 4)[:2].all() and not fill_mask("top", (4, 4), 16)[8:].any()
    assert fill_mask("right", (4, 4), 16).reshape(4, 4)[:, 2:].all()
    bottom = fill_mask("bottom", (3, 3), 9).reshape(3, 3)  # an odd height: the middle row is kept either way
    assert bottom[2].all() and not bottom[:2].any() and fill_mask("top", (3, 3), 9).reshape(3, 3)[0].all()
    with pytest.raises(DataError, match="not pictures with rows"):
        fill_mask("top", (1, 8), 8)


def test_fill_in_beats_the_mean_it_starts_from(tmp_path):
    """Vectors whose right half repeats the left: an RBM that learned it fills the right half in from the left."""
    import itertools

    from nngraph.session import prepare
    from nngraph.train.fill_in import example_shape, fill_errors, fill_task
    from nngraph.train.loop import fit

    half = np.array(list(itertools.product([0, 1], repeat=4)), np.float32)
    np.save(tmp_path / "twice.npy", np.tile(np.concatenate([half, half], 1), (8, 1)))
    (tmp_path / "twice.nn").write_text("""
model m { visible v[8] bernoulli; hidden h[16] bernoulli; v <-> h }
train { model m; data npy("twice.npy"); method cd(k=1); optimizer adam(lr=0.02); batch 16; epochs 200; test 0.25 }
""")
    session = prepare(nngraph.load(tmp_path / "twice.nn"))
    fit(session.method, session.splits.train, None, session.config)
    request = {"fill": "right", "count": 64, "steps": 50, "seed": 0, "means": True}
    task = fill_task(request, session.splits, example_shape(session.method, session.splits))
    filled, _ = session.method.fill(task.values.copy(), task.missing.copy(), request)
    ours, start = fill_errors(filled, task.truth, task.missing), fill_errors(task.values, task.truth, task.missing)
    assert ours["accuracy"] > 0.95 and ours["mse"] < 0.1 * start["mse"]  # the mean: 43% right, MSE 0.25
