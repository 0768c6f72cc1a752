"""The command line as a package: its entry points, no import cycle, and a `check` that starts light."""

import subprocess
import sys

import pytest

from nngraph import __version__

from .helpers import REPO, SPECS

MODULES = ["nngraph.cli", "nngraph.cli.app", "nngraph.cli.check", "nngraph.cli.command", "nngraph.cli.common",
           "nngraph.cli.render", "nngraph.cli.tables", "nngraph.cli.training"]
# What `nngraph check FILE...` must not load: the typer app and its UI libraries, numpy and matplotlib, and
# every layer after the graph (benchmarks/check_speed.py measures the start-up this keeps short).
NOT_FOR_CHECK = ("typer", "click", "rich", "numpy", "matplotlib", "nngraph.cli.app", "nngraph.train",
                 "nngraph.compile", "nngraph.backend", "nngraph.ops", "nngraph.data", "nngraph.viz")


def python(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("module", ["nngraph", "nngraph.cli"])
def test_python_dash_m_runs_the_command(module):
    done = python("-m", module, "--version")
    assert (done.returncode, done.stdout) == (0, f"nngraph {__version__}\n"), done.stderr
    done = python("-m", module, "check", SPECS / "xor.nn")
    assert done.returncode == 0 and done.stdout.endswith("ok: model xor: 3 units, 2 connections, 17 parameters\n")


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_first_without_a_cycle(module):
    done = python("-c", f"import {module}")
    assert done.returncode == 0, done.stderr


def test_the_console_script_is_the_package_main():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"nngraph": "nngraph.cli:main"}


def test_check_loads_no_typer_no_numpy_and_nothing_after_the_graph():
    script = ("import sys; sys.argv = ['nngraph', 'check', sys.argv[1]]\n"
              "from nngraph.cli import main\n"
              "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
              f"print(sorted(m for m in sys.modules if m.startswith({NOT_FOR_CHECK!r})))")
    done = python("-c", script, SPECS / "digits_cnn.nn")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
