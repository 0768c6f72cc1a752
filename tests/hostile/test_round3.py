"""Hostile and careless input, round 3: data that lies about its values, outputs that would overwrite inputs or
devices, targets that do not fit the model, through the real command (see test_cli.py for its helpers)."""

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.files import in_time
from tests.hostile.test_cli import assert_refused, nngraph, write

SOFTMAX = "model m { input x[2]; layer h[4] tanh; output y[2] softmax; x -> h -> y }\n"


def train_on(folder, data: str, model: str = SOFTMAX, loss: str = "cross_entropy(y)"):
    spec = write(folder, "s.nn", model + f"train {{ model m; data {data}; loss {loss}; optimizer sgd(lr=0.5); "
                                          "batch 4; epochs 1 }\n")
    return nngraph("train", spec.name, "--out", "r", cwd=folder, timeout=60)


WARNING_INSIDE = """
import warnings
from nngraph.cli.training import _checkpoint_warnings
from nngraph.train.provenance import CheckpointWarning
with _checkpoint_warnings():
    warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
    warnings.warn("trained with other settings", CheckpointWarning, stacklevel=1)
"""


def test_a_warning_while_a_command_runs_is_shown_once_not_recorded_forever():
    # every warning but a checkpoint's was shown inside catch_warnings(record=True), which recorded it again:
    # `train` on data whose float32 cast overflowed looped until the memory ran out. In a process of its own, as
    # a command runs: pytest's warnings plugin records a test's warnings itself.
    import subprocess
    import sys
    done = in_time(lambda: subprocess.run([sys.executable, "-c", WARNING_INSIDE], capture_output=True, text=True,
                                          timeout=60, check=False), seconds=60)
    err = done.stderr
    assert done.returncode == 0, err
    assert err.count("RuntimeWarning: overflow encountered in cast") == 1
    assert err.endswith("warning: trained with other settings\n")


def test_values_too_large_for_float32_are_refused_at_their_example(tmp_path):
    np.savez(tmp_path / "big.npz", x=np.full((8, 2), 1e300), y=np.arange(8) % 2)
    run = train_on(tmp_path, 'npz("big.npz")')
    assert_refused(run, "s.nn:2:23", "(array 'x') hold 1e+300 at example 0, column 0, beyond float32's range",
                   "--dtype float64", seconds=10)
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xor")
    write(folder, "s.nn", SOFTMAX + "train { model m; data xor; loss cross_entropy(y); optimizer sgd(lr=0.5); "
                                    "batch 4; epochs 1 }\n")
    write(folder, "rbm.nn", "model r { visible v[9] bernoulli; hidden h[4] bernoulli; v <-> h }\n"
                            "train { model r; data bars(size=3); method cd(k=1); batch 16; epochs 1 }\n")
    for spec, run in (("s.nn", "run"), ("rbm.nn", "rbm_run")):
        done = nngraph("train", spec, "--out", run, cwd=folder)
        assert done.code == 0, done.output
    np.save(folder / "x.npy", np.zeros((3, 2), np.float32))
    np.save(folder / "mask.npy", np.arange(9) < 4)
    (folder / "link.nn").symlink_to("s.nn")
    return folder


@pytest.mark.parametrize("output, what", [("s.nn", "the spec"), ("link.nn", "the spec"),
                                          ("run/checkpoint.npz", "the checkpoint"), ("x.npy", "the --input file")])
def test_predict_never_writes_over_what_it_reads(xor_run, output, what):
    before = {name: (xor_run / name).read_bytes() for name in ("s.nn", "run/checkpoint.npz", "x.npy")}
    run = nngraph("predict", "s.nn", "--checkpoint", "run/checkpoint.npz", "--input", "x.npy", "-o", output,
                  cwd=xor_run)
    assert_refused(run, f"{output} is {what}; the output goes to a new file", seconds=10)
    assert before == {name: (xor_run / name).read_bytes() for name in before}


def test_sample_never_writes_its_npy_over_the_fill_mask(xor_run):
    before = (xor_run / "mask.npy").read_bytes()
    run = nngraph("sample", "rbm.nn", "--checkpoint", "rbm_run/checkpoint.npz", "--fill", "mask.npy",
                  "-o", "mask.npy", cwd=xor_run)
    assert_refused(run, "mask.npy is the --fill mask", seconds=10)
    assert (xor_run / "mask.npy").read_bytes() == before


def test_an_output_that_is_a_fifo_is_refused_not_replaced(xor_run, tmp_path):
    # the atomic write's rename replaced whatever was there: as root, `-o /dev/null` turned /dev/null into a file
    os.mkfifo(tmp_path / "out.npy")
    run = nngraph("predict", "s.nn", "--checkpoint", "run/checkpoint.npz", "--input", "x.npy",
                  "-o", tmp_path / "out.npy", cwd=xor_run)
    assert_refused(run, "out.npy: it is a FIFO, not a file", seconds=10)
    assert stat.S_ISFIFO((tmp_path / "out.npy").stat().st_mode)


# ---- targets that do not fit the loss that reads them --------------------------------------------------


X = np.random.default_rng(0).random((8, 2))
TARGETS = {
    "a label past the classes": ({"y": np.arange(8) % 6}, "has class label 5, but y[2] tells 2 classes apart"),
    "a label of 10**12": ({"y": (np.arange(8) % 2) * 10**12}, "has class label 1000000000000, but y[2]"),
    "float labels": ({"y": (np.arange(8) % 2).astype(float)},  # (a column of floats: no labels for y[2])
                     "gives one number per example, but cross_entropy(y) compares 'y' [2] with one class label or "
                     "probability rows of shape [2]"),
    "rows of the wrong width": ({"y": np.zeros((8, 5))},
                                "gives targets of shape [5] per example, but cross_entropy(y)"),
    # as many values as y[2] in another shape: 'ValueError: Output array is the wrong shape' (found by fuzzing)
    "the unit's values in another shape": ({"y": np.zeros((8, 1, 2))}, "gives targets of shape [1, 2] per example, "
                                                                       "but cross_entropy(y) compares 'y' [2]"),
    "no targets": ({}, "has no targets, but cross_entropy(y) compares y with them"),
}


@pytest.mark.parametrize("case", TARGETS)
def test_targets_that_the_loss_cannot_read_are_refused_at_the_data(tmp_path, case):
    # were IndexError / KeyError / broadcast errors inside a step (exit 70), or trained on nonsense (float labels)
    arrays, message = TARGETS[case]
    np.savez(tmp_path / "d.npz", x=X, **arrays)
    assert_refused(train_on(tmp_path, 'npz("d.npz")'), "s.nn:2:18: error: data 'npz' " + message, seconds=10)
    assert not (tmp_path / "r").exists()


def test_a_single_sigmoid_unit_takes_labels_0_and_1_only(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=np.arange(8) % 3)
    one = "model m { input x[2]; output y[1] sigmoid; x -> y }\n"
    assert_refused(train_on(tmp_path, 'npz("d.npz")', one, "bce(y)"), "class label 2, but y[1] tells 2 classes",
                   seconds=10)


# ---- predict's inputs -------------------------------------------------------------------------------------


def test_predict_refuses_inputs_with_no_examples_or_with_nan(xor_run, tmp_path):
    # an empty array was an internal error (a reshape); NaN rows became NaN predictions, exit 0
    np.save(tmp_path / "empty.npy", np.zeros((0, 2), np.float32))
    np.save(tmp_path / "nan.npy", np.array([[0, 1], [1, np.nan]], np.float32))
    for name, message in (("empty.npy", "empty.npy holds no examples (shape [0, 2])"),
                          ("nan.npy", "the examples of --input " + str(tmp_path / "nan.npy") +
                           " hold NaN at example 1, column 1")):
        run = nngraph("predict", "s.nn", "--checkpoint", "run/checkpoint.npz", "--input", tmp_path / name,
                      "-o", tmp_path / "out.npy", cwd=xor_run)
        assert_refused(run, message, seconds=10)
    assert not (tmp_path / "out.npy").exists()


# ---- a run folder that holds something else than a run's files ------------------------------------------


def resumable(xor_run, tmp_path, replace_metrics) -> Path:
    folder = tmp_path / "resumed"
    shutil.copytree(xor_run / "run", folder)
    (folder / "metrics.jsonl").unlink()
    replace_metrics(folder / "metrics.jsonl")
    return folder


def test_resume_refuses_a_metrics_log_that_is_a_fifo_or_a_folder(xor_run, tmp_path):
    # a FIFO blocked the resumed run forever (open for writing waits for a reader); a folder was exit 70
    for make, kind in ((os.mkfifo, "it is a FIFO, not a file"), (os.mkdir, "it is a folder")):
        folder = resumable(xor_run, tmp_path, make)
        run = nngraph("train", xor_run / "s.nn", "--resume", folder, "--set", "epochs=2", cwd=tmp_path, timeout=30)
        assert_refused(run, f"cannot write {folder / 'metrics.jsonl'}: {kind}", seconds=10)
        shutil.rmtree(folder)


def test_resume_replaces_a_metrics_log_that_links_elsewhere_leaving_the_target_whole(xor_run, tmp_path):
    victim = write(tmp_path, "victim.nn", "# a spec the run folder's metrics.jsonl links to\n")
    folder = resumable(xor_run, tmp_path, lambda path: path.symlink_to(victim))
    run = nngraph("train", xor_run / "s.nn", "--resume", folder, "--set", "epochs=2", cwd=tmp_path)
    assert run.code == 0, run.output
    assert victim.read_text() == "# a spec the run folder's metrics.jsonl links to\n"
    assert not (folder / "metrics.jsonl").is_symlink() and (folder / "metrics.jsonl").read_text().count("\n") == 2


def test_predict_never_writes_over_the_data_the_run_trained_on(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=np.arange(8) % 2)
    assert train_on(tmp_path, 'npz("d.npz")').code == 0
    np.save(tmp_path / "x.npy", X)
    before = (tmp_path / "d.npz").read_bytes()
    run = nngraph("predict", "s.nn", "--checkpoint", "r/checkpoint.npz", "--input", "x.npy", "-o", "d.npz",
                  cwd=tmp_path)
    assert_refused(run, "d.npz is the training data (d.npz); the output goes to a new file", seconds=10)
    assert (tmp_path / "d.npz").read_bytes() == before


def test_generated_text_goes_to_a_text_file_only(tmp_path):
    # `sample -o out.png` of a character model wrote 200 characters into out.png
    from nngraph.errors import ValidationError
    from nngraph.viz.samples import write_text

    with pytest.raises(ValidationError, match="cannot write generated text as '.png': expected a file ending in .txt"):
        write_text("abc", tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
    assert write_text("abc", tmp_path / "out.txt") == f"wrote 3 characters to {tmp_path / 'out.txt'}"


# ---- the Python API, used carelessly -------------------------------------------------------------------------


def test_the_api_takes_one_string_where_it_takes_a_list_of_them(tmp_path):
    # `overrides="epochs=3"` was read character by character: "--set expects a setting, got '='"
    import nngraph

    spec = write(tmp_path, "s.nn", SOFTMAX + "train { model m; data xor; loss cross_entropy(y); "
                                             "optimizer sgd(lr=0.5); batch 4; epochs 1 }\n")
    assert nngraph.load(spec, overrides="epochs=3").train().epochs == 3
    with pytest.raises(TypeError, match=r"overrides must be strings, like \['epochs=5'\]; got \[3\]"):
        nngraph.load(spec, overrides=[3])


def test_the_api_refuses_what_it_cannot_take_with_a_message_that_says_so(tmp_path):
    import nngraph

    with pytest.raises(TypeError, match="fit takes a checked spec .* not str"):
        nngraph.fit("s.nn")
    with pytest.raises(ValueError, match="loads: fmt must be 'nn' or 'yaml', not 'json'"):
        nngraph.loads("model m { input x[2] }", fmt="json")  # was read as .nn
    with pytest.raises(TypeError, match="loads takes the spec's text as a str, not bytes"):
        nngraph.loads(b"model m { input x[2] }")


def test_a_train_block_name_where_none_has_a_name_gets_a_hint_that_says_so(xor_run):
    run = nngraph("train", "s.nn", "--train", "nosuch", "--out", "r2", cwd=xor_run)
    assert_refused(run, "no train block named 'nosuch'", "hint: there are none to choose from", seconds=10)


# ---- a checkpoint whose metadata was edited --------------------------------------------------------------------


def with_meta(checkpoint: Path, target: Path, **changes) -> Path:
    """A copy of `checkpoint` with some of its metadata replaced (the arrays kept)."""
    with np.load(checkpoint, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = {**json.loads(arrays["__meta__"].tobytes()), **changes}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with zipfile.ZipFile(target, "w") as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", "w") as out:
                np.lib.format.write_array(out, array)
    return target


META = {"an epoch that is text": ({"epoch": "x"}, "has a corrupt 'epoch' ('x'; its history records 1 epoch)"),
        "a negative epoch": ({"epoch": -5}, "has a corrupt 'epoch' (-5; its history records 1 epoch)"),
        "an epoch past the history": ({"epoch": 10**30}, "has a corrupt 'epoch' (1000000000000000000000000000000;"),
        "a history that is text": ({"history": "x"}, "has a corrupt 'history' (expected records of epochs)"),
        "a newer format": ({"format": 2, "nngraph": "9.0"},
                           "is of format 2, written by nngraph 9.0; this nngraph (0.1.0) reads format 1")}


@pytest.mark.parametrize("case", META)
def test_resume_refuses_edited_metadata_before_the_run_folder_changes(xor_run, tmp_path, case):
    # the first, fifth and history cases were exit 70; -5 and 10**30 resumed with negative epoch counts
    changes, message = META[case]
    folder = tmp_path / "resumed"
    shutil.copytree(xor_run / "run", folder)
    with_meta(xor_run / "run" / "checkpoint.npz", folder / "checkpoint.npz", **changes)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    run = nngraph("train", xor_run / "s.nn", "--resume", folder, "--set", "epochs=3", cwd=tmp_path)
    assert_refused(run, f"checkpoint {folder / 'checkpoint.npz'} " + message, seconds=10)
    assert before == {p.name: p.read_bytes() for p in folder.iterdir()}


SEQUENCES = {
    "targets of fewer steps": ({"y": np.zeros((8, 4, 1))}, "gives targets of shape [4, 1] per example, but mse(y) "
                                                           "compares 'y' [1] at each of 5 steps"),
    # integers (8, 5) beside 5 steps are per-step labels (section 8; tests/recurrent/test_step_labels_from_a_file.py)
    "integer targets of another step count": ({"y": np.zeros((8, 4), np.int64)},
                                              "gives targets of shape [4] per example, but mse(y) "
                                              "compares 'y' [1]"),
    "no targets": ({}, "has no targets, but mse(y) compares y with them"),
}


@pytest.mark.parametrize("case", SEQUENCES)
def test_a_recurrent_models_targets_that_do_not_fit_are_refused_at_the_data(tmp_path, case):
    # a broadcast, a reshape and a KeyError inside the first step (exit 70)
    arrays, message = SEQUENCES[case]
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 5, 1)), **arrays)
    elman = "model m { input x[1] sequence; layer h[4] tanh; output y[1] identity; x -> h; h -> h delay 1; h -> y }\n"
    assert_refused(train_on(tmp_path, 'npz("d.npz")', elman, "mse(y)"), "data 'npz' " + message, seconds=10)


def test_a_missing_file_named_on_the_command_line_with_lookalike_characters_names_them(xor_run):
    run = nngraph("predict", "s.nn", "--checkpoint", "run/checkpoint.npz", "--input", "\u0445.npy", "-o", "y.npy",
                  cwd=xor_run)
    assert_refused(run, "no such file: \u0445.npy", "'\u0445' (CYRILLIC SMALL LETTER HA) at 1", seconds=10)


def test_sample_refuses_inputs_to_fill_beyond_the_runs_float_type(xor_run, tmp_path):
    # 1e40 became inf in float32, and the fill-in's scores NaN under a RuntimeWarning (found by fuzzing --input)
    x = np.ones((3, 9))
    x[1, 4] = 1e40
    np.save(tmp_path / "big.npy", x)
    run = nngraph("sample", "rbm.nn", "--checkpoint", "rbm_run/checkpoint.npz", "--fill", "top", "--input",
                  tmp_path / "big.npy", "-o", tmp_path / "f.png", "--steps", "2", cwd=xor_run)
    assert_refused(run, "big.npy holds 1e+40 at example 1, position [4], beyond float32's range", seconds=10)
    assert "Warning" not in run.output
