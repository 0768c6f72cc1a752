"""Fixtures shared by every test folder."""

import signal

import pytest

from nngraph.backend import available_backends, get_backend
from nngraph.backend.gpu import load_cupy


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_reaches_the_tests():
    """A test runner started in the background without job control (`cmd &` in a script, nohup) inherits SIGINT
    ignored, Python keeps it so, and so would the `nngraph train` children the CLI tests start: the Ctrl-C tests
    would never see their Ctrl-C. They test nngraph's handling of it, so SIGINT gets Python's default handler
    (a child process then starts with the default action)."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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
