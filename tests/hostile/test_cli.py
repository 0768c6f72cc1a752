"""Hostile and broken input through the real command, as a user (or an attacker) runs it.

Every case must end with exit 1 and a message naming the file (and the position where one exists): no
traceback, no "internal error", no hang. `check` must also stay under 5 s and within 1 GiB of address
space: the processes run under that limit (ulimit -v), so an input that makes nngraph allocate more dies
as a MemoryError instead of passing.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.files import lying_npy, zip_bomb

GIB = 1 << 30
MODEL = "model m { input x[2]; layer h[4] tanh; output y[1] sigmoid; x -> h -> y }\n"
TRAIN = "train { model m; data xor; loss bce(y); optimizer sgd(lr=0.5); batch 4; epochs 2 }\n"


@dataclass
class Run:
    code: int
    output: str
    seconds: float


def nngraph(*args, cwd: Path, memory: int = GIB, timeout: float = 60) -> Run:
    """`nngraph ARGS` in a fresh process limited to `memory` bytes of address space."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = _children_cpu_seconds()
    done = subprocess.run([sys.executable, "-m", "nngraph.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit, check=False)
    return Run(done.returncode, done.stdout + done.stderr, _children_cpu_seconds() - start)


def _children_cpu_seconds() -> float:
    """CPU time of the finished child processes: what a refusal costs, whatever else runs on the machine (wall
    time under a load average of 6 measured 6.6 s for a 2 s refusal)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def assert_refused(run: Run, *fragments: str, seconds: float = 5) -> None:
    assert run.code == 1, run.output[-3000:]
    assert "Traceback" not in run.output and "internal error" not in run.output, run.output[-3000:]
    assert len(run.output) < 20_000, f"{len(run.output)} characters of output"
    for fragment in fragments:
        assert fragment in run.output, run.output[-3000:]
    assert run.seconds < seconds, f"{run.seconds:.1f} s"


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


# ---- nngraph check ----------------------------------------------------------------------------------


def lr(value: str) -> str:
    return MODEL + "train { model m; data xor; loss bce(y); optimizer sgd(lr=" + value + ") }\n"


def nested_blocks(levels: int) -> str:
    lines = ["block b0() { layer a[2] }"]
    lines += [f"block b{i}() {{ use p = b{i - 1}(); use q = b{i - 1}(); p -> q }}" for i in range(1, levels)]
    return "\n".join(lines) + f"\nmodel m {{ input x[2]; use s = b{levels - 1}(); output y[1]; x -> s -> y }}\n"


CHECK_CASES = {
    "long chain": (lr("0.5" + "+0" * 120_000), "chain.nn:2:", "chains more than 100 operators"),
    "deep negation": (lr("- " * 100_000 + "1"), "chain.nn:2:", "chains more than 100 operators"),
    "a megabyte on one line": (lr("0.5" + "+0" * 500_000), "chain.nn", "specs are limited to 262,144"),
    "nested repeats": (("block b(n) { layer a[2] repeat=n }\nblock c() { use i = b(10000) repeat=10000 }\n"
                        "model m { input x[2]; use s = c(); output y[1]; x -> s -> y }\n"),
                       "chain.nn:3:23", "would expand to 100,000,001 units"),
    "sixteen levels of blocks": (nested_blocks(16), "chain.nn:17:23", "would expand to 32,769 units"),
    "a block using itself": (("block b() { layer a[2]; use p = b(); use q = b() }\n"
                              "model m { input x[2]; use s = b(); x -> s }\n"), "chain.nn:1:25", "nested more than 16"),
    "infinity": (lr("1e999"), "chain.nn:2:58", "too large (it overflows to infinity)"),
    "overflowing arithmetic": (lr("1e300*1e300"), "chain.nn:2:58", "'*' overflows"),
    "a huge model": ("model big { input x[100000]; layer h[100000]; output y[1]; x -> h -> y }\n",
                     "chain.nn:1:7", "model 'big' needs about 149.0 GiB"),
}


@pytest.mark.parametrize("case", CHECK_CASES)
def test_check_refuses_hostile_specs_quickly_and_within_a_gibibyte(tmp_path, case):
    text, where, message = CHECK_CASES[case]
    write(tmp_path, "chain.nn", text)
    assert_refused(nngraph("check", "chain.nn", cwd=tmp_path), where, message)


def test_check_of_a_spec_with_brackets_in_a_comment_passes(tmp_path):
    write(tmp_path, "ok.nn", "# (((((" + "(" * 100 + "\n" + MODEL + TRAIN)
    run = nngraph("check", "ok.nn", cwd=tmp_path)
    assert run.code == 0 and "ok: model m" in run.output, run.output


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_check_of_a_device_is_refused_unread(tmp_path, device):
    assert_refused(nngraph("check", device, cwd=tmp_path), f"{device} is a device")
    (tmp_path / "spec.nn").symlink_to(device)
    assert_refused(nngraph("check", "spec.nn", cwd=tmp_path), "spec.nn is a device")


def test_check_of_a_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "x.nn")
    assert_refused(nngraph("check", "x.nn", cwd=tmp_path, timeout=20), "x.nn is a FIFO")


def test_set_with_hostile_values_is_refused(tmp_path):
    write(tmp_path, "s.nn", MODEL + TRAIN)
    assert_refused(nngraph("train", "s.nn", "--set", "lr=0.5" + "+0" * 50_000, "--out", "r", cwd=tmp_path),
                   "<--set>:1:", "chains more than 100 operators")
    assert_refused(nngraph("train", "s.nn", "--set", "lr=1e999", "--out", "r", cwd=tmp_path),
                   "<--set>:1:", "too large")
    assert not (tmp_path / "r").exists()


# ---- files named by the spec or the command line ----------------------------------------------------------


def test_train_refuses_data_files_that_lie_or_never_end(tmp_path):
    lying_npy(tmp_path / "tera.npy")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    for data, fragment in (('npy("tera.npy")', "its header describes 3.6 TiB"),
                           ('text("zero.txt")', "zero.txt is a device")):
        spec = write(tmp_path, "s.nn", MODEL + TRAIN.replace("data xor", f"data {data}"))
        assert_refused(nngraph("train", spec.name, "--out", "r", cwd=tmp_path), "s.nn:2:", fragment,
                       seconds=30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished xor run and a small RBM run, trained once for the tests below."""
    folder = tmp_path_factory.mktemp("trained")
    write(folder, "s.nn", MODEL + TRAIN)
    write(folder, "rbm.nn", "model r { visible v[9] bernoulli; hidden h[4] bernoulli; v <-> h }\n"
                            "train { model r; data bars(size=3); method cd(k=1); batch 16; epochs 1 }\n")
    for spec, run in (("s.nn", "run"), ("rbm.nn", "rbm_run")):
        done = nngraph("train", spec, "--out", run, cwd=folder, memory=4 * GIB)
        assert done.code == 0, done.output
    return folder


def rewritten(checkpoint: Path, target: Path, **replace) -> Path:
    """A copy of `checkpoint` with some arrays replaced (the metadata, and so the spec hash, kept)."""
    with np.load(checkpoint, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(replace)
    with zipfile.ZipFile(target, "w") as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", "w") as out:
                np.lib.format.write_array(out, array)
    return target


def test_predict_and_sample_refuse_inputs_and_masks_that_lie(trained, tmp_path):
    lying_npy(tmp_path / "tera.npy")
    run = nngraph("predict", trained / "s.nn", "--checkpoint", trained / "run" / "checkpoint.npz",
                  "--input", tmp_path / "tera.npy", "-o", tmp_path / "out.npy", cwd=tmp_path)
    assert_refused(run, "--input: ", "tera.npy is truncated or corrupt: its header describes 3.6 TiB", seconds=30)
    run = nngraph("sample", trained / "rbm.nn", "--checkpoint", trained / "rbm_run" / "checkpoint.npz",
                  "--fill", tmp_path / "tera.npy", "-o", tmp_path / "fill.png", cwd=tmp_path)
    assert_refused(run, "--fill: ", "its header describes 3.6 TiB", seconds=30)
    assert not (tmp_path / "out.npy").exists() and not (tmp_path / "fill.png").exists()


WRONG = "array 'params.x->h.weight' has shape [3, 4], but this model's is [2, 4]"


def test_a_checkpoint_of_the_wrong_shapes_is_named_on_every_path_that_loads_one(trained, tmp_path):
    bad = rewritten(trained / "run" / "checkpoint.npz", tmp_path / "bad.npz",
                    **{"params.x->h.weight": np.zeros((3, 4), np.float32)})
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.float32))
    spec = trained / "s.nn"
    commands = {
        "eval": ("eval", spec, "--checkpoint", bad),
        "predict": ("predict", spec, "--checkpoint", bad, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"),
        "sample": ("sample", spec, "--checkpoint", bad, "-o", tmp_path / "s.png"),
    }
    for command in commands.values():
        assert_refused(nngraph(*command, cwd=tmp_path), f"checkpoint {bad}: {WRONG}", seconds=30)
    shutil.copytree(trained / "run", tmp_path / "resumed")
    shutil.copy(bad, tmp_path / "resumed" / "checkpoint.npz")
    write(tmp_path, "s.nn", (trained / "s.nn").read_text().replace("epochs 2", "epochs 4"))
    run = nngraph("train", spec, "--resume", tmp_path / "resumed", "--set", "epochs=4", cwd=tmp_path)
    assert_refused(run, WRONG, seconds=30)


def test_a_zip_bomb_checkpoint_is_refused_before_it_is_inflated(trained, tmp_path):
    with np.load(trained / "run" / "checkpoint.npz", allow_pickle=False) as archive:
        meta = archive["__meta__"]
    assert json.loads(meta.tobytes())["spec_hash"]
    # 256 MiB of zeros (tests/train/test_checkpoint.py shows in-process that nothing near it is allocated)
    bomb = zip_bomb(tmp_path / "bomb.npz", 256, name="params.h.bias", extra={"__meta__": meta})
    assert bomb.stat().st_size < 1 << 20
    run = nngraph("eval", trained / "s.nn", "--checkpoint", bomb, cwd=tmp_path, memory=GIB // 2)
    assert_refused(run, "array 'params.h.bias' has shape [67108864], but this model's is [4]", seconds=30)


def test_train_refuses_a_model_that_would_not_fit_before_allocating(tmp_path):
    # 49M parameters: `check` used to count 16 bytes each against the free physical memory, ignoring the
    # process's limit; adam's real peak (~1.2 GiB) does not fit in 1 GiB
    write(tmp_path, "big.nn", "model big { input x[7000]; layer h[7000] tanh; output y[1]; x -> h -> y }\n"
                              "train { model big; data xor; loss mse(y); optimizer adam }\n")
    for command in (("check", "big.nn"), ("train", "big.nn", "--out", "r")):
        run = nngraph(*command, cwd=tmp_path)
        assert_refused(run, "big.nn:1:7: error: training model 'big' needs about", "adam state", "available",
                       seconds=30)
    assert not (tmp_path / "r").exists()
