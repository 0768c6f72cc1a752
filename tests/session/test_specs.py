"""Every spec under specs/ checks; YAML twins equal their .nn; every backprop spec trains briefly."""

from pathlib import Path

import pytest

import nngraph
from nngraph.cli.tables import model_rows
from nngraph.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
ALL = sorted(p.name for p in SPECS.iterdir() if p.suffix in (".nn", ".yaml"))
MNIST = SPECS.parent.parent / "shared" / "data" / "mnist"


@pytest.mark.parametrize("name", ALL)
def test_every_spec_checks_and_inspects(name):
    checked = nngraph.load(SPECS / name)
    assert checked.models and not checked.warnings
    for model in checked.models.values():
        assert all(row[2] != "?" for row in model_rows(model))


@pytest.mark.parametrize("twin", [n for n in ALL if n.endswith(".yaml")])
def test_yaml_twins_equal_their_nn_spec(twin):
    assert load_spec(SPECS / twin) == load_spec(SPECS / twin.replace(".yaml", ".nn"))


MNIST_DATA = {"mnist_lenet.nn": f'data=mnist(path="{MNIST}", limit=500, shape=[1, 28, 28])',
              "mnist_lenet_augment.nn": f'data=mnist(path="{MNIST}", limit=500, shape=[1, 28, 28])',
              "mnist_dbn.nn": f'data=mnist(path="{MNIST}", limit=500)',
              "mnist_superres.nn": f'data=superres(mnist(path="{MNIST}", limit=500), factor=2)'}


def _brief(name: str) -> list[str]:
    if nngraph.load(SPECS / name).train(None).env is not None:
        return ["steps=1"]  # reinforcement learning: one update
    overrides = ["epochs=1"]
    if name in MNIST_DATA:
        if not MNIST.exists():
            pytest.skip("../shared/data/mnist is not beside this checkout")
        overrides.append(MNIST_DATA[name])
    return overrides


@pytest.mark.parametrize("name", [n for n in ALL if n.endswith(".nn")])
def test_every_spec_trains_briefly(name, tmp_path):
    checked = nngraph.load(SPECS / name, _brief(name))
    summary = nngraph.fit(checked, out=tmp_path / "run")
    assert summary["epochs_run"] == 1
