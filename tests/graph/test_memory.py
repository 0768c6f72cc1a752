"""The memory estimate: it covers what a run really allocates, and `check` refuses with it at the model's name."""

import tracemalloc

import numpy as np
import pytest

from nngraph.api import load
from nngraph.graph.memory import training_memory
from nngraph.session import run_training
from tests.graph.helpers import assert_error, check, errors_of, source

# one weight of 4M values: the initialisation's float64 draw and every optimizer array are sizeable
WIDE = """
model m {{ input x[2000]; layer h[2000] tanh; output y[10] softmax; x -> h -> y }}
train {{ model m; data npz("d.npz"); loss cross_entropy(y); optimizer {optimizer}; batch 32; epochs 1 {extra} }}
"""


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """One tiny run first, so the modules a run imports (matplotlib for the curves among them) are loaded
    and what is measured is the run's arrays."""
    folder = tmp_path_factory.mktemp("warm")
    (folder / "x.nn").write_text("model m { input x[2]; output y[1]; x -> y }\n"
                                 "train { model m; data xor; loss mse(y); epochs 1; validation 0.5 }\n")
    run_training(load(folder / "x.nn"), out=folder / "run", quiet=True)


@pytest.mark.parametrize("optimizer", ["sgd(lr=0.01)", "sgd(lr=0.01, momentum=0.9)", "adam"])
@pytest.mark.parametrize("extra", ["", "; validation 0.5; early_stopping patience=3"])
def test_the_estimate_covers_the_real_peak_of_a_run(tmp_path, optimizer, extra, warm):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((64, 2000)).astype(np.float32), y=rng.integers(0, 10, 64))
    (tmp_path / "s.nn").write_text(WIDE.format(optimizer=optimizer, extra=extra), encoding="utf-8")
    checked = load(tmp_path / "s.nn")
    estimate = training_memory(checked.models, checked.trains[0], rows=64)  # (`check` counts 2048 rows)
    tracemalloc.start()
    try:
        run_training(checked, out=tmp_path / "run", quiet=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert estimate.peak >= peak, (estimate, peak)
    if not extra:  # the final evaluation of the 64 training examples, besides a step: the peak is close
        step = estimate.parameters + estimate.training_state + estimate.gradients + estimate.activations
        assert peak <= step < 1.1 * peak, (estimate, peak)


XOR_WIDE = """
model m {
  input x[2]
  layer h[3000] tanh
  layer g[3000] tanh
  output y[1] sigmoid
  x -> h -> g -> y
}
train {
  data xor
  loss bce(y)
  batch 4
"""
ADAM = XOR_WIDE + "  optimizer adam\n}"


def test_check_refuses_a_run_that_does_not_fit_at_the_models_name():
    checked = check(ADAM)
    estimate = training_memory(checked.models, checked.trains[0])
    err, = errors_of(ADAM, memory_limit=estimate.peak - 1)
    # the final evaluation runs 2048 examples at a time (the data's size is not known to `check`): 3000 + 3000
    # values each outweigh the parameters
    assert_error(err, r"training model 'm' needs about 3\d\d\.\d MiB at its peak \(parameters 3\d\.\d MiB, "
                 r"gradients and adam state 1\d\d\.\d MiB, activations for batch 4 .*, evaluation of 2048 examples "
                 r"at a time 9\d\.\d MiB\); 3\d\d\.\d MiB is available", 1, 7, "evaluation runs 2048 examples at a time")
    assert check(ADAM, memory_limit=estimate.peak).models["m"]


def test_each_optimizer_slot_and_early_stopping_count():
    def peak(*settings):
        checked = check(XOR_WIDE + "".join(f"  {s}\n" for s in settings) + "}")
        return training_memory(checked.models, checked.trains[0], rows=4).peak  # xor's 4 examples

    params = 4 * (2 * 3000 + 3000 * 3000 + 3000 + 3000 + 3000 + 1)
    assert peak("optimizer sgd") + 2 * params == peak("optimizer adam")
    assert peak("optimizer sgd(momentum=0.9)") + params == peak("optimizer adam")
    assert peak("optimizer sgd", "validation 0.5", "early_stopping monitor=loss_running") \
        > peak("optimizer sgd", "validation 0.5")
    checked = check(XOR_WIDE + "}")
    assert training_memory(checked.models, checked.trains[0], "float64").parameters == 2 * params
    # resuming reads the parameters and both moments whole beside the built method (parameters, 4 arrays)
    adam = check(ADAM)
    assert training_memory(adam.models, adam.trains[0], resume=True, rows=4).peak == 8 * params \
        > peak("optimizer adam")


def test_a_huge_batch_is_refused_with_a_hint_about_the_batch():
    text = ADAM.replace("batch 4", "batch 10000000")
    err, = errors_of(text, memory_limit=2**34)
    # at the batch that made the activations most of the peak (hostile round 7: was the model's name)
    line = next(i for i, t in enumerate(source(text).splitlines(), 1) if "batch 10000000" in t)
    assert_error(err, r"activations for batch 10000000 \d+\.\d GiB", line, 3, "lower `batch`")


def test_a_recurrent_model_counts_its_window_and_history():
    text = """
    model r {{ input x[8] sequence max_length={n}; layer h[512] tanh; output y[2]; x -> h; h -> h delay 1; h -> y }}
    train {{ data xor; loss mse(y); batch 16 }}
    """
    short, long = (training_memory(c.models, c.trains[0]).activations
                   for c in (check(text.format(n=10)), check(text.format(n=1000))))
    assert long == short * 1001 // 11


def test_whole_model_errors_point_at_the_models_name_on_both_surfaces():
    from nngraph.errors import ErrorList
    from nngraph.graph.check import check_spec
    from nngraph.spec.yaml_surface import parse_yaml

    yaml = "# a big one\nmodel big:\n  units:\n    - input x[100000]\n    - output h[100000]\n  connections:\n" \
           "    - x -> h\n"
    with pytest.raises(ErrorList, match="model 'big' needs about 149.0 GiB") as info:
        check_spec(parse_yaml(yaml, "t.yaml"), memory_limit=2**30)
    assert (info.value.span.line, info.value.span.column, info.value.span.end_column) == (2, 7, 10)
    err, = errors_of("model  big { input x[100000]; output h[100000]; x -> h }", memory_limit=2**30)
    assert_error(err, "needs about", 1, 8)
