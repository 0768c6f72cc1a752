"""`nngraph sample --fill` for VAEs, GANs and sequence models (Boltzmann machines: tests/boltzmann), the shared
masks and `--input`: the known part is kept exactly, the filled part beats its start on trained toy models, bad
masks and inputs are clear errors (exit 1, no traceback)."""

from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.errors import BuildError, DataError
from nngraph.session import load_trained
from nngraph.train.fill_in import by_mask, example_shape, fill_errors, fill_task, mask_file
from tests.cli.helpers import run_cli

from .helpers import trained

VAE = """
model vae {
  input x[64]; layer e[128] relu; layer mu[4] identity; layer logvar[4] identity
  sample z ~ normal(mu, logvar); layer d[128] relu; output x_hat[64] sigmoid
  x -> e; e -> mu; e -> logvar; z -> d -> x_hat
}
train { model vae; data digits(binarize=0.5); test 0.2; method vae; loss bce(x_hat, x) + kl(z)
        optimizer adam(lr=3e-3); batch 64; epochs 10 }
"""

SINE = """
model sine { input x[1] sequence; layer h[16] lstm; output y[1] identity; x -> h -> y }
train { model sine; data sine(n=128, length=40, frequencies=[0.02, 0.05]); test 0.25; loss mse(y)
        optimizer adam(lr=1e-2); clip 1.0; batch 16; epochs 20 }
"""

GAN = """
model generator { noise z[8] normal; layer g[64] relu; output x[64] sigmoid; z -> g -> x }
model discriminator { input x[64]; layer d[64] leaky_relu; output real[1] sigmoid; x -> d -> real }
train { data digits; test 0.2; method gan(generator=generator, discriminator=discriminator)
        optimizer adam(lr=2e-3, beta1=0.5); batch 64; epochs 3 }
"""


def train(folder: Path, name: str, text: str) -> tuple[Path, Path]:
    spec = folder / f"{name}.nn"
    spec.write_text(text)
    result = run_cli("train", spec, "--out", folder / name, "-q", "--threads", "1")
    assert result.code == 0, result.both
    return spec, folder / name / "checkpoint.npz"


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    return train(tmp_path_factory.mktemp("vae"), "vae", VAE)


@pytest.fixture(scope="module")
def sine(tmp_path_factory):
    return train(tmp_path_factory.mktemp("sine"), "sine", SINE)


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    return train(tmp_path_factory.mktemp("gan"), "gan", GAN)


def filled(spec: Path, checkpoint: Path, fill: str, steps: int = 100, count: int = 64):
    """(the task, the method's fill-in with the known part put back) as `sample --fill` makes them."""
    session = load_trained(nngraph.load(spec), None, checkpoint, command="sample")
    request = {"fill": fill, "count": count, "steps": steps, "seed": 0}
    task = fill_task(request, session.splits, example_shape(session.method, session.splits))
    with compute_threads(1):
        out, _ = session.method.fill(task.values.copy(), task.missing.copy(), request)
    return task, np.where(task.missing, np.asarray(out).reshape(task.values.shape), task.values), session


def gap_mask(folder: Path, steps: int, start: int, length: int) -> Path:
    mask = np.zeros(steps, bool)
    mask[start:start + length] = True
    np.save(folder / "gap.npy", mask)
    return folder / "gap.npy"


# ---- the VAE ------------------------------------------------------------------------------------------


def test_vae_fill_keeps_the_top_half_and_writes_rows_of_data_kept_and_filled(vae, tmp_path):
    spec, checkpoint = vae
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "bottom", "-n", "10", "--steps", "20",
                     "-o", tmp_path / "f.npy")
    assert result.code == 0 and result.out.startswith("filled in the bottom half of 10 examples"), result.both
    assert "mean squared error on the filled part" in result.out and "values right" in result.out
    truth = load_trained(nngraph.load(spec), None, checkpoint).splits.test.x[:10].reshape(10, 8, 8)
    out = np.load(tmp_path / "f.npy").reshape(10, 8, 8)
    np.testing.assert_array_equal(out[:, :4], truth[:, :4])
    assert ((out[:, 4:] >= 0) & (out[:, 4:] <= 1)).all()
    picture = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "bottom", "-n", "10", "--steps", "5",
                      "-o", tmp_path / "f.png")
    assert picture.code == 0 and (tmp_path / "f.png").stat().st_size > 0, picture.both


def test_vae_fill_beats_the_per_pixel_mean_it_starts_from(vae):
    task, out, _ = filled(*vae, "bottom", count=200)
    ours, start = fill_errors(out, task.truth, task.missing), fill_errors(task.values, task.truth, task.missing)
    # 10 epochs: about 84% of the bottom half's pixels right against the mean's 77%
    assert ours["accuracy"] > start["accuracy"] + 0.03 and ours["mse"] < start["mse"]


def test_missing_values_of_an_input_are_filled_and_the_rest_kept(vae, tmp_path):
    spec, checkpoint = vae
    x = load_trained(nngraph.load(spec), None, checkpoint).splits.test.x[:5].reshape(5, 64).copy()
    x[:, 40:50] = np.nan
    np.save(tmp_path / "x.npy", x)
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "missing", "--input", tmp_path / "x.npy",
                     "--steps", "10", "-o", tmp_path / "f.npy")
    assert result.code == 0 and "the 50 missing values of" in result.out, result.both
    assert "mean squared error" not in result.out  # nothing to compare the filled values with
    out = np.load(tmp_path / "f.npy")
    kept = ~np.isnan(x)
    np.testing.assert_array_equal(out[kept], x[kept])
    assert np.isfinite(out).all()


# ---- sequences ----------------------------------------------------------------------------------------


def test_sequence_fill_runs_the_model_on_its_own_predictions_inside_the_gap(sine, tmp_path):
    spec, checkpoint = sine
    mask = gap_mask(tmp_path, 40, 25, 8)
    task, out, session = filled(spec, checkpoint, str(mask))
    np.testing.assert_array_equal(out[:, :25], task.truth[:, :25])
    np.testing.assert_array_equal(out[:, 33:], task.truth[:, 33:])
    # the first filled step is the model's prediction after reading the true steps before it; the next ones
    # are its predictions with its own earlier predictions as inputs
    whole = session.method.predict(out.astype(np.float32))
    np.testing.assert_allclose(out[:, 25:33], whole[:, 24:32], rtol=1e-4, atol=1e-5)


def test_sequence_fill_beats_the_mean_it_starts_from(sine, tmp_path):
    task, out, _ = filled(*sine, str(gap_mask(tmp_path, 40, 20, 10)))
    ours, start = fill_errors(out, task.truth, task.missing), fill_errors(task.values, task.truth, task.missing)
    assert ours["mse"] < 0.5 * start["mse"]


def test_sequence_fill_draws_series_and_refuses_sides(sine, tmp_path):
    spec, checkpoint = sine
    mask = gap_mask(tmp_path, 40, 20, 10)
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", mask, "-n", "4", "-o", tmp_path / "s.png")
    assert result.code == 0 and "the 40 values marked in" in result.out, result.both
    assert (tmp_path / "s.png").stat().st_size > 0
    sides = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "bottom", "-o", tmp_path / "b.png")
    assert sides.code == 1 and "sequences have no sides" in sides.err and "Traceback" not in sides.both
    assert not (tmp_path / "b.png").exists()


def test_nan_steps_of_a_series_of_another_length_are_filled(sine, tmp_path):
    spec, checkpoint = sine
    steps = np.arange(60)
    series = np.sin(2 * np.pi * 0.03 * steps + np.array([[0.0], [1.0]]))[..., None].astype(np.float32)
    series[:, 30:40] = np.nan
    np.save(tmp_path / "series.npy", series)
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "missing", "--input",
                     tmp_path / "series.npy", "-o", tmp_path / "f.npy")
    assert result.code == 0 and "the 20 missing values of" in result.out, result.both
    out = np.load(tmp_path / "f.npy")
    assert out.shape == (2, 60, 1) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :30], series[:, :30])
    truth = np.sin(2 * np.pi * 0.03 * steps[30:40] + np.array([[0.0], [1.0]]))
    assert ((out[:, 30:40, 0] - truth) ** 2).mean() < 0.5 * (truth ** 2).mean()  # closer than the mean, 0


# ---- the GAN ------------------------------------------------------------------------------------------


def test_gan_fill_searches_noise_that_matches_the_known_part(gan):
    spec, checkpoint = gan
    session = load_trained(nngraph.load(spec), None, checkpoint, command="sample")
    request = {"fill": "bottom", "count": 32, "seed": 0}
    task = fill_task(request, session.splits, example_shape(session.method, session.splits))
    known = ~task.missing

    def known_error(steps):
        with compute_threads(1):
            out, _ = session.method.fill(task.values.copy(), task.missing.copy(), {**request, "steps": steps})
        return float(((out - task.truth)[known] ** 2).mean())

    assert known_error(150) < 0.7 * known_error(1)


def test_the_gradient_reaching_the_noise_matches_finite_differences():
    from nngraph.backend import get_backend
    from nngraph.compile import compile_model

    model = nngraph.loads(GAN).models["generator"]
    program = compile_model(model, (), get_backend("numpy", "float64"), seed=1, input_grads=True)
    plan = program.train_plan
    out, rng = plan.slot(plan.outputs[0]), np.random.default_rng(2)
    z, weights = rng.standard_normal((3, 8)), rng.standard_normal((3, 64))

    def loss_and_noise_grad(noise):
        values = program.feeds({"batch": np.empty((3, 0))}, training=True)
        values["z"] = noise
        ctxs = program.run(values, training=True)
        _, to_inputs = program.backward_to_inputs(values, ctxs, seeds={out: weights})
        return float((values[out] * weights).sum()), to_inputs["z"]

    direction, eps = rng.standard_normal(z.shape), 1e-6
    analytic = float((loss_and_noise_grad(z)[1] * direction).sum())
    numeric = (loss_and_noise_grad(z + eps * direction)[0] - loss_and_noise_grad(z - eps * direction)[0]) / (2 * eps)
    assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric))


def gan_method_float64():
    from nngraph.backend import get_backend
    from nngraph.session import build_method

    checked = nngraph.loads(GAN)
    return build_method(checked, checked.train(), get_backend("numpy", "float64"))


def test_the_fill_objectives_prior_term_has_the_gradient_of_finite_differences():
    method, rng = gan_method_float64(), np.random.default_rng(3)
    z = rng.standard_normal((3, 8))
    known = (rng.random((3, 64)) < 0.5).astype(np.float64)
    target = rng.random((3, 64))

    def objective(noise, prior):
        return method.fill_objective(noise, known, target, prior)

    direction, eps = rng.standard_normal(z.shape), 1e-6
    for prior in (0.0, 0.7):
        value, grads = objective(z, prior)
        analytic = float((grads * direction).sum())
        numeric = (objective(z + eps * direction, prior)[0].sum() - objective(z - eps * direction, prior)[0].sum()) \
            / (2 * eps)
        assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric))
    # the term itself: prior * ||z||^2 / 2 per row, its gradient prior * z
    np.testing.assert_allclose(objective(z, 0.7)[0] - objective(z, 0.0)[0], 0.35 * (z ** 2).sum(axis=1))
    np.testing.assert_allclose(objective(z, 0.7)[1] - objective(z, 0.0)[1], 0.7 * z)


def test_the_prior_pulls_the_noise_of_an_unknown_example_to_the_generators_centre(gan):
    """With nothing known the error term is 0: without the prior each start keeps its draw (different
    examples), with it the search ends near z = 0, so every fill-in is about the generator's output at 0."""
    spec, checkpoint = gan
    method = load_trained(nngraph.load(spec), None, checkpoint, command="sample").method
    values, missing = np.full((3, 64), 0.5, np.float32), np.ones((3, 64), bool)
    with compute_threads(1):
        free, _ = method.fill(values, missing, {"steps": 200, "seed": 0, "prior": 0.0})
        pulled, what = method.fill(values, missing, {"steps": 200, "seed": 0, "prior": 1.0})
    at_zero = method._generated_from(np.zeros((1, 8), np.float32))
    assert np.abs(free - free[:1]).max() > 0.1  # each example its own draw
    assert np.abs(at_zero - 0.5).max() > 0.1  # a trained generator's centre is not the sigmoid's midpoint
    np.testing.assert_allclose(pulled, np.repeat(at_zero, 3, axis=0), atol=2e-3)
    assert "prior 1 * ||z||^2 / 2" in what


def test_a_weaker_prior_leaves_the_fill_closer_to_the_known_part(gan):
    spec, checkpoint = gan
    session = load_trained(nngraph.load(spec), None, checkpoint, command="sample")
    request = {"fill": "bottom", "count": 32, "seed": 0, "steps": 150}
    task = fill_task(request, session.splits, example_shape(session.method, session.splits))

    def known_error(prior):
        with compute_threads(1):
            out, _ = session.method.fill(task.values.copy(), task.missing.copy(), {**request, "prior": prior})
        return float(((out - task.truth)[~task.missing] ** 2).mean())

    assert known_error(0.0) < known_error(10.0)


@pytest.mark.parametrize(("which", "args", "message"), [
    ("gan", ["--fill", "left", "--prior", "-1"], "must be a number from 0 to 1e+06"),
    ("gan", ["--fill", "left", "--prior", "inf"], "must be a number from 0 to 1e+06"),
    ("gan", ["--fill", "left", "--prior", "1e308"], "must be a number from 0 to 1e+06"),
    ("gan", ["--prior", "0.1"], "no --fill was given"),
    ("vae", ["--fill", "left", "--prior", "0.1"], "method 'vae' fills in without one"),
])
def test_bad_prior_requests_are_clear_errors(gan, vae, tmp_path, which, args, message):
    spec, checkpoint = {"gan": gan, "vae": vae}[which]
    result = run_cli("sample", spec, "--checkpoint", checkpoint, *args, "-o", tmp_path / "out.npy")
    assert result.code == 1 and message in result.err, result.both
    assert "Traceback" not in result.both and not (tmp_path / "out.npy").exists()


def test_uniform_noise_refuses_a_prior_weight(tmp_path):
    spec, checkpoint = train(tmp_path, "gan", GAN.replace("z[8] normal", "z[8] uniform").replace("epochs 3",
                                                                                                "epochs 1"))
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "left", "--prior", "0.5", "--steps", "2",
                     "-o", tmp_path / "f.npy")
    assert result.code == 1 and "density is flat inside [-1, 1]" in result.err, result.both
    assert "Traceback" not in result.both and not (tmp_path / "f.npy").exists()
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "left", "--steps", "2", "-o",
                     tmp_path / "f.npy")
    assert result.code == 0 and "prior" not in result.out, result.both


def test_gan_fill_keeps_the_known_part(gan, tmp_path):
    spec, checkpoint = gan
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "left", "-n", "6", "--steps", "20",
                     "-o", tmp_path / "f.npy")
    assert result.code == 0 and "the noise searched from 4 draws by 20 Adam steps" in result.out, result.both
    truth = load_trained(nngraph.load(spec), None, checkpoint).splits.test.x[:6].reshape(6, 8, 8)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy").reshape(6, 8, 8)[:, :, 4:], truth[:, :, 4:])


def test_a_generator_with_dropout_is_refused(tmp_path):
    spec, checkpoint = train(tmp_path, "gan", GAN.replace("g[64] relu", "g[64] relu dropout=0.2").replace(
        "epochs 3", "epochs 1"))
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "left", "-o", tmp_path / "f.npy")
    assert result.code == 1 and "one noise unit, no dropout and no normalisation" in result.err, result.both
    assert "Traceback" not in result.both and not (tmp_path / "f.npy").exists()


# ---- masks and refusals --------------------------------------------------------------------------------


def test_a_mask_is_one_example_one_per_example_or_for_sequences_one_a_step(tmp_path):
    np.save(tmp_path / "one.npy", np.eye(3, dtype=np.uint8))
    assert mask_file(str(tmp_path / "one.npy"), (2, 3, 3), False).sum() == 6
    np.save(tmp_path / "each.npy", np.arange(18).reshape(2, 9) % 2)
    each = mask_file(str(tmp_path / "each.npy"), (2, 3, 3), False)
    assert each[0].reshape(-1).tolist() == [False, True] * 4 + [False]
    np.save(tmp_path / "steps.npy", np.array([0, 1, 1, 0], bool))
    steps = mask_file(str(tmp_path / "steps.npy"), (2, 4, 3), True)
    assert steps[:, 1:3].all() and not steps[:, [0, 3]].any()
    with pytest.raises(DataError, match="does not fit the examples of shape \\[4, 3\\]"):
        mask_file(str(tmp_path / "steps.npy"), (2, 4, 3), False)
    np.save(tmp_path / "twos.npy", np.full(9, 2))
    with pytest.raises(DataError, match=r"twos.npy holds 2 at \[0\]; a mask holds 0 \(keep\) and 1"):
        mask_file(str(tmp_path / "twos.npy"), (2, 3, 3), False)  # it said the mask did not fit the examples
    np.save(tmp_path / "half.npy", np.array([0, 1, 0.5] * 3))
    with pytest.raises(DataError, match=r"half.npy holds 0.5 at \[2\]"):
        mask_file(str(tmp_path / "half.npy"), (2, 3, 3), False)
    with pytest.raises(DataError, match="expected one of top, bottom, left, right, missing, or a .npy"):
        mask_file("middle", (2, 3, 3), False)


def test_a_masks_shape_decides_how_it_is_read_before_its_size(tmp_path):
    """Two series of 3 steps and 2 features: a [3, 2] mask is one example's (every example's), not one [3] mask a
    series, though its 6 values are 2 x 3 as well (the twin's fill_masks found it: the mask was read by its size
    alone, the per-step reading last, so one example's mask filled other values). A [2, 3] mask is one a series,
    its values each step's; a mask whose shape fits two readings is read as the first in the docs' order."""
    one = np.array([[1, 0], [0, 1], [1, 1]], bool)
    np.save(tmp_path / "one.npy", one)
    np.testing.assert_array_equal(mask_file(str(tmp_path / "one.npy"), (2, 3, 2), True), [one, one])
    each = np.array([[1, 0, 0], [0, 1, 1]], bool)
    np.save(tmp_path / "each.npy", each)
    np.testing.assert_array_equal(mask_file(str(tmp_path / "each.npy"), (2, 3, 2), True),
                                  np.repeat(each[:, :, None], 2, axis=2))
    np.save(tmp_path / "flat.npy", one.reshape(-1))  # by size: one example's values first
    np.testing.assert_array_equal(mask_file(str(tmp_path / "flat.npy"), (2, 3, 2), True), [one, one])
    square = np.array([[1, 0], [0, 0]], bool)  # [T, F] and [count, T] alike: one example's
    np.save(tmp_path / "square.npy", square)
    np.testing.assert_array_equal(mask_file(str(tmp_path / "square.npy"), (2, 2, 2), True), [square, square])


def test_methods_that_fill_one_mask_at_a_time_get_each_examples_own():
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    missing = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    calls = []

    def fill_rows(rows, mask):
        calls.append(mask.tolist())
        return np.where(mask, -rows, rows)  # marks what each call was told to fill

    out = by_mask(values, missing, fill_rows)
    np.testing.assert_array_equal(out, np.where(missing, -values, values))
    assert len(calls) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--fill", "missing"], "no --input was given"),
    (["--fill", "middle"], "expected one of top, bottom"),
    (["--fill", "nothere.npy"], "--fill: "),
    (["--input", "x.npy"], "--input gives the examples to fill in"),
    (["--fill", "bottom", "--input", "nan.npy"], "holds NaN values, which --fill bottom does not fill"),
    (["--fill", "missing", "--input", "short.npy"], "has examples of shape [10], but the model's are [64]"),
])
def test_bad_fill_requests_are_clear_errors(vae, tmp_path, args, message):
    spec, checkpoint = vae
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    np.save(tmp_path / "nan.npy", np.full((2, 64), np.nan, np.float32))
    np.save(tmp_path / "short.npy", np.zeros((2, 10), np.float32))
    args = [str(tmp_path / a) if a.endswith(".npy") else a for a in args]
    result = run_cli("sample", spec, "--checkpoint", checkpoint, *args, "-o", tmp_path / "out.npy")
    assert result.code == 1 and message in result.err, result.both
    assert "Traceback" not in result.both and not (tmp_path / "out.npy").exists()


def test_a_method_that_cannot_fill_in_says_which_can(tmp_path):
    spec, checkpoint = train(tmp_path, "xor", (Path(__file__).resolve().parents[2] / "specs" / "xor.nn").read_text())
    result = run_cli("sample", spec, "--checkpoint", checkpoint, "--fill", "left", "-o", tmp_path / "f.npy")
    assert result.code == 1 and "does not fill in missing values" in result.err and "VAEs, GANs" in result.err
    assert "Traceback" not in result.both and not (tmp_path / "f.npy").exists()


def test_a_sequence_model_that_does_not_predict_its_input_is_refused():
    session = trained("adding_lstm.nn", ["epochs=1", "data=adding(n=64, length=10)"])
    with pytest.raises(BuildError, match="does not give values of its input .* so it cannot fill in the gaps"):
        session.method.fill(np.zeros((1, 10, 2), np.float32), np.ones((1, 10, 2), bool), {})
