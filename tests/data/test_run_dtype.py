"""A run's data is held in the run's dtype: float32 by default, float64 when the run asks for it (`dtype
float64`), with class labels and text codes int64 either way. A float64 run reads a float64 file's values
exactly, scales them with float64 statistics, saves those and `predict` scales with them again."""

import numpy as np
import pytest

import nngraph
from nngraph.data import split_dataset
from nngraph.data.augment import augment_images, source_coordinates
from nngraph.data.images import IMAGES_MAGIC, LABELS_MAGIC
from nngraph.session import restore_trained, run_prediction
from tests.data.helpers import load
from tests.data.test_images import write_idx

N = 64


def _needs_float64(tmp_path):
    """Inputs 1 + 1e-9 k (k < 64), which float32 rounds to one or two values, and targets that follow k with
    a wobble, so a least-squares line fits them but not exactly."""
    k = np.arange(N)
    x = (1 + 1e-9 * k)[:, None]
    y = 0.5 + 0.3 * (k - N / 2) / N + 0.05 * np.sin(7.0 * k)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x)
    return x[:, 0], y


def _least_squares(x, y):
    """The least-squares line's values at `x`, from x - 1, which is exact (x's own mean is not: its rounding, a
    part in 1e16 of 1, is a part in 1e9 of the inputs' spread)."""
    u = x - 1.0
    du, dy = u - u.mean(), y - y.mean()
    return y.mean() + (du @ dy) / (du @ du) * du


LINE = """model m {{
  input  x[1]
  output y[1] identity
  x -> y
}}
train {{
  data npz("d.npz", scale=standard)
  loss mse(y)
  optimizer sgd(lr=0.4)
  batch {n}
  epochs 25
  dtype {dtype}
}}
"""


def test_a_float64_run_on_float64_data_reaches_the_least_squares_line(tmp_path):
    # on standardised inputs a full batch step of lr 0.4 shrinks the error 5 times: 25 epochs reach rounding
    x, y = _needs_float64(tmp_path)
    spec = tmp_path / "line.nn"
    spec.write_text(LINE.format(n=N, dtype="float64"))
    checked = nngraph.load(spec)
    nngraph.fit(checked, out=str(tmp_path / "run"), quiet=True)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    run_prediction(checked, None, checkpoint, tmp_path / "x.npy", tmp_path / "y.npy")
    predicted, best = np.load(tmp_path / "y.npy")[:, 0], _least_squares(x, y)
    assert predicted.dtype == np.float64
    spread = np.abs(best - best.mean()).max()  # the line's own rise: 0.15
    assert np.abs(predicted - best).max() / spread < 1e-10
    # the saved statistics are the float64 ones, read back as they were saved
    scaler = restore_trained(checked, None, checkpoint, command="predict").preprocessing.scaler
    assert scaler.offset.dtype == scaler.factor.dtype == np.float64
    assert scaler.offset[0] == x.mean() and scaler.factor[0] == x.std()


def test_the_same_run_in_float32_cannot_tell_the_inputs_apart(tmp_path):
    """What the float64 test measures: the rounding a float32 run makes leaves one or two distinct inputs."""
    x, _ = _needs_float64(tmp_path)
    data = load('npz("d.npz")', tmp_path)
    assert data.x.dtype == np.float32 and len(np.unique(data.x)) <= 2 < len(np.unique(x))


def test_the_scaling_statistics_are_computed_and_kept_in_the_runs_dtype(tmp_path):
    x, _ = _needs_float64(tmp_path)
    wide = split_dataset(load('npz("d.npz", scale=standard)', tmp_path, dtype="float64"), 0.0, 0.0, 0)
    assert wide.scaler.offset.dtype == wide.train.x.dtype == np.float64
    assert wide.scaler.offset[0] == x.mean() and wide.scaler.factor[0] == x.std()
    np.testing.assert_array_equal(wide.train.x[:, 0], (x - x.mean()) / x.std())
    narrow = split_dataset(load('npz("d.npz", scale=standard)', tmp_path), 0.0, 0.0, 0)
    assert narrow.scaler.offset.dtype == narrow.scaler.factor.dtype == narrow.train.x.dtype == np.float32


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", x=rng.random((6, 3)), y=np.arange(6) % 2)
    np.savez(tmp_path / "r.npz", x=rng.random((6, 3)), y=rng.random(6))
    (tmp_path / "t.csv").write_text("a,b,t\n" + "".join(f"{i / 3},{i / 7},{i % 2}\n" for i in range(6)))
    write_idx(tmp_path / "i", rng.integers(0, 256, (5, 4, 4)).astype(np.uint8), IMAGES_MAGIC)
    write_idx(tmp_path / "l", np.arange(5, dtype=np.uint8) % 3, LABELS_MAGIC)
    return tmp_path


LOADERS = ["xor", "moons(n=20)", "spirals(n=20)", "linear(n=10)", "balls(n=20)", "bars", "ring(n=20)",
           "grid(n=20)", "encoder", "sine(n=4, length=5)", "adding(n=4)", "parity(n=4)", "parity(n=4, target=final)",
           'npz("c.npz")', 'npz("r.npz", scale=standard)', 'csv("t.csv", target="t")', 'idx("i", "l")',
           "digits(limit=20, binarize=0.5)", "superres(digits(limit=20), factor=2)"]


@pytest.mark.parametrize("text", LOADERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_loader_holds_its_floats_in_the_runs_dtype_and_labels_as_integers(files, text, dtype):
    data = load(text, files, dtype=dtype)
    if "scale=" in text:
        data = split_dataset(data, 0.0, 0.0, 0).train
    assert data.x.dtype == dtype
    if data.y is not None:
        assert data.y.dtype == (np.int64 if data.task == "classification" else np.dtype(dtype))


def test_a_float64_file_is_read_exactly_in_a_float64_run(files):
    with np.load(files / "r.npz") as z:
        x, y = z["x"], z["y"]
    data = load('npz("r.npz")', files, dtype="float64")
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y[:, 0], y)
    np.testing.assert_array_equal(load('npz("r.npz")', files).x, x.astype(np.float32))


def test_text_codes_stay_integers_in_a_float64_run(tmp_path):
    (tmp_path / "a.txt").write_text("abcabcabcabc")
    data = load('text("a.txt", length=3)', tmp_path, dtype="float64")
    assert data.x.dtype == data.y.dtype == np.int64


def test_augmentation_keeps_float64_images_and_computes_their_coordinates_in_float64():
    x = np.random.default_rng(0).random((3, 1, 5, 5))
    out = augment_images(x, {"shift": 1, "rotate": 10.0, "noise": 0.01}, np.random.default_rng(1))
    assert out.dtype == np.float64
    rows, columns = source_coordinates(5, 5, np.array([0.3]), np.array([[1, -1]]), 1, np.float64)
    assert rows.dtype == columns.dtype == np.float64
    # about the centre (2, 2), turned by 0.3 after a shift of (1, -1): the float64 formula, not a float32 one
    r, c = np.arange(5.0)[:, None] - 2 - 1, np.arange(5.0)[None, :] - 2 + 1
    np.testing.assert_array_equal(rows[0], np.cos(0.3) * r - np.sin(0.3) * c + 2)
    assert source_coordinates(5, 5, np.array([0.3]), None, 1)[0].dtype == np.float32  # the default


@pytest.mark.parametrize("spec_dtype, flag, held", [("float32", None, np.float32), ("float64", None, np.float64),
                                                    ("float32", "float64", np.float64)])
def test_a_run_holds_its_splits_and_statistics_in_the_dtype_it_runs_in(tmp_path, spec_dtype, flag, held):
    from nngraph.session import prepare

    _needs_float64(tmp_path)
    spec = tmp_path / "line.nn"
    spec.write_text(LINE.format(n=N, dtype=spec_dtype).replace("epochs 25", "epochs 25\n  test 0.25"))
    splits = prepare(nngraph.load(spec), dtype=flag).splits
    for part in (splits.train, splits.test):
        assert part.x.dtype == part.y.dtype == held
    assert splits.scaler.offset.dtype == splits.scaler.factor.dtype == held
