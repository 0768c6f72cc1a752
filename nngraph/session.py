"""One training run end to end: data, compile, method, loop, outputs. The CLI and the API call this."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nngraph.backend import get_backend
from nngraph.backend.core import GPU_PRODUCTS
from nngraph.errors import BuildError, DataError, TrainingError, ValidationError, plural
from nngraph.graph.check import CheckedSpec, one_value_batchnorms
from nngraph.graph.training import TrainConfig

# A run's overflow and invalid arithmetic (leaky_relu(slope=3e38) within float32; lr=1e10) ends as NaN or inf that
# the run itself reports: the training loop stops with 'training diverged: loss is nan at epoch E, step S', and
# evaluation prints the figures. numpy's RuntimeWarnings on the way were Python warning text on stderr.
def quiet_float_errors(command):
    """`command` under np.errstate(all="ignore"), a fresh one each call (one instance is not meant to be entered
    by two calls at once)."""
    import functools

    @functools.wraps(command)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return command(*args, **kwargs)
    return run


@dataclass
class Session:
    """Everything a run needs, built once: the checked spec, config, data splits and the method."""

    checked: CheckedSpec
    config: TrainConfig
    splits: object
    method: object
    backend: object
    preprocessing: object = None  # a trained model's (load_trained): what its training data went through


def spec_folder(checked: CheckedSpec) -> Path:
    path = Path(checked.spec.path)
    return path.resolve().parent if path.exists() else Path.cwd()


def prepare(checked: CheckedSpec, train_name: str | None = None, backend: str = "numpy",
            dtype: str | None = None, data=None) -> Session:
    """Load and split the data, compile the model(s), and build the training method."""
    config = checked.train(train_name)
    chosen = command_backend(config, backend, dtype)
    method = build_method(checked, config, chosen)  # before the data: a refusal should come first
    if config.env is not None and data is None:
        return Session(checked, config, None, method, chosen)  # an agent's data is its environment
    splits = _splits(checked, config, method, chosen.dtype, data)
    _check_last_batch(checked, config, len(splits.train))
    _check_whole_packs(config, method, splits)
    return Session(checked, config, splits, method, chosen)


def last_batch_rows(rows: int, batch: int) -> int:
    """The rows of an epoch's last batch (section 7: slices of `batch` rows, the last one what remains)."""
    return rows % batch or batch if rows > batch else rows


def _check_last_batch(checked: CheckedSpec, config: TrainConfig, rows: int) -> None:
    """A training split that leaves a last batch of one row, where a batchnorm needs two (graph/check.py refuses
    `batch 1` itself): refused before the run starts, with the nearest batch sizes that leave none."""
    units = one_value_batchnorms(checked.models, config) if last_batch_rows(rows, config.batch) == 1 else []
    if not units:
        return
    nearest = (b for d in range(1, max(config.batch, rows) + 1) for b in (config.batch - d, config.batch + d))
    fits = [b for b in nearest if 2 <= b <= rows and last_batch_rows(rows, b) != 1][:2]
    hint = f"use batch {' or '.join(map(str, fits))}" if fits else "train on at least 2 examples"
    raise DataError(f"the training split's {rows} examples leave a last batch of one row (batch {config.batch}), and "
                    f"batchnorm on '{units[0]}' normalises each of its values over the batch's rows: one row has no "
                    "variance", config.spans.get("batch") or (config.data.span if config.data else None),
                    hint + ", or `layernorm` (each example on its own)")


def _check_whole_packs(config: TrainConfig, method, splits) -> None:
    """A method that judges `evaluation_unit` examples together (a gan's `pack`) needs a whole one in every
    training batch and in each evaluated split: a validation split or a last batch smaller than a pack was
    'internal error: ValueError: cannot reshape array of size 0' (exit 70)."""
    parts = [("the training split's last batch", last_batch_rows(len(splits.train), config.batch), "batch"),
             ("the validation split", len(splits.validation or ()), "validation"),
             ("the test split", len(splits.test or ()), "test")]
    for what, rows, setting in parts:
        _require_whole_unit(method, rows, what, config.spans.get(setting) or (config.data.span if config.data else None))


def _require_whole_unit(method, rows: int, what: str, span) -> None:
    unit = getattr(method, "evaluation_unit", 1)
    if 0 < rows < unit:
        raise DataError(f"{what} holds {rows} examples, fewer than the {unit} the discriminator judges together "
                        f"(pack={unit})", span, f"give at least {unit} examples (a larger split, a batch that "
                        "divides the training split), or pack fewer")


def command_backend(config: TrainConfig, backend: str, dtype: str | None, training: bool = True):
    """The backend a command runs on, computing in `dtype` (`--dtype`) or else the spec's. A GPU products mode
    (tf32, bfloat16) elsewhere than on cupy: refused for training (at the spec's `dtype` setting when the spec
    asked for it), float32 for evaluation, prediction and sampling (the parameters are float32 either way)."""
    name = dtype or config.dtype
    if name in GPU_PRODUCTS and backend != "cupy":
        if not training:
            name = "float32"
        elif dtype is None:
            raise ValidationError(f"dtype {name} is a GPU mode (float32 values, matrix products in {name} on an "
                                  f"NVIDIA GPU); the {backend} backend computes in float32 or float64",
                                  config.spans.get("dtype"), "train with --backend cupy, or set `dtype float32`")
    return get_backend(backend, name)


def _reads_sequences(method) -> bool:
    """A recurrent model's data: integer targets (n, T) label each step (data/catalog.Request.sequences)."""
    return bool(getattr(getattr(method, "plan", None), "sequence", False))


def _splits(checked: CheckedSpec, config: TrainConfig, method, dtype, data=None, scaler=None):
    """The train block's data (or `data`) loaded in `dtype` (the run's), checked by the method and split as the
    block says; scaled with `scaler` (a trained model's) where given, else with statistics of the training
    split."""
    from nngraph.data import load_dataset, split_dataset

    dataset = data if data is not None else load_dataset(config.data, spec_folder(checked), seed=config.seed,
                                                         dtype=dtype, sequences=_reads_sequences(method))
    span = config.data.span if config.data else None
    method.check_data(dataset, span)
    method.check_targets(dataset, span)
    return split_dataset(dataset, config.test, config.validation, config.seed,
                         span=config.spans.get("test") or config.spans.get("validation"), scaler=scaler)


def build_method(checked: CheckedSpec, config: TrainConfig, backend):
    """The Method for `config.method`, from the module its registry entry names (graph/methods.py),
    imported only when a run uses it."""
    import importlib

    from nngraph.graph.methods import METHODS

    return importlib.import_module(METHODS[config.method.name].module).build(checked, config, backend)


@quiet_float_errors
def run_training(checked: CheckedSpec, train_name: str | None = None, out=None, resume=None,
                 backend: str = "numpy", dtype: str | None = None, quiet: bool = True,
                 threads: int | None = None, overwrite: bool = False, loggers=()) -> dict:
    """Train as the spec says; write the run folder; return summary.json's content.
    `out`: the run folder; one that holds a run already is refused unless `overwrite` (its run files are
    deleted first). `resume`: continue the run in this folder.
    `threads`: threads for numpy's BLAS and the compiled kernels on the numpy backend (None: the cores
    free when training starts; under MPI shared by the ranks on this machine). `loggers`: experiment logs
    (`train.logs.make_loggers`). Ctrl-C stops training with `train.loop.TrainingInterrupted` after writing a
    checkpoint to resume from.
    Under `mpiexec -n N` the run is data-parallel (train/parallel.py): only rank 0 writes the run folder, logs
    and prints, and a rank that fails stops the whole job."""
    from nngraph.backend.threads import compute_threads
    from nngraph.graph.memory import out_of_memory, require_training_memory
    from nngraph.train.outputs import CHECKPOINT_FILE, release_run_folders
    from nngraph.train.parallel import abort_on_error

    for option, folder in (("--out", out), ("--resume", resume)):
        if folder is not None and not os.fspath(folder).strip():  # `--out "$RUN"` with RUN unset wrote into .
            raise TrainingError(f"{option} is an empty path", None,
                                f"name the run folder; for the current folder, say {option} .")
    if resume is not None and out is not None and Path(out) != Path(resume):
        raise TrainingError(f"--out {out} and --resume {resume} name two folders; a resumed run stays in its own",
                            None, "give only --resume")
    config = checked.train(train_name)
    require_training_memory(checked.models, config, dtype, resume is not None)  # in the dtype really used
    threads = threads or (_recorded_threads(Path(resume) / CHECKPOINT_FILE) if resume else None) \
        or _default_threads()
    try:
        with abort_on_error(), compute_threads(threads if backend == "numpy" else None):
            return _run_training(checked, train_name, out, resume, backend, dtype, quiet, overwrite, loggers)
    except MemoryError:
        raise out_of_memory(checked.models, config, dtype, resume is not None) from None
    finally:
        release_run_folders()


def _recorded_threads(checkpoint) -> int | None:
    """The threads the checkpoint's run trained on (run.json's `threads`, in its checkpoints too): OpenBLAS sums a
    product in another order on another thread count, so a resume on the same count goes on with the same bits,
    and `eval` gives the run's summary's figures. None where it cannot be read (the command then reports what is
    wrong) or was not recorded."""
    from nngraph.train.checkpoint import read_meta

    try:
        threads = read_meta(checkpoint).get("run", {}).get("threads")
    except Exception:  # noqa: BLE001 (judged again, and reported, where the checkpoint is loaded)
        return None
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else None


def on_trained_threads(command):
    """`command` (eval, predict or sample of a checkpoint) with the BLAS and the kernels on the threads the
    checkpoint's run trained on (else the free cores, as training takes them), on numpy."""
    import functools
    import inspect

    signature = inspect.signature(command)

    @functools.wraps(command)
    def run(*args, **kwargs):
        from nngraph.backend.threads import compute_threads

        given = signature.bind(*args, **kwargs)
        given.apply_defaults()
        on_numpy = given.arguments["backend"] == "numpy"
        threads = (_recorded_threads(given.arguments["checkpoint"]) or _default_threads()) if on_numpy else None
        with compute_threads(threads):
            return command(*args, **kwargs)
    return run


def _default_threads() -> int:
    """The free cores, shared by the MPI ranks on this machine."""
    from nngraph.backend.threads import free_cores
    from nngraph.train.parallel import world

    return max(1, free_cores() // world().local_size())


def _run_training(checked, train_name, out, resume, backend, dtype, quiet, overwrite, loggers) -> dict:
    from nngraph.train.logs import open_logs
    from nngraph.train.loop import check_augment, check_data_parallel, fit, restore
    from nngraph.train.outputs import CHECKPOINT_FILE, make_run_dir, spec_hash, summarize
    from nngraph.train.parallel import world

    ranks = world()
    ranks.use_device(backend)  # under MPI on GPUs: this rank's GPU, before any array is made
    session = prepare(checked, train_name, backend, dtype)
    config, splits, method = session.config, session.splits, session.method
    check_data_parallel(config, method, splits and splits.train)  # before the run folder is made
    if splits is not None:
        method.check_step_work(splits.train, config.data.value.span if config.data else None)
        check_evaluation_work(method, splits, config.data.value.span if config.data else None)
    check_augment(config, splits and splits.train)
    # only rank 0 makes and writes the run folder and logs; the others read the checkpoint they resume from
    run = make_run_dir(checked.spec.path, resume or out, spec_text=checked.spec.source,
                       resume=resume is not None, overwrite=overwrite,
                       inputs=_read_by(checked, train_name, None, {})) if ranks.writes else None
    folder = ranks.same_everywhere(str(run.path) if run is not None else None)
    rng = np.random.default_rng(config.seed)
    start = time.perf_counter()
    done, history = 0, None
    if resume is not None and config.env is None:  # judged first: a refused resume leaves the folder as it was
        done, history = restore(method, Path(folder) / CHECKPOINT_FILE, rng,
                                check=expectation(checked, config, method, "resume"))
    if run is not None:
        _record_start(run, session)
    quiet = quiet or not ranks.writes
    with open_logs(loggers if run is not None else [], folder, config, resumed=resume is not None) as logs:
        if config.env is not None:  # under MPI `run` is rank 0's alone: the others read the checkpoint by folder
            checkpoint = Path(folder) / CHECKPOINT_FILE if resume is not None else None
            (history, test), train = _train_agent(method, config, run, rng, checkpoint, quiet), None
        else:
            history = fit(method, splits.train, splits.validation, config, run, rng, done, history, quiet=quiet,
                          on_epoch=logs.epoch)
            test, train = (_final_evaluation(method, part) if part is not None and len(part) else None
                           for part in (splits.test, splits.train))  # eval mode, as `nngraph eval` measures
        summary = summarize(history, spec_hash=spec_hash(checked.spec.source), seed=config.seed,
                            backend=session.backend.name, dtype=session.backend.dtype_name,
                            wall_time=time.perf_counter() - start, test=test, train=train)
        if splits is not None and splits.validation is not None and len(splits.validation):
            # the validation figures are the final record's; what is no single figure (each label's accuracy) too
            summary["validation"].update(method.evaluation_details(splits.validation))
        if getattr(method, "pretraining", None):  # a DBN's layers: reconstruction errors around pretraining
            summary["pretraining"] = method.pretraining
        summary["run_dir"] = folder
        summary["final"] = {f"{prefix}_{k}": v for part, prefix in (("train", "train"), ("validation", "val"),
                                                                    ("test", "test")) for k, v in summary[part].items()}
        if ranks.parallel:
            summary["mpi_ranks"] = ranks.size
        if run is not None:
            run.finish(history.records, summary)
        logs.finish(summary)
    ranks.barrier()  # the run folder is whole before any rank returns
    return summary


def _train_agent(agent, config, run, rng, checkpoint, quiet):
    """Reinforcement learning: the agent's own loop, then its deterministic evaluation as the test."""
    from nngraph.train.agent import train_agent

    history = train_agent(agent, config, run, rng, checkpoint, quiet)
    return history, agent.evaluate_episodes()


def _record_start(run, session: Session) -> None:
    """The run folder's spec copy and run.json, and what every checkpoint of the run records."""
    from nngraph.data.preprocessing import Preprocessing
    from nngraph.train.provenance import run_record

    checked = session.checked
    preprocessing = (Preprocessing() if session.splits is None  # an agent: its data is its environment
                     else Preprocessing.of_training(session.splits.train, session.splits.scaler))
    saved, arrays = preprocessing.to_saved()
    record = run_record(checked, session.config, session.method, saved)
    if session.backend.name == "numpy":  # the threads compute_threads gave the BLAS and the kernels
        from nngraph.backend.accel import kernel_threads

        record["threads"] = kernel_threads()
    run.record_start(checked.spec.source, checked.spec.surface, record, arrays)


def expectation(checked: CheckedSpec, config: TrainConfig, method, command: str):
    """The check of a checkpoint's metadata against this spec's model, for `command` (its hints)."""
    from nngraph.train.outputs import spec_hash
    from nngraph.train.provenance import Expected, run_record

    return Expected(run_record(checked, config, method), spec_hash(checked.spec.source), command)


@dataclass
class Trained:
    """A finished run's method with its checkpoint's parameters, and the preprocessing its data had (None: the
    checkpoint is older than saved preprocessing)."""

    checked: CheckedSpec
    config: TrainConfig
    method: object
    backend: object
    preprocessing: object


def restore_trained(checked: CheckedSpec, train_name, checkpoint, backend: str = "numpy",
                    command: str = "eval", dtype: str | None = None) -> Trained:
    """The method of `train_name` holding the parameters of `checkpoint` (no data is read); the checkpoint
    must be of this spec's model (train/provenance.py)."""
    from nngraph.data.preprocessing import ARRAY_PREFIX, Preprocessing
    from nngraph.train.checkpoint import load_checkpoint, state_layout
    from nngraph.train.loop import BEST_PREFIX, method_state
    from nngraph.train.provenance import RUN_KEY

    config = checked.train(train_name)
    chosen = command_backend(config, backend, dtype, training=False)
    method = build_method(checked, config, chosen)
    check = expectation(checked, config, method, command)
    state, meta = load_checkpoint(checkpoint, None, state_layout(method, BEST_PREFIX), check)
    method.load_state(method_state(state))
    record = meta.get(RUN_KEY)
    saved = record.get("preprocessing") if isinstance(record, dict) else None
    arrays = {k: v for k, v in state.items() if k.startswith(ARRAY_PREFIX + ".")}
    preprocessing = None if saved is None else Preprocessing.from_saved(saved, arrays)
    return Trained(checked, config, method, chosen, preprocessing)


def _preprocessing(trained: Trained):
    """What training did to its data: as saved in the checkpoint, or for a checkpoint older than that, fitted
    again on the train block's data as training fitted it."""
    from nngraph.data.preprocessing import Preprocessing

    if trained.preprocessing is not None:
        return trained.preprocessing
    if trained.config.env is not None:  # an agent's observations come as they are
        return Preprocessing()
    splits = _splits(trained.checked, trained.config, trained.method, trained.backend.dtype)
    return Preprocessing.of_training(splits.train, splits.scaler)


def load_trained(checked: CheckedSpec, train_name, checkpoint, backend: str = "numpy",
                 command: str = "eval") -> Session:
    """A session whose method holds the parameters of a finished run's checkpoint, its data split as the
    train block says and scaled with the statistics the run fitted."""
    trained = restore_trained(checked, train_name, checkpoint, backend, command)
    # none saved (a checkpoint older than saved preprocessing): the data call's, fitted again
    scaler = trained.preprocessing.scaler if trained.preprocessing is not None else None
    splits = None if trained.config.env is not None else _splits(checked, trained.config, trained.method,
                                                                   trained.backend.dtype, scaler=scaler)
    return Session(checked, trained.config, splits, trained.method, trained.backend, trained.preprocessing)


@quiet_float_errors
@on_trained_threads
def run_evaluation(checked: CheckedSpec, train_name, checkpoint, backend: str = "numpy", data=None,
                   likelihood: int | None = None, refine: int = 0) -> dict:
    """Metrics of a trained checkpoint on each split of the train block's data; with `data` (a data call: an
    ast value), on all of that set instead, prepared as the training data was, under the key "data". A VAE's
    also add the importance-sampled log-likelihood (`likelihood` draws per example) and the figures under
    posteriors refined by `refine` steps (`vae_figures`)."""
    extra = {"likelihood": likelihood, "refine": refine} if likelihood or refine else None
    if data is None:
        session = load_trained(checked, train_name, checkpoint, backend)
        if extra:
            _check_vae_figures(session.method, session.config)
        if session.config.env is not None:
            return {"test": session.method.evaluate_episodes()}  # the deterministic policy's episodes
        check_evaluation_work(session.method, session.splits,
                              session.config.data.value.span if session.config.data else None)
        splits = {"train": session.splits.train, "validation": session.splits.validation,
                  "test": session.splits.test}
        if extra:
            _check_vae_work(checked, session.config, sum(len(p) for p in splits.values() if p is not None), **extra)
        return {name: _final_evaluation(session.method, part, extra) for name, part in splits.items()
                if part is not None and len(part)}
    from nngraph.data import load_dataset
    from nngraph.data.loading import read_as_trained

    trained = restore_trained(checked, train_name, checkpoint, backend)
    if extra:
        _check_vae_figures(trained.method, trained.config)
    loaded = load_dataset(read_as_trained(data, trained.config.data), Path.cwd(), seed=trained.config.seed,
                          base_is="the current folder", dtype=trained.backend.dtype,
                          sequences=_reads_sequences(trained.method))
    dataset = _preprocessing(trained).apply(loaded, getattr(data, "span", None))
    trained.method.check_data(dataset, getattr(data, "span", None))
    trained.method.check_targets(dataset, getattr(data, "span", None))
    _require_whole_unit(trained.method, len(dataset), "--data", getattr(data, "span", None))
    trained.method.check_evaluation_work(dataset, getattr(data, "span", None), "--data")
    if extra:
        _check_vae_work(checked, trained.config, len(dataset), **extra)
    return {"data": _final_evaluation(trained.method, dataset, extra)}


def check_evaluation_work(method, splits, span) -> None:
    """Every split a run (or `nngraph eval`) evaluates whole, within the work bound where an option multiplies
    the evaluation (a VAE's `samples`): the largest first, so one refusal names the most it asks for."""
    named = {"the training split": splits.train, "the validation split": splits.validation,
             "the test split": splits.test}
    for what, part in sorted(named.items(), key=lambda item: -len(item[1]) if item[1] is not None else 0):
        if part is not None and len(part):
            method.check_evaluation_work(part, span, what)


def _final_evaluation(method, data, vae: dict | None = None) -> dict:
    """A split's metrics (split across MPI ranks where they run) and the details that are no single figure
    (a multi-label task's accuracy of each label): what summary.json and `nngraph eval` report; a VAE's asked
    for figures (`vae_figures`) besides."""
    from nngraph.train.loop import evaluate

    figures = vae_figures(method, data, **vae) if vae else {}
    return {**evaluate(method, data), **method.evaluation_details(data), **figures}


def vae_figures(method, data, likelihood: int | None, refine: int) -> dict:
    """`log_likelihood` (importance sampling, `likelihood` draws per example); with `refine` steps the ELBO's
    parts under each example's refined posterior (`refined_loss`, `refined_recon`, `refined_kl`) and the
    likelihood with that proposal (`refined_log_likelihood`)."""
    figures = {}
    if likelihood:
        figures["log_likelihood"] = method.importance_log_likelihood(data, k=likelihood)["log_likelihood"]
    if refine:
        moments = method.refined_moments(data.x, refine)
        figures.update({f"refined_{k}": v for k, v in method.evaluate(data, moments).items()})
        if likelihood:
            figures["refined_log_likelihood"] = method.importance_log_likelihood(
                data, k=likelihood, moments=moments)["log_likelihood"]
    return figures


def _check_vae_work(checked: CheckedSpec, config: TrainConfig, rows: int, likelihood: int | None,
                    refine: int) -> None:
    """--likelihood K runs K passes an example (twice with --refine: under both posteriors), --refine N runs N
    passes with their backward passes: refused before the first when they come to more than WORK_LIMIT
    (--likelihood 1000000 was hours on a small VAE)."""
    from nngraph.graph.work import BACKWARD_PASSES, pass_flops, require_work

    likelihood = likelihood or 0
    per_example = likelihood * (2 if refine else 1) + refine * BACKWARD_PASSES
    asked = " and ".join(f"--{name} {value}" for name, value in (("likelihood", likelihood), ("refine", refine))
                         if value)
    require_work(rows * per_example, pass_flops([checked.models[m] for m in config.models]),
                 f"{asked} on {plural(rows, 'example')}",
                 "ask for fewer draws (--likelihood) or steps (--refine), or score fewer examples (--data)")


def _check_sampling_work(checked: CheckedSpec, config: TrainConfig, method, request: dict) -> None:
    """`sample`'s count options multiplied (--count x --steps: each bounded alone, 10^10 Gibbs sweeps together)
    and by the model's pass: refused before the first draw when they come to more than WORK_LIMIT."""
    from nngraph.graph.work import pass_flops, require_work

    if request.get("inputs") is not None:  # a fill-in of --input's examples: its first --count of them
        request = {**request, "count": min(int(request.get("count") or 64), len(request["inputs"]))}
    passes, asked = method.sample_passes(request)
    require_work(passes, pass_flops([checked.models[m] for m in config.models]), asked,
                 "ask for fewer samples (--count) or fewer rounds (--steps, --length)")


def _check_vae_figures(method, config) -> None:
    """--likelihood and --refine are a VAE's; say so at the method for any other."""
    if not hasattr(method, "refined_moments"):
        raise ValidationError(f"--likelihood and --refine apply to a VAE (method vae); this run trains by "
                              f"method {config.method.name}", config.method.span or config.span)


@quiet_float_errors
@on_trained_threads
def run_prediction(checked: CheckedSpec, train_name, checkpoint, input_path, output_path, unit=None,
                   backend: str = "numpy"):
    from nngraph.atomic import atomic_save_npy, atomic_write_text, refuse_overwriting

    refuse_overwriting(output_path, _read_by(checked, train_name, checkpoint, {"--input file": input_path}),
                       "write to another name, e.g. -o predictions.npy")
    table = Path(input_path).suffix.lower() == ".csv"  # read as the training csv was: after the checkpoint
    x = None if table else _read_array(input_path)
    trained, model = _predictor(checked, train_name, checkpoint, backend, unit)
    given = _read_table(input_path, trained, model) if table else _given_array(x, f"--input {input_path}", trained)
    y = _predicted(trained, model, given, unit)
    if Path(output_path).suffix.lower() == ".csv":
        from nngraph.data.prediction_table import prediction_table

        classes = _class_names(trained.method, unit, y, _preprocessing(trained).classes)
        atomic_write_text(output_path, prediction_table(y, unit or trained.method.predicted, classes))
    else:
        atomic_save_npy(output_path, y)
    return y.shape


@quiet_float_errors
@on_trained_threads
def predict_values(checked: CheckedSpec, train_name, checkpoint, x, unit=None, backend: str = "numpy"):
    """`nngraph.predict`: `run_prediction`'s values for the examples of an array, returned."""
    trained, model = _predictor(checked, train_name, checkpoint, backend, unit)
    return _predicted(trained, model, _given_array(np.asarray(x), "x", trained), unit)


def _predictor(checked: CheckedSpec, train_name, checkpoint, backend: str, unit):
    """The trained method of `checkpoint` and the model it predicts with (a gan's discriminator, which the train
    block does not name, is the method's `predict_model`); `unit` checked to be one of its units."""
    trained = restore_trained(checked, train_name, checkpoint, backend, "predict")
    model = getattr(trained.method, "predict_model", None) or checked.models[trained.config.model]
    if unit is not None and unit not in model.graph:
        from nngraph.errors import did_you_mean

        raise DataError(f"no unit named '{unit}'", None, did_you_mean(unit, list(model.graph)))
    return trained, model


def _predicted(trained: Trained, model, given, unit) -> np.ndarray:
    """`unit`'s values for the examples of `given` (a Dataset), prepared as the training data was."""
    inputs = _preprocessing(trained).apply(given)
    _check_input_shape(model, inputs)
    trained.method.check_data(inputs, None)
    return trained.method.predict(inputs.x.astype(trained.backend.dtype, copy=False), unit)  # integers too


def _class_names(method, unit, values, names) -> list[str] | None:
    """A classifier's class names in the order of their numbers (the training csv's, else the numbers); None
    where `predict`'s values of `unit` are not class probabilities."""
    if not method.predicts_classes(unit) or values.ndim != 2:
        return None
    count = max(values.shape[1], 2)
    return list(names) if names is not None and len(names) == count else [str(i) for i in range(count)]


def _read_by(checked: CheckedSpec, train_name, checkpoint, given: dict) -> dict:
    """The files a command after training reads or its run trained on (what each is -> its path): no output may
    go over one."""
    from nngraph.data.loading import data_files

    config = checked.train(train_name)
    data = {f"training data ({path.name})": path for path in data_files(config.data, spec_folder(checked))}
    return {"spec": checked.spec.path, "checkpoint": checkpoint, **given, **data}


def _check_input_shape(model, inputs) -> None:
    """Rows of the right size and the wrong shape: say how to give them the model's (the method's own check
    speaks of a data call, which `predict` has not)."""
    import math

    units = [u for u in model.units if u.role in ("input", "visible")]
    if model.is_recurrent or len(units) != 1:
        return
    want, got = model.shapes[units[0].name], inputs.feature_shape
    if got != want and math.prod(got) == math.prod(want):
        raise DataError(f"--input {inputs.name} has examples of shape {list(got)}, but model '{model.name}' takes "
                        f"{units[0].name}{list(want)}", None,
                        f"save the array as [n, {', '.join(map(str, want))}] (numpy: "
                        f"x.reshape(len(x), {', '.join(map(str, want))}))")


def _given_array(x: np.ndarray, what: str, trained):
    """The examples of `what` (`--input X.npy`, `nngraph.predict`'s array) as an unlabelled Dataset, checked."""
    from nngraph.data.arrays import refuse_non_finite
    from nngraph.data.dataset import Dataset

    if x.dtype.kind not in "fiub" or x.ndim == 0 or len(x) == 0:
        raise DataError(f"{what}: expected a numeric array of examples as rows [n, ...], n >= 1; got "
                        f"{x.dtype} {list(x.shape)}")
    refuse_non_finite(x, f"the examples of {what}", trained.backend.dtype,
                      lambda message, hint: DataError(message, None, hint.replace("training", "predicting")))
    return Dataset(x, None, "unsupervised", name=what.removeprefix("--input "))


def _read_table(path, trained, model):
    """`predict --input new.csv`'s examples as an unlabelled Dataset, the table read as the training csv was (its
    target column left out where the file has it: `read_inputs_as_trained`)."""
    from nngraph.data import load_dataset
    from nngraph.data.dataset import Dataset
    from nngraph.data.loading import read_inputs_as_trained
    from nngraph.spec import ast

    width = sum(math.prod(model.shapes[u.name]) for u in model.units if u.role in ("input", "visible"))
    call = read_inputs_as_trained(ast.String(str(path)), trained.config.data, width)
    table = load_dataset(call, Path.cwd(), base_is="the current folder", dtype=trained.backend.dtype)
    info = {key: value for key, value in table.info.items() if key != "classes"}  # its targets are not used
    return Dataset(table.x, None, "unsupervised", name=str(path), info=info)


def _read_array(path) -> np.ndarray:
    from nngraph.safe_files import load_npy

    x = load_npy(path, error=lambda message, hint=None: DataError(f"--input: {message}", None, hint))
    if x.dtype.kind not in "fiub":
        raise DataError(f"{path} does not hold a numeric array")
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"--input {path} holds no examples (shape {list(x.shape)})", None,
                        "save the examples as rows: [n, ...], n >= 1")
    return x


@quiet_float_errors
@on_trained_threads
def run_sampling(checked: CheckedSpec, train_name, checkpoint, request: dict, backend: str = "numpy") -> str:
    """`nngraph sample`: the method of the trained model decides what a sample is; returns a message.
    Pictures go to `request["output"]`, else into the checkpoint's run folder. `request["fill"]`: fill in the
    missing part of examples instead (train/fill_in.py). `request["input"]`: a .npy of the examples to work on
    (to fill in, or a super-resolution model's low-resolution images), prepared as the training data was.
    The BLAS and the compiled kernels get the run's threads, or the free cores (a fill-in's many small products
    slow down many times over when more threads than cores compete for them)."""
    return _sample(checked, train_name, checkpoint, request, backend)


def _refuse_unused_sampling_options(method, config, request: dict) -> None:
    """`--prime` and `--temperature` shape a character model's text, `--means` a Boltzmann machine's or deep
    belief net's samples: given for another model, they would be ignored without a word."""
    name, span = config.method.name, config.method.span or config.span
    text = getattr(method, "vocabulary", None) is not None
    for option, key in (("--prime", "prime"), ("--temperature", "temperature")):
        if request.get(key) is not None and not text:
            raise BuildError(f"{option} shapes a character model's text; method '{name}' on this model samples "
                             "no text", span, f"leave {option} out")
    if request.get("means") and not getattr(method, "takes_means", False):
        raise BuildError(f"--means gives a Boltzmann machine's visible probabilities; method '{name}' has none",
                         span, "leave --means out")


def _sample(checked: CheckedSpec, train_name, checkpoint, request: dict, backend: str) -> str:
    from nngraph.atomic import refuse_overwriting
    from nngraph.train.fill_in import fill_samples, given_inputs

    request = {**request, "run_folder": Path(checkpoint).parent}
    if request.get("output") is not None:
        mask = request.get("fill") if str(request.get("fill")).endswith(".npy") else None
        given = {"--input file": request.get("input"), "--fill mask": mask}
        refuse_overwriting(request["output"], _read_by(checked, train_name, checkpoint, given),
                           "write to another name, e.g. -o samples.png")
    session = load_trained(checked, train_name, checkpoint, backend, "sample")
    method = session.method
    if request.get("input") is not None:
        if not request.get("fill") and not getattr(method, "samples_from_inputs", False):
            raise DataError("--input gives the examples to fill in (with --fill), or a super-resolution model's "
                            f"low-resolution images; method '{session.config.method.name}' samples without it",
                            None, "leave --input out, or add --fill")
        x = _read_array(request["input"])
        trained = Trained(checked, session.config, method, session.backend, session.preprocessing)
        request["inputs"] = inputs = given_inputs(x, request["input"], _preprocessing(trained).apply)
        if not request.get("fill"):  # a fill-in's examples are checked against what the method fills in
            model = checked.models[session.config.model]
            _check_input_shape(model, inputs)
            method.check_data(inputs, None)
    _refuse_unused_sampling_options(method, session.config, request)
    if request.get("label") is not None and not getattr(method, "takes_label", False):
        raise BuildError(f"--label asks for samples of one class, which method '{session.config.method.name}' does "
                         "not draw", session.config.method.span,
                         "class-conditional samples are a deep belief net's: `method dbn(..., labels=true)`")
    _check_sampling_work(checked, session.config, method, request)
    if request.get("fill"):
        return fill_samples(method, request, session.splits)
    if request.get("prior") is not None:
        raise DataError("--prior weighs the noise prior of a GAN's fill-in, and no --fill was given",
                        hint="add --fill, or leave --prior out")
    sampler = getattr(method, "sample", None)
    if sampler is None:
        raise BuildError(f"method '{session.config.method.name}' on model '{session.config.model}' "
                         "does not generate samples", session.config.method.span,
                         "sampling is for character models, Boltzmann machines, VAEs and GANs")
    return sampler(request, session.splits)
