"""Hostile and careless input, round 5: work with no bound (eval --likelihood/--refine, sample's counts multiplied),
option values that overflow in arithmetic, a huge inspect table, data files, YAML, checkpoints and the Python API
(see test_cli.py for how the real command is run)."""

import numpy as np
import pytest

import nngraph
from tests.hostile.test_cli import assert_refused, nngraph as run_nngraph, write

RNG = np.random.default_rng(0)


# ---- inspect of a large model ----------------------------------------------------------------------------------


def test_inspect_of_20000_units_prints_every_row_in_a_few_seconds(tmp_path):
    # rich's Table measured and wrapped each cell through its renderables: 12 s of CPU (17 s on a loaded machine)
    write(tmp_path, "big.nn", "model m {\n  input x[2]\n  layer h[2] tanh repeat=10000\n  layer g[2] tanh repeat=9998\n"
                              "  output y[1]\n  x -> h -> g -> y\n}\n")
    run = run_nngraph("inspect", "big.nn", cwd=tmp_path)
    assert run.code == 0, run.output[-2000:]
    lines = run.output.splitlines()
    assert lines[4] == "│ x       │ input  │ [2]   │ input             │ -          │          0 │     0 │"
    assert "│ g_9998  │ layer  │ [2]   │ tanh              │ <- g_9997  │          6 │     8 │" in lines
    assert sum(line.startswith("│ ") for line in lines) == 20000
    assert run.seconds < 7, run.seconds  # 2.5 s of CPU now


# ---- work with no bound: counts multiplied --------------------------------------------------------------------


VAE = """
model vae { input x[64]; layer e[64] relu; layer mu[4] identity; layer logvar[4] identity; sample z ~ normal(mu, logvar)
            layer d[64] relu; output x_hat[64] sigmoid; x -> e; e -> mu; e -> logvar; z -> d -> x_hat }
train { model vae; data digits(binarize=0.5); test 0.2; method vae; loss bce(x_hat, x) + kl(z); batch 64; epochs 1 }
"""


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae")
    write(folder, "s.nn", VAE)
    assert run_nngraph("train", "s.nn", "--out", "run", "-q", cwd=folder).code == 0
    return folder


@pytest.mark.parametrize("options, asked", [
    (("--likelihood", "1000000"), "--likelihood 1000000 on 1,797 examples: 1,797,000,000 passes of"),
    (("--refine", "100000"), "--refine 100000 on 1,797 examples: 539,100,000 passes of"),
    (("--likelihood", "20000", "--refine", "20000"), "--likelihood 20000 and --refine 20000 on 1,797 examples")])
def test_eval_refuses_likelihood_and_refinement_beyond_the_work_bound_before_they_start(vae_run, options, asked):
    # --likelihood 2000 took 37 s of CPU on specs/vae_digits.nn and the accepted maximum, 1,000,000, ~5 hours
    run = run_nngraph("eval", "s.nn", "--checkpoint", "run/checkpoint.npz", *options, cwd=vae_run)
    assert_refused(run, f"error: {asked}", "more than the 3e+12 a command may ask for",
                   "ask for fewer draws (--likelihood) or steps (--refine), or score fewer examples (--data)",
                   seconds=10)


def test_eval_on_fewer_examples_is_within_the_bound(vae_run):
    # the bound is of the work: the same --likelihood on 64 examples (--data) runs
    np.save(vae_run / "x.npy", (RNG.random((64, 64)) > 0.5).astype(np.float32))
    run = run_nngraph("eval", "s.nn", "--checkpoint", "run/checkpoint.npz", "--data", 'npy("x.npy")',
                      "--likelihood", "100", "--refine", "3", cwd=vae_run)
    assert run.code == 0, run.output
    assert "log_likelihood" in run.output and "refined_loss" in run.output


def test_the_work_bound_takes_the_measured_cases_and_the_defaults():
    from nngraph.graph.work import BACKWARD_PASSES, WORK_LIMIT, pass_flops, require_work

    digits = nngraph.load("specs/vae_digits.nn").models["vae"]
    flops = pass_flops([digits])
    require_work(1797 * 2000, flops, "--likelihood 2000", "")  # 37 s of CPU
    require_work(1797 * 1000 * BACKWARD_PASSES, flops, "--refine 1000", "")  # 41 s
    ordered = nngraph.load("specs/vae_digits_ar.nn").models["vae"]
    require_work(64 * 1000 * 64, pass_flops([ordered]), "sample --fill's defaults", "")
    with pytest.raises(nngraph.errors.ValidationError, match="about 3.0e\\+12 FLOPs, more than the 3e\\+12"):
        require_work(WORK_LIMIT // flops + 1, flops, "--likelihood", "")


RBM = """
model m { visible v[16] bernoulli; hidden h[8] bernoulli; v <-> h }
train { model m; data bars(size=4); method cd(k=1); batch 16; epochs 1 }
"""


@pytest.fixture(scope="module")
def rbm_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rbm")
    write(folder, "s.nn", RBM)
    run = run_nngraph("train", "s.nn", "--out", "run", "-q", cwd=folder)
    assert run.code == 0, run.output
    return folder


def test_sample_refuses_count_times_steps_beyond_the_work_bound(rbm_run):
    # each alone is at most 100,000: together 10^10 Gibbs sweeps (hours even on a 16 x 8 machine)
    run = run_nngraph("sample", "s.nn", "--checkpoint", "run/checkpoint.npz", "-o", "a.npy", "--count", "100000",
                      "--steps", "100000", cwd=rbm_run)
    assert_refused(run, "error: --count 100000 x --steps 100000: 10,000,000,000 passes of ",
                   "ask for fewer samples (--count) or fewer rounds (--steps, --length)", seconds=10)
    assert not (rbm_run / "a.npy").exists()
    run = run_nngraph("sample", "s.nn", "--checkpoint", "run/checkpoint.npz", "-o", "a.npy", "--count", "100",
                      "--steps", "100", cwd=rbm_run)
    assert run.code == 0, run.output


def test_each_method_says_which_count_options_multiply():
    from nngraph.session import prepare

    def passes(spec, **request):
        return prepare(nngraph.load(spec)).method.sample_passes(request)

    assert passes("specs/rbm_bars.nn", count=10, steps=7) == (70, "--count 10 x --steps 7")
    assert passes("specs/vae_digits.nn", count=10) == (10, "--count 10")
    assert passes("specs/vae_digits.nn", count=10, steps=7, fill="top") == (70, "--count 10 x --steps 7")
    assert passes("specs/vae_digits_ar.nn", count=10) == (640, "--count 10 x 64 values decoded in order")
    assert passes("specs/gan_ring.nn", count=10, steps=7, fill="left") == (840, "--count 10 x --steps 7 x 4 starts")
    assert passes("specs/mnist_dbn.nn", count=3, steps=5) == (15, "--count 3 x --steps 5")


# ---- arithmetic that overflows inside float32's range --------------------------------------------------------


@pytest.mark.parametrize("attrs, settings", [("leaky_relu(slope=3e38)", ""), ("elu(alpha=3e38)", ""),
                                             ("leaky_relu(slope=-3e38)", ""), ("tanh", "optimizer sgd(lr=1e30); ")])
def test_arithmetic_that_overflows_ends_in_the_runs_own_divergence_error_without_python_warnings(tmp_path, attrs,
                                                                                                 settings):
    # slope=3e38 fits float32, but slope * x does not: 'RuntimeWarning: overflow encountered in multiply' and 4
    # more warnings (twins.py, dense.py, losses.py lines with their source) came before the divergence error
    write(tmp_path, "s.nn", f"model m {{ input x[2]; layer h[4] {attrs}; output y[1] sigmoid; x -> h -> y }}\n"
                            f"train {{ model m; data xor; loss bce(y); {settings}epochs 3 }}\n")
    run = run_nngraph("train", "s.nn", "--out", "r", "-q", cwd=tmp_path)
    assert "Warning" not in run.output and ".py:" not in run.output, run.output
    if run.code:  # the loss overflowed: the run's own error; else it trained on (lr=1e30: the loss saturates)
        assert_refused(run, "error: training diverged: loss is ", seconds=10)


def test_evaluation_and_prediction_of_overflowing_arithmetic_show_no_python_warnings(tmp_path):
    # a checkpoint of finite parameters whose forward pass overflows (elu alpha=3e38 on a negative net input)
    write(tmp_path, "s.nn", "model m { input x[2]; layer h[4] elu(alpha=3e38); output y[1] identity; x -> h -> y }\n"
                            "train { model m; data xor; loss mse(y); epochs 0 }\n")
    assert run_nngraph("train", "s.nn", "--out", "r", "-q", cwd=tmp_path).code == 0
    np.save(tmp_path / "x.npy", np.array([[-50.0, -50.0], [50.0, 50.0]], np.float32))
    for command in (("eval",), ("predict", "--input", "x.npy", "-o", "y.npy")):
        run = run_nngraph(*command[:1], "s.nn", "--checkpoint", "r/checkpoint.npz", *command[1:], cwd=tmp_path)
        assert run.code == 0 and "Warning" not in run.output, run.output


# ---- data files ------------------------------------------------------------------------------------------------

DATA_MODEL = "model m { input x[2]; layer h[4] tanh; output y[2] softmax; x -> h -> y }\n"


def train_on_data(folder, data: str):
    line = f"train {{ model m; data {data}; loss cross_entropy(y); batch 4; epochs 1 }}\n"
    write(folder, "s.nn", DATA_MODEL + line)
    return run_nngraph("train", "s.nn", "--out", "r", cwd=folder), line


def test_an_npy_header_whose_length_field_lies_is_refused_before_it_is_read(tmp_path):
    # a version 2.0 header saying it is 0xFFFFFFF0 bytes long: numpy read that many bytes before judging them, a
    # MemoryError under the test's 1 GiB, reported as 'out of memory while training model 'm'' at the model
    import struct

    with open(tmp_path / "x.npy", "wb") as f:
        f.write(b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{" * 100)
    np.save(tmp_path / "y.npy", np.arange(8) % 2)
    run, line = train_on_data(tmp_path, 'npy("x.npy", y="y.npy")')
    assert_refused(run, f"s.nn:2:{line.index('npy') + 1}: error: npy: cannot read ", "x.npy as a .npy array "
                   "(its header says it is 4,294,967,280 bytes long; at most 10,000 are read)")
    assert not (tmp_path / "r").exists()


def test_a_csv_cell_longer_than_the_csv_modules_limit_is_refused_at_its_line(tmp_path):
    # a 5 MB cell: 'internal error: Error: field larger than field limit (131072)' (exit 70)
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n" + "1" * 5_000_000 + ",2,0\n3,4,1\n")
    run, line = train_on_data(tmp_path, 'csv("d.csv", target="y")')
    assert_refused(run, f"s.nn:2:{line.index('csv') + 1}: error: csv: line 3: field larger than field limit "
                        "(131072)", "a cell holds one number; is this file a table of numbers?")


def test_a_gzipped_idx_file_whose_float_copies_would_not_fit_is_refused_before_it_is_read(tmp_path):
    # gzip holding 3e8 zero pixels: the bytes passed the memory check under a 1 GiB limit, their float32 copies
    # did not, and the MemoryError was reported as 'out of memory while training model 'm''
    import gzip
    import struct

    with gzip.open(tmp_path / "images.gz", "wb", compresslevel=1) as g:
        g.write(struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 30000, 100, 100))
        for _ in range(300):  # the whole claim: 300 x 1e6 bytes, 1.3 MB of gzip
            g.write(bytes(1_000_000))
    line = "train { model m; data idx(\"images.gz\"); loss mse(y); batch 4; epochs 1 }\n"
    write(tmp_path, "s.nn", "model m { input x[10000]; output y[1]; x -> y }\n" + line)
    run = run_nngraph("train", "s.nn", "--out", "r", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{line.index('idx') + 1}: error: idx: ", "images.gz describes 286.1 MiB of data, "
                   "2.5 GiB once read as float32; ", "of memory is available", "use limit=N")


def test_data_whose_copies_run_out_of_memory_is_named_at_the_data_not_the_model(tmp_path):
    # 200 MB of uint8 deflated to 0.2 MB: the bytes fit under the 1 GiB limit, their float32 copy did not, and
    # the MemoryError was 'out of memory while training model 'm'' at the model, with the hint to lower `batch`
    import zipfile

    with zipfile.ZipFile(tmp_path / "d.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False,
                                                       "shape": (20000, 10000)})
            for _ in range(200):
                out.write(bytes(1_000_000))
        with zf.open("y.npy", "w") as out:
            np.lib.format.write_array(out, np.zeros(20000))
    line = "train { model m; data npz(\"d.npz\"); loss mse(y); batch 4; epochs 1 }\n"
    write(tmp_path, "s.nn", "model m { input x[10000]; output y[1]; x -> y }\n" + line)
    run = run_nngraph("train", "s.nn", "--out", "r", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{line.index('npz') + 1}: error: npz: out of memory while reading the data and "
                        "making its copies in float32", "use less data (limit=..., a smaller file), or free memory")
    assert not (tmp_path / "r").exists()


# ---- checkpoints ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adam_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adam")
    write(folder, "s.nn", "model m { input x[2]; layer h[4] tanh; output y[1] sigmoid; x -> h -> y }\n"
                          "train { model m; data xor; loss bce(y); optimizer adam; batch 4; epochs 2 }\n")
    assert run_nngraph("train", "s.nn", "--out", "run", "-q", cwd=folder).code == 0
    return folder


def refused_on_resume_and_eval(run_folder, spec, tmp_path, edits: dict, *fragments):
    """A copy of `run_folder` whose checkpoint has `edits` is refused by `train --resume` and `eval`, left whole."""
    import shutil

    from tests.hostile.test_cli import rewritten

    folder = shutil.copytree(run_folder, tmp_path / "r")
    rewritten(run_folder / "checkpoint.npz", folder / "checkpoint.npz", **edits)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for args in (("train", spec, "--resume", folder, "--set", "epochs=4"),
                 ("eval", spec, "--checkpoint", folder / "checkpoint.npz")):
        assert_refused(run_nngraph(*args, cwd=tmp_path), *fragments, seconds=15)
    assert before == {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("steps", [np.int64(-5), np.float64(2.5)])
def test_an_edited_optimizer_step_count_is_refused_and_the_run_folder_left_alone(adam_run, tmp_path, steps):
    # -5: adam's bias correction sqrt(1 - beta2^-5) was 'internal error: ValueError: math domain error' (exit 70)
    refused_on_resume_and_eval(adam_run / "run", adam_run / "s.nn", tmp_path, {"optimizer.steps": steps},
                               "error: the checkpoint's optimizer step count is ", "; it is one whole number >= 0",
                               "the checkpoint was edited or is corrupt")


def test_an_edited_vae_epoch_count_is_refused(vae_run, tmp_path):
    # vae.epoch=-5 resumed the KL warm-up from epoch -5 without a word
    refused_on_resume_and_eval(vae_run / "run", vae_run / "s.nn", tmp_path, {"vae.epoch": np.int64(-5)},
                               "error: the checkpoint's VAE epoch count is -5 (int64); it is one whole number >= 0")


def test_persistent_chains_of_another_count_are_refused(tmp_path_factory, tmp_path):
    # 5 saved chains where the run keeps 16: a matmul's 'mismatch in its core dimension' at the first step of the
    # resume (exit 70)
    folder = tmp_path_factory.mktemp("pcd")
    write(folder, "s.nn", "model m { visible v[9] bernoulli; hidden h[4] bernoulli; v <-> h }\n"
                          "train { model m; data bars(size=3); method pcd(k=1, chains=16); batch 16; epochs 2 }\n")
    assert run_nngraph("train", "s.nn", "--out", "run", "-q", cwd=folder).code == 0
    refused_on_resume_and_eval(folder / "run", folder / "s.nn", tmp_path,
                               {"sampler.chains": np.zeros((5, 9), np.float32)},
                               "error: the checkpoint's persistent chains (sampler.chains) have shape [5, 9]; this "
                               "run's are [16, 9] (16 chains of 9 units)")


@pytest.mark.parametrize("codes", [[-1, 97], [98, 97], [97.5, 98.5]])
def test_a_text_vocabulary_that_is_not_a_sorted_set_of_characters_is_refused(tmp_path, codes):
    # code -1: 'internal error: ValueError: chr() arg not in range(0x110000)' (exit 70); a repeated or unsorted
    # one gave the model's classes to other characters
    from nngraph.errors import TrainingError
    from nngraph.train.sequences import Vocabulary

    with pytest.raises(TrainingError, match="the checkpoint's text vocabulary \\(text.vocabulary\\) is not a sorted "
                                            "set of character codes"):
        Vocabulary.from_array(np.array(codes))
    assert Vocabulary.from_array(np.array([10, 97, 98], np.int32)).characters == "\nab"


# ---- the Python API and the command line, used carelessly -------------------------------------------------------


def test_the_api_names_what_each_function_takes(tmp_path):
    # program(None) and apply_overrides(checked) were AttributeErrors ('has no attribute 'trains''/'settings''),
    # load(overrides=5) and fit(log=5) "'int' object is not iterable", fit(quiet="no") ran quietly
    from nngraph.api import parse_spec_file

    spec = nngraph.load("specs/xor.nn")
    refusals = [
        (lambda: nngraph.program(None), "program takes a checked spec (nngraph.load(path) or nngraph.loads(text)), "
                                        "not NoneType"),
        (lambda: nngraph.program("specs/xor.nn"), "program takes a checked spec"),
        (lambda: nngraph.apply_overrides(spec, ["epochs=2"]), "apply_overrides takes a parsed spec "
                                                              "(nngraph.api.parse_spec_file(path)), not CheckedSpec"),
        (lambda: nngraph.apply_overrides(None, []), "apply_overrides takes a parsed spec"),
        (lambda: nngraph.load("specs/xor.nn", overrides=5), "overrides takes a list of strings, like ['epochs=5'], "
                                                            "not int"),
        (lambda: nngraph.apply_overrides(parse_spec_file("specs/xor.nn"), 5), "overrides takes a list of strings"),
        (lambda: nngraph.fit(spec, log=5), "log takes a list of strings, like ['tensorboard'], not int"),
        (lambda: nngraph.fit(spec, out=tmp_path / "q", quiet="no"), "fit: quiet takes True or False, not str"),
        (lambda: nngraph.fit(spec, out=tmp_path / "o", overwrite="no"), "fit: overwrite takes True or False, not str"),
    ]
    for call, message in refusals:
        with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
                           .replace("[", r"\[").replace("]", r"\]")):
            call()
    assert not list(tmp_path.iterdir())


def test_an_empty_run_folder_is_refused_not_taken_as_the_current_folder(tmp_path):
    # `--out "$RUN"` with RUN unset, or fit(out=""), wrote the run files into the current folder
    from nngraph.errors import TrainingError

    write(tmp_path, "s.nn", DATA_MODEL.replace("y[2] softmax", "y[1] sigmoid")
          + "train { model m; data xor; loss bce(y); epochs 1 }\n")
    for option in ("--out", "--resume"):
        run = run_nngraph("train", "s.nn", option, "", cwd=tmp_path)
        assert run.code == 2 and f"Invalid value for '{option}': is an empty path; for the current folder, say " \
                                  f"{option} ." in run.output, run.output
    with pytest.raises(TrainingError, match="--out is an empty path"):
        nngraph.fit(nngraph.load(tmp_path / "s.nn"), out="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nn"]


# ---- reinforcement learning environments -------------------------------------------------------------------------


def test_an_environment_id_naming_a_module_is_refused_before_gymnasium_imports_it(tmp_path):
    # gymnasium imports MODULE of 'MODULE:Name-v0' before looking the name up: `nngraph check` ran an evil.py
    # beside the spec (and gym("this:X-v0") printed the Zen of Python)
    pytest.importorskip("gymnasium")
    (tmp_path / "evil.py").write_text("open('imported', 'w').write('x')\n")
    line = 'train { model m; env gym("evil:Foo-v0"); method ppo; steps 100 }\n'
    write(tmp_path, "s.nn", "model m { input obs[4]; output pi[2] softmax; output v[1]; obs -> pi; obs -> v }\n" + line)
    column = line.index('"evil') + 1  # the id's string
    for command in ("check", "train"):
        run = run_nngraph(command, "s.nn", cwd=tmp_path)  # python -m: the current folder is on sys.path
        assert_refused(run, f"s.nn:2:{column}: error: env gym(\"evil:Foo-v0\") names module 'evil', "
                            "which gymnasium would import: a spec never makes nngraph import code",
                       "hint: import evil in your own Python first", seconds=10)
    assert not (tmp_path / "imported").exists()


AGENT = "model m { input obs[2]; layer h[8] tanh; output pi[3] softmax; output v[1]; obs -> h -> pi; h -> v }\n"


def test_evaluation_episodes_beyond_ten_thousand_are_refused_where_written_and_by_sample(tmp_path):
    # episodes=1000000000 played for ever at the end of training; sample --count 100000 of CartPole's 500-step
    # episodes, 50 million steps (~10 minutes at ~12 us a copy's step)
    pytest.importorskip("gymnasium")
    line = "train { model m; env mountaincar(n=2, episodes=1000000000); method ppo(rollout=16); steps 32 }\n"
    write(tmp_path, "big.nn", AGENT + line)
    assert_refused(run_nngraph("check", "big.nn", cwd=tmp_path),
                   f"big.nn:2:{line.index('1000000000') + 1}: error: mountaincar: episodes: 1000000000 is out of "
                   "range [1, 10000]")
    write(tmp_path, "s.nn", AGENT + line.replace("1000000000", "2"))
    assert run_nngraph("train", "s.nn", "--out", "r", "-q", cwd=tmp_path).code == 0
    run = run_nngraph("sample", "s.nn", "--checkpoint", "r/checkpoint.npz", "--count", "100000", cwd=tmp_path)
    assert_refused(run, "error: --count 100000 asks for as many episodes; an agent plays at most 10,000",
                   "ask for --count 10000 or fewer", seconds=10)


@pytest.mark.parametrize("method, refusal", [
    ("ppo(rollout=1000000000)", "one training step (rollout=1,000,000,000 x n=1,024 x epochs=10 x minibatch=64)"),
    ("dqn(buffer=1000000000000)", "experience 29.1 TiB")])
def test_an_agents_experience_too_large_for_memory_is_refused_before_training(tmp_path, method, refusal):
    # ppo(rollout=1000000000) with 1024 copies ran into a MemoryError under an estimate of 48 MiB, which did not
    # count the rollout; round 6: refused at the option (the rollout's work, one step's, is refused first)
    pytest.importorskip("gymnasium")
    outputs = "output q[3]; obs -> h -> q" if "dqn" in method else "output pi[3] softmax; output v[1]; obs -> h -> pi; h -> v"
    line = f"train {{ model m; env mountaincar(n=1024); method {method}; steps 32 }}\n"
    write(tmp_path, "s.nn", f"model m {{ input obs[2]; layer h[8] tanh; {outputs} }}\n" + line)
    run = run_nngraph("check", "s.nn", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{line.index('=10000') + 2}: error: ", refusal)


@pytest.mark.parametrize("method", ["pcd(k=1, chains=1000000000000)", "boltzmann(chains=1000000000000)"])
def test_persistent_chains_too_large_for_memory_are_refused_before_training(tmp_path, method):
    # a MemoryError reported as 'out of memory while training' under an estimate of 48 MiB
    # round 6: refused at chains=, by the work of one step (it comes first: 10^12 chains make 2e14 FLOPs a sweep)
    line = f"train {{ model r; data bars(size=3); method {method}; batch 16; epochs 1 }}\n"
    write(tmp_path, "s.nn", "model r { visible v[9] bernoulli; hidden h[4] bernoulli; v <-> h }\n" + line)
    assert_refused(run_nngraph("check", "s.nn", cwd=tmp_path), f"s.nn:2:{line.index('chains=') + 8}: error: one "
                   "training step (", "chains=1,000,000,000,000)", "lower chains")


# ---- repetitions inside one training step ----------------------------------------------------------------------

RBM_METHOD = """model rbm {
  visible v[6] bernoulli
  hidden  h[4] bernoulli
  v <-> h
}
train { model rbm; data bars_and_stripes(size=2); method METHOD; batch 4; epochs 1 }
"""


@pytest.mark.parametrize("method, value, fragment", [
    ("cd(k=1000000000)", "1000000000", "cd: k: 1000000000 is out of range [1, 10000]"),
    ("pcd(k=20000)", "20000", "pcd: k: 20000 is out of range [1, 10000]"),
    ("boltzmann(sweeps=1000000000)", "1000000000", "boltzmann: sweeps: 1000000000 is out of range [1, 10000]"),
    ("boltzmann(anneal=[[2, 6000], [1, 6000]])", "[[", "anneal: 12,000 sweeps in all, more than the 10,000"),
])
def test_the_repetitions_of_one_training_step_are_bounded_where_written(tmp_path, method, value, fragment):
    # hostile5's leftover: cd(k=1e9) on a 6-4 machine passed every check, its one step hours of ~20 us sweeps
    text = RBM_METHOD.replace("METHOD", method)
    line = text.splitlines()[5]
    write(tmp_path, "rbm.nn", text)
    for command in ("check", "train"):
        run = run_nngraph(command, "rbm.nn", cwd=tmp_path)
        assert_refused(run, f"rbm.nn:6:{line.index(value) + 1}: error: ", fragment)
    assert not (tmp_path / "runs").exists()
