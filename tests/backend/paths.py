"""The kernel paths a test can force on this machine, and forcing one (for tests/backend and
tests/recurrent)."""

from types import SimpleNamespace

import numpy as np

from nngraph.backend import accel

try:
    from nngraph.backend import _kernels  # the extension itself, whatever the switches say
except ImportError:
    _kernels = None

COMPILED = accel.runnable()  # the compiled paths this CPU runs, best first
WITH_GEMMS = tuple(p for p in COMPILED if accel.has_compiled("small_gemm", p))
EVERY_PATH = (*COMPILED, accel.TWINS)


def force_path(monkeypatch, path: str) -> None:
    """Make `accel` take `path` ("twins" or a compiled path this CPU runs) until the test ends."""
    if path == accel.TWINS:
        monkeypatch.setenv(accel.KERNELS_SWITCH, "0")
    else:
        monkeypatch.delenv(accel.KERNELS_SWITCH, raising=False)
        monkeypatch.setenv(accel.ISA_SWITCH, path)
    assert accel.path(np) == path


def native(path: str) -> SimpleNamespace:
    """The C functions of a compiled path this CPU runs, bound to it."""
    return SimpleNamespace(**_kernels.paths[path])
