"""The kernel paths a test can force on this machine, forcing one (for tests/backend and tests/recurrent),
and the line that ends every test run (tests/conftest.py)."""

from collections import Counter
from types import SimpleNamespace

import numpy as np

from nngraph.backend import accel

try:
    from nngraph.backend import _kernels  # the extension itself, whatever the switches say
except ImportError:
    _kernels = None

COMPILED = accel.runnable()  # the compiled paths this CPU runs, best first
WITH_GEMMS = tuple(p for p in COMPILED if accel.has_compiled("small_gemm", p))
EVERY_PATH = (*COMPILED, accel.CUDA, accel.TWINS)  # cuda: numpy arrays through the CUDA kernels' emulator


def force_path(monkeypatch, path: str) -> None:
    """Make `accel` take `path` ("twins", "cuda": the CUDA kernels' emulator, or a compiled path this CPU runs)
    until the test ends."""
    if path == accel.TWINS:
        monkeypatch.setenv(accel.KERNELS_SWITCH, "0")
    else:
        monkeypatch.delenv(accel.KERNELS_SWITCH, raising=False)
        monkeypatch.setenv(accel.ISA_SWITCH, path)
    assert accel.path(np) == path


def native(path: str) -> SimpleNamespace:
    """The C functions of a compiled path this CPU runs, bound to it."""
    return SimpleNamespace(**_kernels.paths[path])


def skip_summary(skipped_reports) -> str:
    """The kernel paths this machine runs and those it does not (with why), and the skipped tests
    counted by reason."""
    missing = "; ".join(f"{name} ({why})" for name, why in accel.unavailable().items()) or "none"
    reasons = Counter(_skip_reason(report) for report in skipped_reports)
    counted = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    return (f"kernel paths run here: {', '.join((*accel.runnable(), accel.CUDA + ' (emulated)', accel.TWINS))}; "
            f"not here: {missing}. "
            f"Skipped {sum(reasons.values())}" + (f": {counted}" if counted else ""))


def _skip_reason(report) -> str:
    """A skip's reason, short: its first clause ("cupy could not be imported", ...)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ").split(":")[0].strip()
