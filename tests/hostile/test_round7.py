"""Hostile and careless input, round 7: the work bounds round 6 left open (a VAE's evaluations, the batch of
backprop and gan), a DBN's pretraining under `--set epochs=`, and hostile data files, checkpoints and option
values (see test_cli.py for how the real command is run)."""

import re

import numpy as np

import pytest

from tests.hostile.test_cli import assert_refused, nngraph as run_nngraph, write

VAE = """model vae { input x[64]; layer e[64] relu; layer mu[4] identity; layer logvar[4] identity
  sample z ~ normal(mu, logvar); layer d[64] relu; output x_hat[64] sigmoid; x -> e; e -> mu; e -> logvar; z -> d -> x_hat }
"""
# three 512-channel 3x3 convolutions on the 8x8 digits: 6.1e8 FLOPs an example, 5M parameters
CONV = """model m { input x[1, 8, 8]; layer c1 relu; layer c2 relu; layer c3 relu; output y[10] softmax
  x -> c1 conv(filters=512, kernel=3, padding=1) -> c2 conv(filters=512, kernel=3, padding=1)
  c2 -> c3 conv(filters=512, kernel=3, padding=1) -> y }
"""
GAN = """model g { noise z[2] normal; layer h[64] relu; output p[2] identity; z -> h -> p }
model d { input p[2]; layer h1[4096] relu; layer h2[4096] relu; output real[1] sigmoid; p -> h1 -> h2 -> real }
"""


def column(text: str, marker: str) -> str:
    """'LINE:COLUMN' of `marker`'s first occurrence in `text`."""
    number, line = next((i, t) for i, t in enumerate(text.splitlines(), 1) if marker in t)
    return f"{number}:{line.index(marker) + 1}"


# ---- round 6's leftovers: work bounds --------------------------------------------------------------------------


def test_a_vaes_evaluation_beyond_the_work_bound_is_refused_at_samples_in_train_and_eval(tmp_path):
    # batch 1 x samples 200,000: one step of 200,000 rows passed the step's bound, and every evaluation ran each
    # of the split's examples 200,000 times (the training split's at the end: 2.9e8 passes, 5.3e12 FLOPs), none
    # of it shortened by `epochs`
    train = ("train { model vae; data digits(binarize=0.5); validation 0.2; method vae(samples=200000); "
             "loss bce(x_hat, x) + kl(z); batch 1; epochs 1 }\n")
    write(tmp_path, "s.nn", VAE + train)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, f"s.nn:{column(VAE + train, '200000')}: error: one evaluation of the training split "
                        "(samples=200,000 x examples=1,438) makes 287,600,000 example passes",
                   "more than the 3e+12 one evaluation may take", "hint: lower samples")
    assert not (tmp_path / "run").exists()
    # a checkpoint trained with samples=1, evaluated with many: the splits, and --data
    write(tmp_path, "one.nn", VAE + train.replace("samples=200000", "samples=1").replace("batch 1;", "batch 64;"))
    assert run_nngraph("train", "one.nn", "--out", "one", cwd=tmp_path).code == 0
    for extra in ((), ("--data", "digits(binarize=0.5)")):
        run = run_nngraph("eval", "one.nn", "--checkpoint", "one/checkpoint.npz", "--set",
                          "method=vae(samples=200000)", "--set", "batch=1", *extra,
                          cwd=tmp_path)
        assert_refused(run, "<--set>:1:20: error: one evaluation of " + ("--data" if extra else "the training split"),
                       "hint: lower samples")


def test_a_vaes_samples_too_many_for_memory_are_refused_at_samples(tmp_path):
    # 10^6 repeats of one example: 4 GiB of activations, refused at the model's line with 'lower `batch`'
    train = ("train { model vae; data digits(binarize=0.5); method vae(samples=1000000); "
             "loss bce(x_hat, x) + kl(z); batch 1; epochs 1 }\n")
    write(tmp_path, "s.nn", VAE + train)
    for command in ("check", "train"):
        run = run_nngraph(command, "s.nn", cwd=tmp_path)
        assert_refused(run, f"s.nn:{column(VAE + train, '1000000')}: error: training model 'vae' needs about 4.0 GiB",
                       "hint: lower samples: a step runs each example of the batch that many times")


def test_a_vaes_few_samples_are_evaluated_as_before(tmp_path):
    # samples=20 on the digits: 1,438 x 20 passes of 18,320 FLOPs, far within the bound
    train = ("train { model vae; data digits(binarize=0.5, limit=200); validation 0.2; method vae(samples=20); "
             "loss bce(x_hat, x) + kl(z); batch 32; epochs 1 }\n")
    write(tmp_path, "s.nn", VAE + train)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]


def _refused_in_process(tmp_path, monkeypatch, text: str, marker: str, *fragments: str) -> None:
    """`nngraph.session.run_training` of `text` refuses it at `marker` before the run folder is made, whatever
    memory this machine has (the memory estimate's batch is several GiB; nothing of it is allocated)."""
    import nngraph
    from nngraph.errors import ValidationError
    from nngraph.session import run_training

    monkeypatch.setattr("nngraph.graph.memory.available_memory", lambda: 1 << 40)
    write(tmp_path, "s.nn", text)
    checked = nngraph.load(tmp_path / "s.nn")
    with pytest.raises(ValidationError) as refusal:
        run_training(checked, out=tmp_path / "run", threads=1)
    error = refusal.value
    assert f"{error.span.line}:{error.span.column}" == column(text, marker), error
    for fragment in fragments:
        assert fragment in str(error) or fragment in (error.hint or ""), (fragment, str(error), error.hint)
    assert not (tmp_path / "run").exists()


def test_a_backprop_batch_that_fits_in_memory_but_makes_a_step_of_minutes_is_refused_at_batch(tmp_path, monkeypatch):
    # the memory estimate let it by: a batch of 512 of these took 17 s a step (~55 GFLOP/s), the digits' 1,797 a
    # minute; a 50M-parameter MLP at batch 16384 took 69 s a step
    text = CONV + "train { model m; data digits(shape=[1, 8, 8]); loss cross_entropy(y); batch 2048; epochs 1 }\n"
    _refused_in_process(tmp_path, monkeypatch, text, "batch 2048",
                        "one training step (batch=1,797) makes 5,391 example passes",
                        "more than the 3e+12 one step may take", "lower batch")


def test_a_gan_batch_that_makes_a_step_of_minutes_is_refused_at_batch(tmp_path, monkeypatch):
    text = GAN + ("train { data ring(n=20000); method gan(generator=g, discriminator=d); batch 20000; "
                  "epochs 1 }\n")
    _refused_in_process(tmp_path, monkeypatch, text, "batch 20000", "one training step (batch=20,000)",
                        "lower batch")


def test_a_batch_within_the_bound_trains(tmp_path, monkeypatch):
    # the same network at batch 64: 1.2e11 FLOPs a step
    text = CONV + ("train { model m; data digits(shape=[1, 8, 8], limit=64); loss cross_entropy(y); batch 64; "
                   "epochs 1 }\n")
    write(tmp_path, "s.nn", text)
    import nngraph
    from nngraph.session import run_training

    summary = run_training(nngraph.load(tmp_path / "s.nn"), out=tmp_path / "run", threads=1)
    assert summary["final"]["train_accuracy"] >= 0  # it trained, and evaluated its training split


# ---- a DBN's pretraining and `--set epochs=` -----------------------------------------------------------------


def test_set_epochs_counts_a_dbns_fine_tuning_and_set_method_shortens_its_pretraining(tmp_path):
    # docs/language.md (section 7's `--set`, the dbn's section): `epochs` is fine-tuning's; pretraining runs
    # `pretrain` epochs a layer, shortened by replacing the method call
    spec = "specs/dbn_digits.nn"
    import shutil
    from pathlib import Path

    shutil.copy(Path(spec), tmp_path / "dbn.nn")
    run = run_nngraph("train", "dbn.nn", "--out", "a", "--set", "epochs=1", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]
    assert re.findall(r"pretraining (h\d): the RBM \S+ <-> \S+, (\d+) epochs?", run.output) == [
        ("h1", "20"), ("h2", "20")]
    assert "1 epoch in" in run.output
    run = run_nngraph("train", "dbn.nn", "--out", "b", "--set", "epochs=1", "--set",
                      "method=dbn(k=1, pretrain=1, pretrain_optimizer=sgd(lr=0.05, momentum=0.5))", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]
    assert re.findall(r"pretraining (h\d): the RBM \S+ <-> \S+, (\d+) epochs?", run.output) == [
        ("h1", "1"), ("h2", "1")]


# ---- data files -----------------------------------------------------------------------------------------------

CLASSIFIER = "model m { input x[2]; layer h[4] tanh; output y[2] softmax; x -> h -> y }\n"


@pytest.mark.parametrize("header, rows", [("a,label,label", "1,0,1\n4,1,0\n2,0,0\n"),  # trained on the first
                                          ("a,label,label", "1,cat,dog\n4,dog,cat\n")])  # "'dog' is not a number"
def test_a_csv_target_named_twice_in_the_header_is_refused_at_target(tmp_path, header, rows):
    write(tmp_path, "d.csv", header + "\n" + rows)
    text = CLASSIFIER + 'train { model m; data csv("d.csv", target="label"); loss cross_entropy(y); epochs 1 }\n'
    write(tmp_path, "s.nn", text)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    where = column(text, '"label"')
    assert_refused(run, f"s.nn:{where}: error: csv: the header names 2 columns 'label' "
                        "(columns 2, 3); which is the target?", "hint: rename one of them")
    assert not (tmp_path / "run").exists()


def _npy_with_header(path, header: bytes, data: bytes = b"\0" * 64):
    """A version 1.0 .npy file whose header text is `header` (padded as numpy pads it), then `data`."""
    text = header.ljust(((len(header) + 10) // 64 + 1) * 64 - 10)
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data)


@pytest.mark.parametrize("header, fragment", [
    # numpy reads a header that is no literal again as Python 2's, through tokenize: TokenError (exit 70)
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)", "its header is not a Python literal"),
    (b"((((((((\n", "its header is not a Python literal"),
    # numpy took True for a length, then its reshape raised TypeError (exit 70)
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (True, 2)}\n", "is corrupt: an array of shape [True, 2]"),
])
def test_an_npy_header_that_breaks_numpys_parser_is_refused_as_the_file(tmp_path, header, fragment):
    _npy_with_header(tmp_path / "x.npy", header)
    np.save(tmp_path / "y.npy", np.zeros(2, np.int64))
    text = CLASSIFIER + 'train { model m; data npy("x.npy", y="y.npy"); loss cross_entropy(y); epochs 1 }\n'
    write(tmp_path, "s.nn", text)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, f"s.nn:{column(text, 'npy(')}: error: npy: ", "x.npy", fragment)
    assert not (tmp_path / "run").exists()
    write(tmp_path, "ok.nn", text.replace('"x.npy"', '"ok.npy"'))
    np.save(tmp_path / "ok.npy", np.zeros((2, 2), np.float32))
    assert run_nngraph("train", "ok.nn", "--out", "one", cwd=tmp_path).code == 0
    run = run_nngraph("predict", "ok.nn", "--checkpoint", "one/checkpoint.npz", "--input", "x.npy", "-o", "p.npy",
                      cwd=tmp_path)
    assert_refused(run, "error: --input: ", "x.npy", fragment)


def test_an_npy_header_of_python_2_is_read_without_numpys_warning(tmp_path):
    # a literal followed by blank lines: numpy read it, and warned naming nngraph/safe_files.py's source lines
    _npy_with_header(tmp_path / "x.npy", b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n\n\n",
                     np.ones(2, np.float32).tobytes())
    from nngraph.safe_files import load_npy
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_npy(tmp_path / "x.npy").tolist() == [1.0, 1.0]


# ---- environment variables ------------------------------------------------------------------------------------


def test_a_terminal_size_of_thousands_of_digits_is_ignored(tmp_path, monkeypatch):
    # rich read COLUMNS with int(), which refuses more than 4,300 digits: 'internal error: ValueError' (exit 70)
    # at the first progress bar, the run folder half made
    monkeypatch.setenv("COLUMNS", "1" * 5000)
    monkeypatch.setenv("LINES", "9" * 5000)
    write(tmp_path, "s.nn", CLASSIFIER + "train { model m; data xor; loss cross_entropy(y); epochs 1 }\n")
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]
    assert (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("name, value", [("PMI_SIZE", "abc"), ("PMI_RANK", " 1 "), ("OMPI_COMM_WORLD_SIZE", "1e30")])
def test_an_mpi_launchers_variable_that_is_no_whole_number_is_refused_by_name(tmp_path, monkeypatch, name, value):
    # MPI's initialisation aborted on it: 'Fatal error in internal_Init_thread: Internal MPI error!' (exit 16)
    pytest.importorskip("mpi4py")
    monkeypatch.setenv(name, value)
    write(tmp_path, "s.nn", CLASSIFIER + "train { model m; data xor; loss cross_entropy(y); epochs 1 }\n")
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, f"error: {name}={value!r}: an MPI launcher sets it to a whole number",
                   f"hint: unset {name}, or set NNGRAPH_MPI=0")
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("NNGRAPH_MPI", "0")
    assert run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path).code == 0


# ---- numeric options --------------------------------------------------------------------------------------------


def test_a_batch_too_large_for_memory_is_refused_where_the_batch_is_written(tmp_path):
    # was at the model's name (s.nn:1:7), whichever setting made the activations most of the peak
    text = CLASSIFIER + "train { model m; data xor; loss cross_entropy(y); epochs 1 }\n"
    write(tmp_path, "s.nn", text)
    run = run_nngraph("train", "s.nn", "--out", "run", "--set", f"batch={2**63}", cwd=tmp_path)
    assert_refused(run, "<--set>:1:1: error: training model 'm' needs about 10^21 bytes",
                   f"activations for batch {2**63}", "hint: lower `batch`")
    write(tmp_path, "b.nn", text.replace("epochs 1", "batch 100000000000; epochs 1"))
    assert_refused(run_nngraph("check", "b.nn", cwd=tmp_path), f"b.nn:{column(text, 'epochs 1')}: error: ")
    assert not (tmp_path / "run").exists()
