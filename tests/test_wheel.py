"""The wheel: it builds, carries the grammar, installs into a fresh venv and checks a spec from elsewhere.

Slow (a build with a C compile and an install, ~15 s). Dependencies come from the system site-packages, so
only the build backend (setuptools) may need fetching, and not even that where it is installed already.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["nngraph", "grammar", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"]


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def copy_sources(dest: Path) -> Path:
    """Build from a copy, so the checkout gets no build folders and concurrent edits cannot half-enter."""
    dest.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _recent_setuptools() -> bool:
    """Whether this environment can build the wheel itself: setuptools >= 70.1 (older ones also need
    `wheel`, and a fresh venv's bundled 65.x is older than pyproject.toml asks); else an isolated build."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    from importlib.metadata import version

    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1)


def build_wheel(tmp_path: Path) -> Path:
    src, dist = copy_sources(tmp_path / "src"), tmp_path / "dist"
    offline = ["--no-isolation"] if _recent_setuptools() else []
    run(sys.executable, "-m", "build", "--wheel", *offline, "--outdir", dist, src, cwd=tmp_path)
    (wheel,) = dist.glob("nngraph-*.whl")
    return wheel


def see_our_site_packages(python: Path, tmp_path: Path) -> None:
    """--system-site-packages shows the base interpreter's packages; where the tests run inside a venv
    (CI does), the dependencies live in that venv instead, so point the new venv at it too."""
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    script = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    theirs = Path(run(python, "-c", script, cwd=tmp_path).stdout.strip())
    (theirs / "_outer_site_packages.pth").write_text("\n".join(sorted(ours)) + "\n")


@pytest.mark.slow
def test_wheel_installs_and_checks_a_spec(tmp_path):
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "nngraph/grammar/nngraph.lark" in names and "nngraph/grammar/nngraph.tables.json" in names
    assert any(n.startswith("nngraph/backend/_kernels") for n in names), "the C kernels were not built"
    assert "nngraph/backend/cuda/kernels.cu" in names  # NVRTC compiles it on the GPU machine

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv, cwd=tmp_path)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    see_our_site_packages(python, tmp_path)
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel, cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(REPO / "specs" / "xor.nn", elsewhere / "xor.nn")
    checked = run(bin_dir / "nngraph", "check", "xor.nn", cwd=elsewhere)
    assert checked.stdout == "xor.nn: ok: model xor: 3 units, 2 connections, 17 parameters\n"
    assert "Exit codes:" in run(python, "-m", "nngraph", "--help", cwd=elsewhere).stdout  # the app ships too

    where = run(python, "-c", "import nngraph; print(nngraph.__file__)", cwd=elsewhere).stdout.strip()
    assert Path(where).is_relative_to(venv), f"the venv imported nngraph from {where}, not from the wheel"
    kernels = run(python, "-m", "nngraph.backend", cwd=elsewhere).stdout
    assert kernels.startswith("compiled CPU kernels: ") and " off" not in kernels.splitlines()[0], kernels
