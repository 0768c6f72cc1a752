"""Every test in this folder runs once per kernel path: each compiled path this CPU runs (avx512, avx2,
generic: NNGRAPH_ISA forces it) and the numpy twins (NNGRAPH_KERNELS=0).

The recurrent executor takes its LSTM step, per-step products and whole-sequence loops from
`nngraph.backend.accel`, which reads both variables on every call, so setting them per test switches
the path. A path this CPU cannot run is not collected at all (the run's last line names it, see
tests/conftest.py). The training runs (test_quality.py, test_cli.py) take seconds each, so they run on
the best compiled path and the twins only. A module that chooses paths itself sets `KERNEL_PATHS = ()`
and reads the environment as it finds it (test_sequence_kernels.py).
"""

import pytest

from nngraph.backend import accel
from tests.backend.paths import EVERY_PATH, force_path

TRAINING_MODULES = ("test_quality", "test_cli")


def pytest_generate_tests(metafunc):
    if "kernel_path" not in metafunc.fixturenames:
        return
    paths = getattr(metafunc.module, "KERNEL_PATHS", None)
    if paths is None:
        training = metafunc.module.__name__.rsplit(".", 1)[-1] in TRAINING_MODULES
        paths = (*accel.runnable()[:1], accel.TWINS) if training else EVERY_PATH
    if paths:
        metafunc.parametrize("kernel_path", paths, indirect=True)


@pytest.fixture(autouse=True)
def kernel_path(request, monkeypatch) -> str | None:
    """The path this test runs, forced through the environment (None: as the environment says)."""
    path = getattr(request, "param", None)
    if path is not None:
        force_path(monkeypatch, path)
    return path

