"""A run checks its memory again in the dtype it really uses, and a MemoryError that happens all the same
becomes an error that names the estimate, at the model's name."""

import pytest

from nngraph.api import loads
from nngraph.errors import ErrorList, TrainingError
from nngraph.graph import memory
from nngraph.graph.memory import training_memory
from nngraph.session import run_training

SPEC = """model m { input x[2]; layer h[2000] tanh; layer g[2000] tanh; output y[1] sigmoid; x -> h -> g -> y }
train { model m; data xor; loss bce(y); optimizer adam; batch 4; epochs 1 }
"""


def test_a_float64_run_is_refused_before_allocating_when_only_float32_fits(tmp_path, monkeypatch):
    checked = loads(SPEC, str(tmp_path / "s.nn"))
    single = training_memory(checked.models, checked.trains[0]).peak
    double = training_memory(checked.models, checked.trains[0], "float64").peak
    monkeypatch.setattr(memory, "available_memory", lambda: (single + double) // 2)
    with pytest.raises(ErrorList, match="training model 'm' needs about .* MiB at its peak") as info:
        run_training(checked, out=tmp_path / "run", dtype="float64")
    assert (info.value.span.line, info.value.span.column) == (1, 7)
    assert not (tmp_path / "run").exists()


def test_a_memory_error_during_a_run_names_the_estimate(tmp_path, monkeypatch):
    from nngraph.train import loop

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(loop, "fit", exhausted)
    checked = loads(SPEC, str(tmp_path / "s.nn"))
    with pytest.raises(TrainingError, match=r"out of memory while training model 'm': the estimate was about "
                                            r"\d+\.\d MiB \(parameters .*\) besides the data") as info:
        run_training(checked, out=tmp_path / "run")
    assert (info.value.span.line, info.value.span.column) == (1, 7)
    assert "lower `batch`" in info.value.hint
