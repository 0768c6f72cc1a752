"""Method gan: both losses' gradients, alternation, per-model optimizers, checkpoints, a short ring run."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.data.dataset import unsupervised
from nngraph.train.gan import build, judge_metrics

from .helpers import SPECS, directional_check

GAN = "method=gan(generator=generator, discriminator=discriminator, k={k}, pack=2{extra})"


def _method(backend="numpy", dtype="float32", k=1, extra=""):
    checked = nngraph.load(SPECS / "gan_ring.nn", [GAN.format(k=k, extra=extra)])
    return build(checked, checked.train(), get_backend(backend, dtype))


# (the method, in float64, on a backend; the rows each pass judges): the ring, the ring with instance noise (the
# same draws on every call: the noise shifts the discriminator's inputs, its gradients pass through), and the
# grid's discriminator with a minibatch_std link (10 real rows: trimmed to 8, whole groups of 4; 3 rows: less than a
# group, each half judged in a pass of its own)
GRADIENT_CASES = {"ring": (lambda backend: _method(backend, "float64"), 6),
                  "instance_noise": (lambda backend: _method(backend, "float64", extra=", instance_noise=0.3"), 6),
                  "minibatch_std": (lambda backend: _grid_method(backend, "float64"), 10),
                  "minibatch_std, a batch smaller than a group": (lambda backend: _grid_method(backend, "float64"), 3)}


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_discriminator_loss_gradient_matches_finite_differences(case, backend_name, xp):
    make, rows = GRADIENT_CASES[case]
    method = make(backend_name)
    real = np.random.default_rng(1).standard_normal((rows, 2))

    def loss_and_grads():
        metrics, grads = method.discriminator_pass(real, np.random.default_rng(3))
        return metrics["d_loss"], grads

    analytic, numeric = directional_check(method.disc.params, loss_and_grads, xp)
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_generator_loss_gradient_matches_finite_differences(case, backend_name, xp):
    make, rows = GRADIENT_CASES[case]
    method = make(backend_name)
    analytic, numeric = directional_check(
        method.gen.params, lambda: method.generator_pass(rows, np.random.default_rng(3)), xp)
    assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-9)


def test_judge_metrics_are_the_two_bce_losses_and_accuracies():
    metrics = judge_metrics(np.array([2.0, -1.0]), np.array([-3.0, 0.5]))
    softplus = lambda z: np.log1p(np.exp(z))
    assert metrics["d_loss"] == pytest.approx((softplus(-2) + softplus(1)) / 2 + (softplus(-3) + softplus(0.5)) / 2)
    assert metrics["g_loss"] == pytest.approx((softplus(3) + softplus(-0.5)) / 2)
    assert (metrics["d_real"], metrics["d_fake"]) == (0.5, 0.5)


def _changed(method, step) -> tuple[bool, bool]:
    before = {k: v.copy() for k, v in method.params.items()}
    step()
    moved = {k: not np.array_equal(before[k], v) for k, v in method.params.items()}
    return (any(v for k, v in moved.items() if k.startswith("generator.")),
            any(v for k, v in moved.items() if k.startswith("discriminator.")))


def test_k_discriminator_steps_per_generator_step():
    method = _method(k=3)
    method.set_learning_rate(1e-3)
    batch = unsupervised(np.random.default_rng(0).standard_normal((8, 2)), "points")
    rng = np.random.default_rng(0)
    moved = [_changed(method, lambda: method.train_step(batch, rng)) for _ in range(6)]
    assert moved == [(False, True), (False, True), (True, True)] * 2


def test_each_model_has_its_own_optimizer_and_rate():
    method = _method(extra=", g_optimizer=sgd(lr=0.1), d_optimizer=adam(lr=2e-4, beta1=0.5)")
    g, d = (part.optimizer for part in method.parts)
    assert (type(g).__name__, type(d).__name__) == ("SGD", "Adam")
    method.set_learning_rate(5e-5)  # the train block's adam(lr=1e-4) halved by a schedule: both follow
    assert (g.lr, d.lr) == pytest.approx((0.05, 1e-4))


def _judged_inputs(method, real) -> np.ndarray:
    """What the discriminator pass feeds the discriminator (packed rows), real half first."""
    fed = []
    feeds = method.disc.feeds
    method.disc.feeds = lambda inputs, *args, **kw: fed.append(inputs[method.real_input]) or feeds(inputs, *args, **kw)
    method.discriminator_pass(real, np.random.default_rng(3))
    return fed[0]


def test_instance_noise_blurs_what_the_discriminator_sees_and_fades_with_the_schedule():
    real = np.zeros((4000, 2))  # judged in pairs (pack=2): 2000 rows of 4 values, then as many generated
    plain = _method()
    plain.set_learning_rate(1e-4)  # the spec's adam(lr=1e-4): the schedule's factor 1
    assert np.array_equal(_judged_inputs(plain, real)[:2000], np.zeros((2000, 4)))  # no noise by default
    method = _method(extra=", instance_noise=0.3")
    for rate, std in ((1e-4, 0.3), (2.5e-5, 0.075)):  # a schedule at a quarter of the rate: a quarter of the std
        method.set_learning_rate(rate)
        assert method.noise_std == pytest.approx(std)
        noise = _judged_inputs(method, real)[:2000]  # the real half: zeros plus noise
        assert abs(noise.mean()) < 0.05 * std and noise.std() == pytest.approx(std, rel=0.05)


def test_instance_noise_under_mpi_stops_with_a_clear_error():
    """A rank's real and generated halves are not rows of the global batch that one process would draw for."""
    from nngraph.errors import TrainingError
    from nngraph.train.parallel import Shard, ShardedGenerator

    method = _method(extra=", instance_noise=0.3")
    rank_rng = ShardedGenerator(np.random.default_rng(0), Shard(start=4, stop=8, total=8))
    with pytest.raises(TrainingError, match="cannot be split across MPI ranks") as error:
        method.discriminator_pass(np.zeros((4, 2)), rank_rng)
    assert "a gan's instance_noise" in error.value.hint


def test_state_round_trip_continues_identically():
    first, second = _method(k=2), _method(k=2)
    batch = unsupervised(np.random.default_rng(0).standard_normal((8, 2)), "points")
    for method in (first, second):
        method.set_learning_rate(1e-3)
    first.train_step(batch, np.random.default_rng(1))
    second.load_state(first.state())
    assert second.steps == 1
    a, b = (m.train_step(batch, np.random.default_rng(2)) for m in (first, second))
    assert a == b
    assert all(np.array_equal(first.params[k], second.params[k]) for k in first.params)


def test_evaluate_reports_modes_for_the_ring():
    method = _method()
    data = nngraph.data.load_dataset(nngraph.load(SPECS / "gan_ring.nn").train().data, SPECS)
    metrics = method.evaluate(data.take(np.arange(256)))
    assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_fake", "modes", "high_quality"}
    assert metrics["modes"] == 0 and metrics["high_quality"] < 0.05  # untrained: noise around the origin


def _grid_method(backend="numpy", dtype="float32"):
    """specs/gan_grid.nn: a discriminator with a minibatch_std link in groups of 4 (its instance noise off: the
    ring's case checks that)."""
    checked = nngraph.load(SPECS / "gan_grid.nn", ["method=gan(generator=generator, discriminator=discriminator)"])
    return build(checked, checked.train(), get_backend(backend, dtype))


def test_minibatch_std_groups_never_mix_real_and_generated_rows():
    """10 real rows: 8 (two whole groups) are judged beside 8 generated ones, so each group is one kind."""
    method, judged = _grid_method(), []
    judge = method._judge
    method._judge = lambda x, target, rng: judged.append(len(x)) or judge(x, target, rng)
    method.discriminator_pass(np.random.default_rng(1).standard_normal((10, 2)), np.random.default_rng(3))
    assert judged == [16]


def test_a_batch_smaller_than_a_minibatch_std_group_judges_each_half_apart():
    """3 real rows and 3 generated ones cannot be whole groups of 4: judged in one pass, the first group would
    mix them (the PyTorch twin, benchmarks/twin/gan_steps.py, found it); so each half is judged alone, and its
    statistic is its own spread."""
    method, judged = _grid_method(dtype="float64"), []
    judge = method._judge
    method._judge = lambda x, target, rng, **options: judged.append(len(x)) or judge(x, target, rng, **options)
    real = np.random.default_rng(1).standard_normal((3, 2))
    metrics, _ = method.discriminator_pass(real, np.random.default_rng(3))
    assert judged == [3, 3]
    fake = method.generate(3, np.random.default_rng(3), training=True)[0][method.fake_slot]  # the pass's draws
    real_logits, fake_logits = (judge(x, target, np.random.default_rng(0))[0][method.logit_slot].reshape(-1)
                                for x, target in ((real, method.labels(3, 0)), (fake, method.labels(0, 3))))
    assert metrics["d_loss"] == pytest.approx(np.logaddexp(0, -real_logits).mean() + np.logaddexp(0, fake_logits).mean(),
                                              rel=1e-12)
    assert metrics["d_real"] == np.mean(real_logits > 0) and metrics["d_fake"] == np.mean(fake_logits < 0)




def test_real_examples_of_the_right_size_and_wrong_shape_get_the_data_calls_reshape():
    """Flat digits against an image generator: the refusal says the `shape=` that makes them fit."""
    from nngraph.errors import DataError

    method = _method()
    flat = unsupervised(np.zeros((8, 2, 1)), "points")
    with pytest.raises(DataError, match=r"has examples of shape \[2, 1\], but generator") as error:
        method.check_data(flat, None)
    assert error.value.hint == "reshape the examples in the data call: shape=[2]"
    with pytest.raises(DataError) as error:
        method.check_data(unsupervised(np.zeros((8, 3)), "points"), None)
    assert error.value.hint is None


BATCHNORM_GAN = """
model generator { noise z[1] normal; output p[2] identity; z -> p }
model discriminator { input p[2]; layer d[3] identity batchnorm; output real[1] sigmoid; p -> d -> real }
train { method gan(generator=generator, discriminator=discriminator); data ring(n=40); batch 4; epochs 1 }
"""


def test_a_batchnorm_in_the_discriminator_normalises_real_and_generated_rows_together():
    """docs/language.md, section 10: D judges both halves of its batch in one pass, and every training pass moves
    the running statistics, D's again on the generator's update."""
    checked = nngraph.loads(BATCHNORM_GAN)
    method = build(checked, checked.train(), get_backend("numpy", "float64"))
    gen, disc = method.gen, method.disc
    gen.params["z->p.weight"][...] = 0  # every generated example is the bias
    gen.params["p.bias"][...] = [3.0, -1.0]
    real = np.random.default_rng(0).standard_normal((4, 2))
    judged = np.concatenate([real, np.tile([3.0, -1.0], (4, 1))])
    weight = disc.params["p->d.weight"].copy()
    method.discriminator_pass(real, np.random.default_rng(1))
    momentum = 0.1
    assert np.allclose(disc.buffers["d.norm.running_mean"], momentum * (judged @ weight).mean(axis=0), rtol=1e-12)
    assert np.allclose(disc.buffers["d.norm.running_var"], (1 - momentum) + momentum * (judged @ weight).var(
        axis=0, ddof=1), rtol=1e-12)
    before = disc.buffers["d.norm.running_mean"].copy()
    method.generator_pass(4, np.random.default_rng(2))  # D judges the generated rows alone, in training mode
    generated = np.tile([3.0, -1.0], (4, 1)) @ weight
    assert np.allclose(disc.buffers["d.norm.running_mean"], (1 - momentum) * before + momentum * generated.mean(axis=0),
                       rtol=1e-12)
