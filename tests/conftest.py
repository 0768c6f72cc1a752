"""Fixtures shared by every test folder."""

import pytest

from nngraph.backend import available_backends, get_backend
from nngraph.backend.gpu import load_cupy


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend_name(request) -> str:
    """Each backend name; the cupy case skips (with the reason) where it cannot run."""
    if request.param not in available_backends():
        pytest.skip(load_cupy()[1] or "cupy is not available")
    return request.param


@pytest.fixture
def xp(backend_name):
    """The array module of each backend: numpy, and cupy where a GPU exists."""
    return get_backend(backend_name).xp


@pytest.fixture
def backend(backend_name):
    """Each float32 `Backend`: numpy, and cupy where a GPU exists."""
    return get_backend(backend_name)



def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end of every run: the kernel paths this machine exercises and those it does not
    (with why), and how many tests skipped for which reasons, so a skipped path is never invisible."""
    from tests.backend.paths import skip_summary

    terminalreporter.write_line(skip_summary(terminalreporter.stats.get("skipped", [])))
