"""Hostile and careless input, round 4: evaluation that held a whole split's outputs, counts with no bound,
options that overflow the run's float type, --overwrite over an input, constructs that do nothing (see
test_cli.py for how the real command is run)."""

import numpy as np
import pytest

import nngraph
from nngraph.data.dataset import Dataset
from nngraph.graph.memory import training_memory
from nngraph.session import prepare
from tests.hostile.files import Peak
from tests.hostile.test_cli import assert_refused, nngraph as run_nngraph, write

TRAIN = "train { model m; data xor; loss %s; optimizer sgd(lr=0.1); batch 4; epochs 1 }\n"
RNG = np.random.default_rng(0)


def method_of(model: str, loss: str):
    return prepare(nngraph.loads(model + TRAIN % loss)).method


def test_evaluation_of_a_large_split_keeps_one_chunk_of_outputs_not_all_of_them():
    # a 5,000-class csv's final evaluation took 21.8 GB: every example's output was kept to the end
    method = method_of("model m { input x[2]; output y[1000] softmax; x -> y }\n", "cross_entropy(y)")
    data = Dataset(RNG.normal(size=(40000, 2)).astype(np.float32), RNG.integers(0, 1000, 40000), "classification",
                   n_classes=1000)
    with Peak() as peak:
        method.evaluate(data)
    whole = 40000 * 1000 * 4  # 153 MiB of outputs (the peak was over 300 MiB; a chunk's passes take ~40 MiB)
    assert peak.bytes < whole / 3, peak.bytes


def whole_split_figures(method, data: Dataset) -> dict:
    """The figures from every example's output at once: what evaluation measured before it went by chunks."""
    out = method.predict(data.x).astype(np.float64)
    if data.task == "classification":
        p = out[np.arange(len(out)), data.y]
        return {"loss": -np.log(p).mean(), "accuracy": (out.argmax(axis=1) == data.y).mean()}
    if method.labels:
        right = (out > 0.5) == (data.y > 0.5)
        bce = -(data.y * np.log(out) + (1 - data.y) * np.log(1 - out)).mean(axis=1).mean()
        return {"loss": bce, "label_accuracy": right.mean(), "exact_match": right.all(axis=1).mean(),
                "label_accuracies": list(right.mean(axis=0))}
    return {"loss": ((out - data.y) ** 2).mean(), "mse": ((out - data.y) ** 2).mean()}


CASES = {
    "classes": ("model m { input x[2]; output y[7] softmax; x -> y }\n", "cross_entropy(y)",
                lambda n: (RNG.integers(0, 7, n), "classification")),
    "regression": ("model m { input x[2]; output y[3] identity; x -> y }\n", "mse(y)",
                   lambda n: (RNG.normal(size=(n, 3)).astype(np.float32), "regression")),
    "labels": ("model m { input x[2]; output y[3] sigmoid; x -> y }\n", "bce(y)",
               lambda n: ((RNG.random((n, 3)) > 0.5).astype(np.float32), "regression")),
}


@pytest.mark.parametrize("case", CASES)
def test_evaluation_by_chunks_gives_the_figures_of_the_whole_split(case):
    model, loss, targets = CASES[case]
    method = method_of(model, loss)
    n = 5000  # chunks of 2048, 2048 and 904
    y, task = targets(n)
    data = Dataset(RNG.normal(size=(n, 2)).astype(np.float32), y, task, n_classes=7 if task == "classification"
                   else None)
    method.check_data(data, None)
    figures = {**method.evaluate(data), **method.evaluation_details(data)}
    expected = whole_split_figures(method, data)
    assert figures.keys() == expected.keys()
    for name, value in expected.items():
        assert figures[name] == pytest.approx(value, rel=1e-5), name


def test_the_memory_estimate_counts_the_final_evaluation_without_validation_or_test_splits():
    # the training split is evaluated after every run: its chunk of 2048 forward passes was counted only where a
    # validation or test split was asked for
    checked = nngraph.loads("model m { input x[2]; layer h[20000] tanh; output y[1]; x -> h -> y }\n"
                            + TRAIN % "mse(y)")
    estimate = training_memory(checked.models, checked.trains[0])
    assert estimate.evaluation_rows == 2048
    assert estimate.evaluation >= 2048 * 20000 * 4
    assert estimate.peak >= estimate.parameters + estimate.gradients + estimate.evaluation
    assert "evaluation of 2048 examples at a time" in estimate.describe()


# ---- counts with no upper bound -------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--length", "--steps"])
def test_sample_refuses_a_huge_count_before_it_loads_anything(tmp_path, option):
    # `--length 1000000000` generated characters one forward step each (~0.5 ms: days); `--steps` likewise
    run = run_nngraph("sample", "nothing.nn", "--checkpoint", "nothing.npz", option, "1000000000", cwd=tmp_path)
    assert run.code == 2, run.output  # a usage error, as `--count 1000000` was already
    assert f"Invalid value for '{option}': Input should be less than or equal to 100000" in run.output
    assert "Traceback" not in run.output and run.seconds < 5


# ---- numbers beyond the run's float type ---------------------------------------------------------------------


XOR = "model m { input x[2]; layer h[4] tanh; output y[1] sigmoid; x -> h -> y }\n"
SETTINGS = {  # (the train block's text, the number refused); each was an overflow warning, then NaN or inf
    "a data option": ("data xor(binarize=1e308); loss bce(y)", "1e308"),
    "a learning rate": ("data xor; loss bce(y); optimizer sgd(lr=1e39)", "1e39"),
    "a clip norm": ("data xor; loss bce(y); clip 1e300", "1e300"),
    "arithmetic": ("data xor; loss bce(y); optimizer sgd(lr=1e30*1e30)", "1e30*1e30"),
    "a negative one": ("data linear(bias=-1e300); loss bce(y)", "-1e300"),
}


@pytest.mark.parametrize("case", SETTINGS)
def test_a_number_beyond_float32_is_refused_at_its_position(tmp_path, case):
    text, number = SETTINGS[case]
    block = "train { model m; " + text + "; epochs 1 }\n"
    write(tmp_path, "s.nn", XOR + block)
    run = run_nngraph("check", "s.nn", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{block.index(number) + 1}: error: ",
                   "is beyond float32's range (+-3.4e+38), in which the run computes", "`dtype float64`")
    assert "Warning" not in run.output


def test_the_same_number_in_a_float64_run_is_taken(tmp_path):
    write(tmp_path, "s.nn", XOR + "train { model m; data xor(binarize=1e300); loss bce(y); dtype float64 }\n")
    run = run_nngraph("check", "s.nn", cwd=tmp_path)
    assert run.code == 0, run.output


def test_eval_data_given_on_the_command_line_is_judged_in_the_runs_float_type(xor_run):
    run = run_nngraph("eval", "s.nn", "--checkpoint", "run/checkpoint.npz", "--data", "xor(binarize=1e300)",
                      cwd=xor_run)
    assert_refused(run, "<--data>:1:14: error: xor: 1e+300 is beyond float32's range", seconds=10)
    assert "Warning" not in run.output


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xor")
    write(folder, "s.nn", XOR + "train { model m; data xor; loss bce(y); optimizer sgd(lr=0.5); batch 4; epochs 1 }\n")
    assert run_nngraph("train", "s.nn", "--out", "run", cwd=folder).code == 0
    return folder


def test_generated_targets_beyond_float32_are_refused_without_a_warning(tmp_path):
    write(tmp_path, "s.nn", "model m { input x[3]; output y[1] identity; x -> y }\n"
                            "train { model m; data linear(n=16, bias=3e38, noise=1e38); loss mse(y); epochs 1 }\n")
    run = run_nngraph("train", "s.nn", "--out", "r", cwd=tmp_path)
    assert_refused(run, "s.nn:2:23: error: linear: the targets hold", seconds=10)
    assert "Warning" not in run.output


def test_curves_of_a_loss_near_float64s_limit_are_drawn(tmp_path):
    # a float64 run with lr=1e308 reached a loss of 1e306: matplotlib's log axis overflowed (exit 70)
    from nngraph.viz.curves import plot_curves

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for history in ([{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": 1e306}],
                        [{"epoch": 1, "loss": -1e308}, {"epoch": 2, "loss": 1.7e308}]):
            assert plot_curves(history, tmp_path / "c.png").stat().st_size > 0


def test_a_gan_fill_in_prior_beyond_a_million_is_refused():
    from nngraph.errors import DataError
    from nngraph.train.gan import Gan

    for prior in (1e308, float("inf"), -1.0):
        with pytest.raises(DataError, match="the prior term's weight must be a number from 0 to 1e\\+06"):
            Gan.fill_prior(None, {"prior": prior}, bounded=False)
    assert Gan.fill_prior(None, {"prior": 1e6}, bounded=False) == 1e6


# ---- --overwrite never deletes what the run reads ------------------------------------------------------------


@pytest.mark.parametrize("name, what", [("checkpoint.npz", "the training data (checkpoint.npz)"),
                                        ("spec.nn", "the spec")])
def test_overwrite_refuses_to_delete_a_run_file_that_the_run_reads(tmp_path, name, what):
    # `train --overwrite` deleted checkpoint.npz, the training data, before it was read again
    data = "checkpoint.npz" if name == "checkpoint.npz" else "d.npz"
    np.savez(tmp_path / data, x=RNG.random((8, 2)), y=np.arange(8) % 2)
    write(tmp_path, name if name.endswith(".nn") else "s.nn",
          XOR + f'train {{ model m; data npz("{data}"); loss bce(y); epochs 1 }}\n')
    spec = name if name.endswith(".nn") else "s.nn"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    run = run_nngraph("train", spec, "--out", ".", "--overwrite", cwd=tmp_path)
    assert_refused(run, f"error: {name} is {what}; --overwrite would delete it with the run files in .; "
                        "nothing was deleted", "move it out of the run folder", seconds=10)
    assert before == {p.name: p.read_bytes() for p in tmp_path.iterdir()}


# ---- constructs that do nothing ----------------------------------------------------------------------------


def test_check_warns_of_a_layernorm_on_one_value_at_the_unit(tmp_path):
    # its net input less its mean is 0 for every example: the unit's value is its shift's, whatever the inputs
    write(tmp_path, "s.nn", "model m {\n  input x[2]\n  layer h[1] tanh layernorm\n  layer g[2] tanh layernorm\n"
                            "  output y[1] sigmoid\n  x -> h -> g -> y\n}\n")
    run = run_nngraph("check", "s.nn", cwd=tmp_path)
    assert run.code == 0, run.output
    assert ("s.nn:3:3: warning: layernorm on 'h', a unit of one value, makes its value a constant" in run.output)
    assert "hint: remove layernorm from 'h', or give it more values" in run.output
    assert "'g'" not in run.output


# ---- generated data sets too large to make ---------------------------------------------------------------------


@pytest.mark.parametrize("call, option", [("linear(n=1e30)", "1e30"), ("linear(n=10000000000)", "10000000000"),
                                          ("moons(n=1e18)", "1e18"), ("xor(repeat=1e15)", "1e15"),
                                          ("sine(n=1000000000)", "1000000000")])
def test_a_generated_set_too_large_for_memory_is_refused_at_its_option_before_any_draw(tmp_path, call, option):
    # n=1e30: numpy's 'Maximum allowed dimension exceeded' (exit 70); n=1e10: a MemoryError after 2 GB was taken
    model = "model m { input x[2]; output y[1] identity; x -> y }\n"
    line = f"train {{ model m; data {call}; loss mse(y); epochs 1 }}\n"
    write(tmp_path, "s.nn", model + line)
    run = run_nngraph("train", "s.nn", "--out", "r", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{line.index(option) + 1}: error: ", " examples of ", "is available",
                   "generate fewer or smaller examples")
    assert not (tmp_path / "r").exists()


# ---- Ctrl-C while a checkpoint is written -----------------------------------------------------------------------


def test_ctrl_c_twice_during_a_checkpoint_write_leaves_a_whole_checkpoint_and_no_temporary_file(tmp_path):
    # 4M parameters and adam: each checkpoint is ~48 MB, written through a temporary file. The first Ctrl-C asks for
    # a stop (a checkpoint is written then); the second, sent once a temporary file is there, raises inside the write
    import signal
    import subprocess
    import sys
    import time

    from nngraph.train.checkpoint import load_checkpoint

    write(tmp_path, "s.nn", "model m { input x[2]; layer h[2000] tanh; layer g[2000] tanh; output y[1] sigmoid; "
                            "x -> h -> g -> y }\ntrain { model m; data xor(repeat=64); loss bce(y); optimizer adam; "
                            "batch 256; epochs 1000; checkpoint every=1 }\n")
    for attempt in range(3):  # the second Ctrl-C races the write: a run that ended before a temporary file was
        run = tmp_path / f"r{attempt}"  # seen (a fast disk) is tried again
        child = subprocess.Popen([sys.executable, "-m", "nngraph", "train", "s.nn", "--out", run.name, "-q"],
                                 cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (run / "checkpoint.npz").exists():  # the first epoch's checkpoint, whole
                assert child.poll() is None and time.monotonic() < deadline, child.communicate()
                time.sleep(0.01)
            child.send_signal(signal.SIGINT)
            while not any(p.name.endswith(".tmp") for p in run.iterdir()) and child.poll() is None:
                assert time.monotonic() < deadline  # the next checkpoint, under way
                time.sleep(0.001)
            raced = child.poll() is not None
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=60)
        finally:
            child.kill()
        if not raced:
            break
    assert not raced, "the run ended before its second checkpoint's temporary file was seen, three times"
    assert child.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    arrays, meta = load_checkpoint(run / "checkpoint.npz")  # the previous epoch's, or a newer one: whole either way
    assert meta["epoch"] >= 1 and arrays


# ---- a disk that fills up --------------------------------------------------------------------------------------


def test_a_metrics_line_that_cannot_be_written_is_an_output_error_not_a_bug(tmp_path):
    # a file size limit of 8 KiB (EFBIG, as a full disk's ENOSPC) stops the appends to metrics.jsonl: was exit 70
    import resource
    import subprocess
    import sys

    write(tmp_path, "s.nn", XOR + "train { model m; data xor; loss bce(y); epochs 300 }\n")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    done = subprocess.run([sys.executable, "-m", "nngraph", "train", "s.nn", "--out", "r", "-q"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, preexec_fn=limit, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot write r/metrics.jsonl: File too large\n"), done.stderr
    assert "Traceback" not in done.stderr


# ---- two runs, one folder ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [("--overwrite",), ("--resume",)])
def test_a_run_folder_another_run_is_writing_is_refused_and_left_alone(xor_run, tmp_path, how):
    # two `train --out same --overwrite` at once each deleted the other's files: one run's metrics.jsonl (20
    # epochs) ended beside the other's summary.json (25), or one failed with 'summary.json: No such file'
    import fcntl
    import os
    import shutil

    folder = shutil.copytree(xor_run / "run", tmp_path / "same")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    held = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # as the other run's process holds it
        args = ("--out", folder, "--overwrite") if how == ("--overwrite",) else ("--resume", folder)
        run = run_nngraph("train", xor_run / "s.nn", *args, cwd=tmp_path)
    finally:
        os.close(held)
    assert_refused(run, f"error: {folder} is being written by another training run; it is left as it is",
                   "wait for that run to end, or choose another --out", seconds=10)
    assert before == {p.name: p.read_bytes() for p in folder.iterdir()}
    again = run_nngraph("train", xor_run / "s.nn", "--out", folder, "--overwrite", cwd=tmp_path)
    assert again.code == 0, again.output  # the lock went with the process that held it


# ---- --resume after an edit --------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, message", [
    ("adam", "(no slots); adam as set now keeps slots exp_avg, exp_avg_sq"),
    ("sgd(momentum=0.9)", "(no slots); sgd as set now keeps slots momentum")])
def test_resume_with_another_optimizer_says_so_and_leaves_the_folder_alone(xor_run, tmp_path, optimizer, message):
    # was "the checkpoint has no optimizer state 'exp_avg.h.bias'", hint "it was written by another model"
    import shutil

    folder = shutil.copytree(xor_run / "run", tmp_path / "r")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    run = run_nngraph("train", xor_run / "s.nn", "--resume", folder, "--set", "epochs=3", "--set",
                      f"optimizer={optimizer}", cwd=tmp_path)
    assert_refused(run, "error: the checkpoint holds the state of another optimizer " + message,
                   "resume with the optimizer settings the run started with", seconds=10)
    assert before == {p.name: p.read_bytes() for p in folder.iterdir()}


# ---- drawings ----------------------------------------------------------------------------------------------------


def test_a_drawing_too_narrow_for_a_png_is_refused_not_an_internal_error(tmp_path):
    # `viz --expand -o a.png` of 9,990 block copies in one column (114 x 2,337,892 scene units): the picture was
    # scaled to 0 x 12000 pixels, and matplotlib's 'cannot write empty image' was exit 70
    from nngraph.errors import OutputError
    from nngraph.viz.geometry import Scene
    from nngraph.viz.png import scene_to_png

    with pytest.raises(OutputError, match=r"the drawing is 114 x 2,337,892 scene units, and at most 12,000 pixels a "
                                          r"side it would be 0 x 12,000 pixels"):
        scene_to_png(Scene(114.4, 2337892.0), tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
    scene_to_png(Scene(400.0, 30000.0), tmp_path / "b.png")  # narrow, but a pixel wide at least: drawn
    assert (tmp_path / "b.png").stat().st_size > 0


# ---- the Python API, used carelessly ---------------------------------------------------------------------------


def test_the_api_names_an_argument_of_the_wrong_type(xor_run):
    # fit(out=5) was pathlib's TypeError; load(123) 'unknown spec suffix'; program(dtype=None) and
    # fit(backend=None) a TypeError inside difflib (the hint's did-you-mean of None)
    from nngraph.errors import BackendError

    spec = nngraph.load(xor_run / "s.nn")
    refusals = [(lambda: nngraph.load(123), TypeError, "load: path takes the path of a .nn or .yaml spec, not int"),
                (lambda: nngraph.load(None), TypeError, "load: path takes the path of a .nn or .yaml spec, not"),
                (lambda: nngraph.load(xor_run / "s.nn", train=5), TypeError, "load: train takes a train block's"),
                (lambda: nngraph.program(spec, model=3), TypeError, "program: model takes a model's name, not int"),
                (lambda: nngraph.fit(spec, out=5), TypeError, "fit: out takes a folder's path, not int"),
                (lambda: nngraph.fit(spec, resume=[]), TypeError, "fit: resume takes a folder's path, not list"),
                (lambda: nngraph.program(spec, dtype=None), BackendError, "unsupported dtype 'None'"),
                (lambda: nngraph.fit(spec, backend=None), BackendError, "unknown backend 'None'")]
    for call, kind, message in refusals:
        with pytest.raises(kind, match=message.replace("(", r"\(").replace(".", r"\.")):
            call()


# ---- environment variables ---------------------------------------------------------------------------------------


def test_a_kernels_switch_that_is_neither_on_nor_off_is_refused_before_the_run_folder(xor_run, tmp_path, monkeypatch):
    # NNGRAPH_KERNELS=maybe ran the compiled kernels without a word (NNGRAPH_ISA and NNGRAPH_RESIDENT_BYTES
    # already refused what they cannot read)
    monkeypatch.setenv("NNGRAPH_KERNELS", "maybe")
    run = run_nngraph("train", xor_run / "s.nn", "--out", "r", cwd=tmp_path)
    assert_refused(run, "error: NNGRAPH_KERNELS=maybe: expected 0 (the numpy twins) or 1 (the compiled kernels)",
                   seconds=10)
    assert not (tmp_path / "r").exists()


def test_a_number_that_underflows_to_zero_is_refused_where_written(tmp_path):
    # `lr=1e-400` was read as 0.0: "lr: 0.0 is out of range (0, inf)" named a number nobody wrote, and where 0 is
    # allowed (dropout=1e-400) it was taken as 0 without a word
    write(tmp_path, "s.nn", "model m { input x[2]; layer h[4] tanh dropout=1e-400; output y[1]; x -> h -> y }\n")
    assert_refused(run_nngraph("check", "s.nn", cwd=tmp_path),
                   "s.nn:1:47: error: the number 1e-400 is too small (it underflows to 0)", "write 0 for zero")
    write(tmp_path, "z.nn", "model m { input x[2]; layer h[4] tanh dropout=0.0e-400; output y[1]; x -> h -> y }\n")
    assert run_nngraph("check", "z.nn", cwd=tmp_path).code == 0  # zero written as zero


@pytest.mark.parametrize("attrs, number", [("leaky_relu(slope=1e308)", "1e308"), ("elu(alpha=-1e39)", "-1e39"),
                                           ("tanh layernorm(eps=1e308)", "1e308")])
def test_a_models_number_beyond_float32_is_refused_at_its_position(tmp_path, attrs, number):
    # trained under 'RuntimeWarning: overflow encountered in cast' into NaN
    line = f"model m {{ input x[2]; layer h[4] {attrs}; output y[1]; x -> h -> y }}\n"
    write(tmp_path, "s.nn", line)
    assert_refused(run_nngraph("check", "s.nn", cwd=tmp_path),
                   f"s.nn:1:{line.index(number) + 1}: error: model 'm': ", "is beyond float32's range")
    write(tmp_path, "d.nn", line + "train { model m; data xor; loss mse(y); dtype float64 }\n")
    assert run_nngraph("check", "d.nn", cwd=tmp_path).code == 0  # in float64 it is a number like another


GAN = """
model g { noise z[2] normal; layer a[8] relu; output p[2] identity; z -> a -> p }
model d { input p[4]; layer h[512] relu; layer s; output real[1] sigmoid; p -> h -> s minibatch_std(group=4) -> real }
train { data ring(n=64); method gan(generator=g, discriminator=d, pack=2); batch 32; epochs 1 }
"""


def test_a_gans_evaluation_runs_the_discriminator_by_chunks_with_the_figures_of_the_whole_split():
    # the discriminator ran over the whole split at once: 40,000 examples of a 512-unit layer held ~160 MB
    method = prepare(nngraph.loads(GAN)).method
    x = RNG.normal(size=(40003, 2)).astype(np.float32)  # chunks of 2048 (whole groups of 4 packs of 2), the rest
    with Peak() as peak:
        chunked = method._logits(x)
    whole = method.disc.backend.to_numpy(method._chunk_logits(x))
    assert chunked.shape == whole.shape == (20001,)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    assert peak.bytes < 40003 // 2 * 513 * 4 / 3, peak.bytes  # the whole split's last layer alone: 41 MB
