"""Hostile and careless input, round 6: refusals at the option that made a run too large, one training step's
work bounded (graph/work.py), and what a mutation fuzzer over specs/ found (see test_cli.py for how the real
command is run)."""

import numpy as np
import pytest

from tests.hostile.test_cli import assert_refused, nngraph as run_nngraph, write

AGENT = "model m { input obs[2]; layer h[8] tanh; output pi[3] softmax; output v[1]; obs -> h -> pi; h -> v }\n"
Q_AGENT = "model m { input obs[2]; layer h[8] tanh; output q[3]; obs -> h -> q }\n"
RBM = "model r { visible v[9] bernoulli; hidden h[4] bernoulli; v <-> h }\n"
VAE = """model vae { input x[64]; layer e[64] relu; layer mu[4] identity; layer logvar[4] identity
  sample z ~ normal(mu, logvar); layer d[64] relu; output x_hat[64] sigmoid; x -> e; e -> mu; e -> logvar; z -> d -> x_hat }
"""


def refused_where_written(folder, text: str, marker: str, *fragments: str, yaml_line: str | None = None):
    """`check` and `train` of `text` (and of its YAML conversion) refuse it at `marker`'s column of the train
    block's line (in YAML, of `yaml_line`'s), and leave no run folder."""
    line_number, line = next((i, t) for i, t in enumerate(text.splitlines(), 1) if marker in t)
    write(folder, "s.nn", text)
    for command in ("check", "train"):
        assert_refused(run_nngraph(command, "s.nn", "--out", "run", cwd=folder) if command == "train" else
                       run_nngraph(command, "s.nn", cwd=folder),
                       f"s.nn:{line_number}:{line.index(marker) + 1}: error: ", *fragments)
    assert not (folder / "run").exists()
    if yaml_line is not None:
        assert run_nngraph("convert", "s.nn", "-o", "s.yaml", cwd=folder).code == 0
        lines = (folder / "s.yaml").read_text().splitlines()
        number = next(i for i, t in enumerate(lines, 1) if t.strip().startswith(yaml_line))
        assert_refused(run_nngraph("check", "s.yaml", cwd=folder),
                       f"s.yaml:{number}:{lines[number - 1].index(marker) + 1}: error: ", *fragments)


# ---- round 5's leftovers: refusals at the option that made the run large --------------------------------------


def test_a_replay_buffer_too_large_for_memory_is_refused_at_buffer_in_nn_and_yaml(tmp_path):
    # was at the model's line (s.nn:1:7), whatever option made the experience huge
    pytest.importorskip("gymnasium")
    text = Q_AGENT + "train { model m; env mountaincar(n=4); method dqn(buffer=1000000000000); steps 32 }\n"
    refused_where_written(tmp_path, text, "1000000000000", "training model 'm' needs about 29.1 TiB",
                          "experience 29.1 TiB", "hint: lower buffer", yaml_line="method:")


def test_persistent_chains_too_large_for_memory_are_refused_at_chains(tmp_path):
    text = RBM + "train { model r; data bars(size=3); method pcd(k=1, chains=10000000000); batch 16; epochs 1 }\n"
    refused_where_written(tmp_path, text, "10000000000", "training model 'r' needs about 1.4 TiB",
                          "hint: lower chains", yaml_line="method:")


# ---- one training step's work ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env, method, marker, fragments", [
    # 10^8 steps of 8 copies and 10 epochs over them: one update of hours (the memory estimate let it by at 20 GiB)
    ("mountaincar(n=8)", "ppo(rollout=100000000)", "100000000",
     ("one training step (rollout=100,000,000 x n=8 x epochs=10 x minibatch=64) makes 800,000,000 environment steps",
      "more than the 3e+12 one step may take", "hint: lower rollout (or lower n, lower epochs, raise minibatch)")),
    ("mountaincar(n=8)", "ppo(epochs=1000000, rollout=64)", "1000000",
     ("one training step (rollout=64 x n=8 x epochs=1,000,000 x minibatch=64)", "hint: lower epochs")),
    ("mountaincar(n=8)", "ppo(rollout=65536, minibatch=1)", "1)",
     ("5,242,880 gradient steps", "hint: raise minibatch (or lower rollout, lower n, lower epochs)")),
    ("mountaincar(n=1024)", "a2c(rollout=10000000)", "10000000", ("(rollout=10,000,000 x n=1,024)",)),
    ("mountaincar(n=1)", "dqn(gradient_steps=100000)", "100000",
     ("(train_every=4 x n=1 x gradient_steps=100,000 x minibatch=32) makes 1,000 environment steps", "25,000,000 "
      "gradient steps", "hint: lower gradient_steps")),
    # train_every=1e9 made one iteration of 10^9 environment steps whatever `steps` said
    ("mountaincar(n=1)", "dqn(train_every=1000000000)", "1000000000",
     ("makes 1,000,000,000 environment steps", "hint: lower train_every")),
])
def test_an_agents_update_beyond_the_work_bound_is_refused_at_the_option(tmp_path, env, method, marker, fragments):
    pytest.importorskip("gymnasium")
    text = (Q_AGENT if "dqn" in method else AGENT) + f"train {{ model m; env {env}; method {method}; steps 32 }}\n"
    refused_where_written(tmp_path, text, marker, *fragments)


def test_the_copies_that_made_an_update_large_are_named_in_yaml(tmp_path):
    pytest.importorskip("gymnasium")
    text = AGENT + "train { model m; env mountaincar(n=1024); method ppo(rollout=100000); steps 32 }\n"
    refused_where_written(tmp_path, text, "1024", "(rollout=100,000 x n=1,024 x epochs=10 x minibatch=64)",
                          "hint: lower n", yaml_line="env:")


@pytest.mark.parametrize("train, marker, fragments", [
    # batch 64 x 10^6 samples: 6.4e7 rows of one step; the memory estimate counted the batch alone
    ("data digits(binarize=0.5); method vae(samples=1000000); loss bce(x_hat, x) + kl(z); batch 64", "1000000",
     ("one training step (samples=1,000,000 x batch=64) makes 192,000,000 example passes", "hint: lower samples")),
])
def test_a_vaes_samples_beyond_the_work_bound_are_refused_at_samples(tmp_path, train, marker, fragments):
    refused_where_written(tmp_path, VAE + f"train {{ model vae; {train}; epochs 1 }}\n", marker, *fragments)


def test_gibbs_sweeps_times_persistent_chains_beyond_the_work_bound_are_refused_at_the_larger(tmp_path):
    # each within its range and the memory estimate (10^7 chains of 13 units: 1.5 GiB): 10^4 sweeps of them, 2e15
    text = RBM + "train { model r; data bars(size=3); method boltzmann(sweeps=10000, chains=10000000); batch 16 }\n"
    refused_where_written(tmp_path, text, "10000000", "(sweeps=10,000 x batch=16 x chains=10,000,000)",
                          "hint: lower chains (or lower sweeps, lower batch)")


def test_every_spec_and_every_methods_defaults_stay_within_the_bound():
    import nngraph
    from nngraph.graph.methods import METHODS
    from pathlib import Path

    for spec in sorted(Path("specs").glob("*.nn")):
        nngraph.load(spec)  # raises where a step is refused
    assert {name for name, spec in METHODS.items() if spec.work is not None} == {
        "cd", "pcd", "boltzmann", "dbn", "vae", "ppo", "a2c", "reinforce", "dqn"}  # backprop, gan: no multiplier


# ---- found by the mutation fuzzer -------------------------------------------------------------------------------


def test_a_unit_declared_again_after_a_sample_unit_of_its_name_is_refused_as_twice_declared(tmp_path):
    # `output z[2]` after `sample z ~ ...`: the sample's edges were read from the second declaration, 'internal
    # error: AttributeError: 'NoneType' object has no attribute 'span'' (exit 70) at check
    text = ("model m { input x[2]; layer mu[2]; layer lv[2]; sample z ~ normal(mu, lv)\n"
            "  output z[2] sigmoid; x -> mu; x -> lv }\n")
    write(tmp_path, "s.nn", text)
    assert_refused(run_nngraph("check", "s.nn", cwd=tmp_path), "s.nn:2:3: error: unit 'z' is declared twice",
                   "hint: first declared at line 1")


@pytest.mark.parametrize("data, option", [("balls(n=1e30)", "1e30"), ("balls(features=1e30)", "1e30"),
                                          ("grid(side=1e30)", "1e30"), ("ring(modes=1e30)", "1e30"),
                                          ("grid(side=3000000)", "3000000")])
def test_generated_sets_too_large_to_draw_are_refused_at_the_option(tmp_path, data, option):
    # numpy's 'Maximum allowed dimension/size exceeded' (exit 70); grid(side=3000000) built 9e12 Python tuples
    line = f"train {{ model m; data {data}; loss mse(y); epochs 1 }}\n"
    write(tmp_path, "s.nn", "model m { input x[2]; output y[2]; x -> y }\n" + line)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, f"s.nn:2:{line.index(option) + 1}: error: {data.split('(')[0]}: ", " is available",
                   "generate fewer or smaller examples")
    assert not (tmp_path / "run").exists()


def test_the_grid_centres_keep_their_order(tmp_path):
    from nngraph.data.loading import load_dataset
    from nngraph.spec.parser import parse_fragment

    data = load_dataset(parse_fragment("grid(side=3, spacing=1, n=9)", "value_only", "<t>"), tmp_path)
    assert data.info["centres"].tolist() == [[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]


def test_an_optimizer_state_that_overflowed_is_reported_not_written(tmp_path):
    # a slope of 1e30: the loss saturates at a finite 3.7e28, Adam's squared gradients overflow float32 to inf; the
    # run said it trained (exit 0) and wrote them, and `eval` then refused its checkpoint as 'the file was changed'
    write(tmp_path, "s.nn", "model m { input x[2]; layer h[4] leaky_relu(slope=1e30); output y[1] sigmoid; x -> h -> y }\n"
                            "train { model m; data xor; loss bce(y); optimizer adam; batch 4; epochs 2 }\n")
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, "error: training diverged: the state 'optimizer.exp_avg_sq.", "holds NaN or infinite values "
                   "(an overflow of float32); it is not written", "hint: lower the learning rate", seconds=15)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
    write(tmp_path, "s.nn", (tmp_path / "s.nn").read_text().replace("1e30", "0.1"))
    assert run_nngraph("train", "s.nn", "--out", "ok", "-q", cwd=tmp_path).code == 0
    with np.load(tmp_path / "ok" / "checkpoint.npz") as saved:
        assert all(np.isfinite(saved[k]).all() for k in saved.files if saved[k].dtype.kind == "f")


ELMAN = """model m {
  input x[1] sequence
  layer h[32] tanh
  output y[1] identity
  x -> h
  h -> h delay 1
  h -> y
}
train { model m; data DATA; loss mse(y); optimizer adam(lr=1e-2); batch 16; epochs 1 }
"""


@pytest.mark.parametrize("data, bptt, marker, fragments", [
    # bptt 1 on 10^6 steps: one step of 10^6 gradient steps (the memory estimate counts one window)
    ("sine(n=2, length=1000000)", "\nbptt 1", "bptt 1", ("(bptt=1 x sequence length=1,000,000 x batch=2) makes "
                                                          "6,000,000 example passes, 1,000,000 gradient steps",
                                                          "hint: raise bptt")),
    ("sine(n=4, length=3000000)", "", "sine(", ("(sequence length=3,000,000 x batch=4)",
                                                "hint: lower sequence length")),
])
def test_a_recurrent_step_beyond_the_work_bound_is_refused_when_the_data_is_known(tmp_path, data, bptt, marker,
                                                                                   fragments):
    text = ELMAN.replace("DATA", data).replace("epochs 1 }", f"epochs 1 {bptt}\n}}")
    number, line = next((i, t) for i, t in enumerate(text.splitlines(), 1) if marker in t)
    write(tmp_path, "s.nn", text)
    run = run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path)
    assert_refused(run, f"s.nn:{number}:{line.index(marker) + 1}: error: one training step ", *fragments, seconds=15)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["viz", "sample"])
def test_an_output_that_is_the_current_folder_is_refused_as_a_folder(tmp_path, command):
    # `-o .`: 'internal error: ValueError: PosixPath('.') has an empty name' (exit 70) while suggesting a name
    write(tmp_path, "s.nn", "model r { visible v[4] bernoulli; hidden h[2] bernoulli; v <-> h }\n"
                            "train { model r; data bars(size=2); method cd(k=1); batch 4; epochs 1 }\n")
    args = ("viz", "s.nn", "-o", ".") if command == "viz" else ("sample", "s.nn", "--checkpoint", "r/checkpoint.npz",
                                                                 "-o", ".")
    if command == "sample":
        assert run_nngraph("train", "s.nn", "--out", "r", "-q", cwd=tmp_path).code == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_refused(run_nngraph(*args, cwd=tmp_path), "error: cannot write .: it is a folder",
                   "hint: give the name of a file to write", seconds=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("activation, value, shown", [("leaky_relu(slope=inf)", "inf", "'inf'"),
                                                      ("elu(alpha=nan)", "nan", "'nan'"),
                                                      ('leaky_relu(slope="x")', '"x"', "'x'"),
                                                      ("leaky_relu([1, 2])", "[1, 2]", "[1, 2]"),
                                                      ("leaky_relu(slope=true)", "true", "True")])
def test_an_activation_option_that_is_no_number_is_refused_at_it(tmp_path, activation, value, shown):
    # passed check; train was 'internal error: UFuncTypeError: ufunc 'multiply' did not contain a loop...' (exit
    # 70), or for [1, 2] a broadcast ValueError; slope=true trained with a slope of 1
    line = f"model m {{ input x[2]; layer h[4] {activation}; output y[1] sigmoid; x -> h -> y }}\n"
    write(tmp_path, "s.nn", line + "train { model m; data xor; loss bce(y); epochs 1 }\n")
    name, option = activation.split("(")[0], "slope" if "leaky" in activation else "alpha"
    for command in ("check", "train"):
        assert_refused(run_nngraph(command, "s.nn", cwd=tmp_path),
                       f"s.nn:1:{line.index(value) + 1}: error: {name} {option}: expected a number, got {shown}")


PACKED_GAN = """model g { noise z[2] normal; layer h[8] relu; output p[2] identity; z -> h -> p }
model d { input p[16]; layer h[8] tanh; output real[1] sigmoid; p -> h -> real }
train { data ring(n=200); method gan(generator=g, discriminator=d, pack=8); SETTINGS; epochs 1 }
"""


@pytest.mark.parametrize("settings, marker, fragment", [
    ("batch 4", "8)", "gan: pack=8 examples judged together, more than the batch of 4 holds"),
    ("batch 14; validation 0.02", "validation 0.02", "the validation split holds 4 examples, fewer than the 8"),
    ("batch 49", "batch 49", "the training split's last batch holds 4 examples, fewer than the 8"),
])
def test_a_pack_larger_than_a_batch_or_a_split_is_refused(tmp_path, settings, marker, fragment):
    # 'internal error: ValueError: cannot reshape array of size 0 into shape (0,newaxis)' (exit 70): no whole pack
    text = PACKED_GAN.replace("SETTINGS", settings)
    line = text.splitlines()[2]
    write(tmp_path, "s.nn", text)
    assert_refused(run_nngraph("train", "s.nn", "--out", "run", cwd=tmp_path),
                   f"s.nn:3:{line.index(marker) + 1}: error: {fragment}", seconds=10)
    assert not (tmp_path / "run").exists()


def test_eval_data_smaller_than_a_pack_is_refused_at_the_data(tmp_path):
    write(tmp_path, "s.nn", PACKED_GAN.replace("SETTINGS", "batch 8"))
    assert run_nngraph("train", "s.nn", "--out", "run", "-q", cwd=tmp_path).code == 0
    run = run_nngraph("eval", "s.nn", "--checkpoint", "run/checkpoint.npz", "--data", "ring(n=5)", cwd=tmp_path)
    assert_refused(run, "error: --data holds 5 examples, fewer than the 8 the discriminator judges together", seconds=10)
    run = run_nngraph("eval", "s.nn", "--checkpoint", "run/checkpoint.npz", "--data", "ring(n=16)", cwd=tmp_path)
    assert run.code == 0, run.output


@pytest.mark.parametrize("output", ["/dev/full", "noext", "out.txt"])
def test_convert_to_a_name_of_no_spec_surface_names_the_output_without_a_position(tmp_path, output):
    # was '/dev/full:1:1: error: /dev/full: unknown spec suffix' at a line of a file nobody wrote
    write(tmp_path, "s.nn", "model m { input x[2]; output y[1]; x -> y }\n")
    run = run_nngraph("convert", "s.nn", "-o", output, cwd=tmp_path)
    assert_refused(run, f"error: cannot write {output}: a spec's name ends in .nn, .yaml, .yml", "hint: e.g. -o s.yaml")
    assert ":1:1:" not in run.output


@pytest.mark.parametrize("value, dtype, bound", [("1e30", "", "float32's range (|log_std| at most 44.4)"),
                                                 ("-1e30", "", "float32's range (|log_std| at most 44.4)"),
                                                 ("700", "", "float32's range"),
                                                 ("710", "; dtype float64", "float64's range (|log_std| at most 354.9)")])
def test_a_gaussian_policys_log_std_whose_variance_overflows_is_refused_at_it(tmp_path, value, dtype, bound):
    # trained into 'training diverged: pg_loss is nan in update 1', whose hint said to lower the learning rate
    pytest.importorskip("gymnasium")
    line = f"train {{ model m; env mountaincar_continuous(n=2); method ppo(rollout=16, log_std={value}); steps 64{dtype} }}\n"
    write(tmp_path, "s.nn", "model m { input obs[2]; layer h[8] tanh; output pi[1]; output v[1]; obs -> h -> pi; "
                            "h -> v }\n" + line)
    assert_refused(run_nngraph("check", "s.nn", cwd=tmp_path),
                   f"s.nn:2:{line.index('log_std=') + 9}: error: log_std=", "the policy's variance exp(2 log_std) is "
                   f"beyond {bound}")
