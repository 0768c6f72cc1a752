"""Every command that writes treats a bad output path alike: exit 1 and a message naming the path, no internal
error, nothing half-written; missing folders are created; `sample` writes beside its checkpoint by default."""

import os
from pathlib import Path

import numpy as np
import pytest

from .helpers import SPECS, run_cli, write

PROC = Path("/proc")  # a folder in which nothing can be created, even by root


@pytest.fixture(scope="module")
def rbm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rbm") / "run"
    result = run_cli("train", SPECS / "rbm_bars.nn", "--out", out, "-q", "--set", "epochs=2")
    assert result.code == 0, result.both
    return out


def writers(rbm_run, tmp_path):
    """Each command that writes a file, as a function of the path it is told to write."""
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 9), np.float32))
    checkpoint = rbm_run / "checkpoint.npz"
    spec = SPECS / "rbm_bars.nn"
    return {
        "viz svg": lambda path: ("viz", spec, "-o", path.with_suffix(".svg")),
        "viz png": lambda path: ("viz", spec, "-o", path.with_suffix(".png")),
        "viz dot": lambda path: ("viz", spec, "-o", path.with_suffix(".dot")),
        "convert": lambda path: ("convert", spec, "-o", path.with_suffix(".yaml")),
        "predict": lambda path: ("predict", spec, "--checkpoint", checkpoint, "--input", x, "-o",
                                 path.with_suffix(".npy")),
        "sample png": lambda path: ("sample", spec, "--checkpoint", checkpoint, "--steps", 2, "-o",
                                    path.with_suffix(".png")),
        "sample npy": lambda path: ("sample", spec, "--checkpoint", checkpoint, "--steps", 2, "-o",
                                    path.with_suffix(".npy")),
        "train": lambda path: ("train", SPECS / "xor.nn", "-q", "--set", "epochs=2", "--out", path),
    }


COMMANDS = ["viz svg", "viz png", "viz dot", "convert", "predict", "sample png", "sample npy", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_in_the_way_is_a_plain_error(rbm_run, tmp_path, command):
    blocker = write(tmp_path, "blocker", "precious")
    result = run_cli(*writers(rbm_run, tmp_path)[command](blocker / "sub" / "out"))
    assert result.code == 1, result.both
    assert f"{blocker} is a file" in result.err and "internal error" not in result.err
    assert blocker.read_text() == "precious"


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_folders_are_created(rbm_run, tmp_path, command):
    result = run_cli(*writers(rbm_run, tmp_path)[command](tmp_path / "new" / "deeper" / "out"))
    assert result.code == 0, result.both
    assert list((tmp_path / "new" / "deeper").iterdir())


@pytest.mark.skipif(not PROC.is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_that_cannot_be_written_is_a_plain_error(rbm_run, tmp_path, command):
    result = run_cli(*writers(rbm_run, tmp_path)[command](PROC / "out"))
    assert result.code == 1, result.both
    assert "internal error" not in result.err and "/proc" in result.err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_a_plain_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_cli("viz", SPECS / "xor.nn", "-o", folder / "x.svg")
    finally:
        folder.chmod(0o755)
    assert result.code == 1 and "permission denied" in result.err


@pytest.mark.parametrize("command", ["viz svg", "sample png", "predict"])
def test_a_folder_where_the_file_should_be_is_a_plain_error(rbm_run, tmp_path, command):
    target = writers(rbm_run, tmp_path)[command](tmp_path / "out")[-1]
    target.mkdir()
    result = run_cli(*writers(rbm_run, tmp_path)[command](tmp_path / "out"))
    assert result.code == 1 and f"cannot write {target}: it is a folder" in result.err


def test_sample_writes_into_the_run_folder_by_default(rbm_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("sample", SPECS / "rbm_bars.nn", "--checkpoint", rbm_run / "checkpoint.npz", "--steps", 2)
    assert result.code == 0, result.both
    assert list(tmp_path.iterdir()) == []
    assert (rbm_run / "samples.png").is_file() and (rbm_run / "samples_filters.png").is_file()
    assert f"to {rbm_run / 'samples.png'}" in result.out


def test_sample_messages_count_in_the_singular_too(rbm_run, tmp_path):
    result = run_cli("sample", SPECS / "rbm_bars.nn", "--checkpoint", rbm_run / "checkpoint.npz", "-n", 1,
                     "--steps", 1, "-o", tmp_path / "one.npy")
    assert result.out == (f"wrote 1 free-running sample (1 Gibbs sweep; states of the last sweep) to "
                          f"{tmp_path / 'one.npy'}\n"), result.both
