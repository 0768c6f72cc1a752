"""The line that ends every test run (tests/conftest.py): which kernel paths ran, which did not and why,
and the skips by reason."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from nngraph.backend import accel
from tests.backend.paths import skip_summary


def skipped(reason: str, where=("tests/x.py", 3)):
    return SimpleNamespace(longrepr=(*where, f"Skipped: {reason}"))


def test_it_counts_the_skips_by_reason():
    reports = [skipped("cupy could not be imported: ModuleNotFoundError: No module named 'cupy'")] * 3 + [
        skipped("../shared/data/mnist is not beside this checkout")]
    line = skip_summary(reports)
    assert line.endswith("Skipped 4: 3 cupy could not be imported, 1 ../shared/data/mnist is not beside this checkout")
    assert skip_summary([]).endswith("Skipped 0")


def test_it_names_the_paths_this_cpu_does_not_run(monkeypatch):
    """As on a CPU without AVX-512 (simulated: the path's functions withheld)."""
    monkeypatch.setattr(accel, "_PATH_FUNCTIONS", {k: v for k, v in accel._PATH_FUNCTIONS.items() if k != "avx512"})
    line = skip_summary([])
    assert line.startswith("kernel paths run here: avx2, generic, cuda (emulated), twins; "
                           "not here: avx512 (this CPU lacks AVX-512 (x86-64-v4)).")


def test_without_the_extension_every_compiled_path_is_named(monkeypatch):
    monkeypatch.setattr(accel, "_kernels", None)
    monkeypatch.setattr(accel, "_IMPORT_FAILURE", "the extension is not built (no module)")
    monkeypatch.setattr(accel, "_PATH_FUNCTIONS", {})
    line = skip_summary([])
    assert line.startswith("kernel paths run here: cuda (emulated), twins; not here: avx512 (the extension is not built (no module)); "
                           "avx2 (the extension is not built")


def test_every_run_ends_with_the_line():
    """tests/conftest.py prints it (a run of one quick test here, in a fresh process)."""
    repo = Path(__file__).resolve().parents[2]
    test = "tests/backend/test_skip_summary.py::test_it_counts_the_skips_by_reason"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=repo,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert skip_summary([]) in done.stdout.splitlines()
