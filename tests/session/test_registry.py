"""The method registry (graph/methods.py: METHODS): a new method is one module and one entry, `check` reads
the entry's options, and a run imports the module only when it is used."""

import subprocess
import sys
from pathlib import Path

import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.errors import ErrorList
from nngraph.graph.methods import METHODS, MethodSpec
from nngraph.session import build_method
from nngraph.spec.options import Option
from nngraph.train.method import Method

SPECS = Path(__file__).resolve().parents[2] / "specs"
SPEC = """
model m { input x[2]; output y[1] sigmoid; x -> y }
train { data xor; loss bce(y); method METHOD }
"""


class Doubling(Method):
    """A method of this module: every step moves the parameters by `times` plain gradient steps."""

    def __init__(self, checked, config, backend):
        from nngraph.compile import compile_model

        program = compile_model(checked.models[config.model], config.loss, backend)
        super().__init__(config, backend.xp, checked.models[config.model])
        self.program, self.times = program, config.method.options["times"]
        self.add_program(program)


def build(checked, config, backend):
    return Doubling(checked, config, backend)


@pytest.fixture
def doubling(monkeypatch):
    spec = MethodSpec("doubling", {"times": Option("int", 2, minimum=1)}, (), __name__)
    monkeypatch.setitem(METHODS, "doubling", spec)


def test_a_new_method_is_one_module_and_one_registry_entry(doubling):
    checked = nngraph.loads(SPEC.replace("METHOD", "doubling(times=3)"))
    config = checked.train()
    assert config.method.options == {"times": 3}
    method = build_method(checked, config, get_backend())
    assert isinstance(method, Doubling) and method.times == 3
    assert {"params.x->y.weight", "optimizer.steps"} <= set(method.state())
    assert nngraph.loads(SPEC.replace("METHOD", "doubling")).train().method.options == {"times": 2}


def test_check_reads_the_new_methods_options(doubling):
    with pytest.raises(ErrorList, match="doubling: times: 0 is out of range"):
        nngraph.loads(SPEC.replace("METHOD", "doubling(times=0)"))
    with pytest.raises(ErrorList, match="method 'doubling' has no option 'tims'"):
        nngraph.loads(SPEC.replace("METHOD", "doubling(tims=3)"))


def test_every_registered_module_builds_its_method():
    import importlib

    for spec in METHODS.values():
        assert callable(importlib.import_module(spec.module).build), spec.name


def test_check_imports_no_training_code():
    specs = [str(SPECS / name) for name in ("gan_ring.nn", "rbm_bars.nn", "vae_digits.nn")]
    code = (f"import sys, nngraph; [nngraph.load(p) for p in {specs!r}]; "
            "print(sorted(m for m in sys.modules if m.startswith('nngraph.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
