"""One training run end to end: data, compile, method, loop, outputs. The CLI and the API call this."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nngraph.backend import get_backend
from nngraph.errors import BuildError, DataError, TrainingError
from nngraph.graph.check import CheckedSpec
from nngraph.graph.training import TrainConfig


@dataclass
class Session:
    """Everything a run needs, built once: the checked spec, config, data splits and the method."""

    checked: CheckedSpec
    config: TrainConfig
    splits: object
    method: object
    backend: object


def spec_folder(checked: CheckedSpec) -> Path:
    path = Path(checked.spec.path)
    return path.resolve().parent if path.exists() else Path.cwd()


def prepare(checked: CheckedSpec, train_name: str | None = None, backend: str = "numpy",
            dtype: str | None = None, data=None) -> Session:
    """Load and split the data, compile the model(s), and build the training method."""
    from nngraph.data import load_dataset, split_dataset

    config = checked.train(train_name)
    chosen = get_backend(backend, dtype or config.dtype)
    method = build_method(checked, config, chosen)  # before the data: a refusal should come first
    if config.env is not None and data is None:
        return Session(checked, config, None, method, chosen)  # an agent's data is its environment
    dataset = data if data is not None else load_dataset(config.data, spec_folder(checked), seed=config.seed)
    method.check_data(dataset, config.data.span if config.data else None)
    splits = split_dataset(dataset, config.test, config.validation, config.seed,
                           span=config.spans.get("test") or config.spans.get("validation"))
    return Session(checked, config, splits, method, chosen)


def build_method(checked: CheckedSpec, config: TrainConfig, backend):
    """The Method for `config.method`, from the module its registry entry names (graph/methods.py),
    imported only when a run uses it."""
    import importlib

    from nngraph.graph.methods import METHODS

    return importlib.import_module(METHODS[config.method.name].module).build(checked, config, backend)


def run_training(checked: CheckedSpec, train_name: str | None = None, out=None, resume=None,
                 backend: str = "numpy", dtype: str | None = None, quiet: bool = True,
                 threads: int | None = None, overwrite: bool = False) -> dict:
    """Train as the spec says; write the run folder; return summary.json's content.
    `out`: the run folder; one that holds a run already is refused unless `overwrite` (its run files are
    deleted first). `resume`: continue the run in this folder.
    `threads`: threads for numpy's BLAS and the compiled kernels on the numpy backend (None: the cores
    free when training starts). Ctrl-C stops training with `train.loop.TrainingInterrupted` after writing
    a checkpoint to resume from."""
    from nngraph.backend.threads import compute_threads, free_cores
    from nngraph.graph.memory import out_of_memory, require_training_memory

    if resume is not None and out is not None and Path(out) != Path(resume):
        raise TrainingError(f"--out {out} and --resume {resume} name two folders; a resumed run stays in its own",
                            None, "give only --resume")
    config = checked.train(train_name)
    require_training_memory(checked.models, config, dtype, resume is not None)  # in the dtype really used
    threads = threads or free_cores()
    try:
        with compute_threads(threads if backend == "numpy" else None):
            return _run_training(checked, train_name, out, resume, backend, dtype, quiet, overwrite)
    except MemoryError:
        raise out_of_memory(checked.models, config, dtype, resume is not None) from None


def _run_training(checked, train_name, out, resume, backend, dtype, quiet, overwrite) -> dict:
    from nngraph.train.loop import fit
    from nngraph.train.loop import resume as resume_fit
    from nngraph.train.outputs import make_run_dir, summarize

    session = prepare(checked, train_name, backend, dtype)
    config, splits, method = session.config, session.splits, session.method
    run = make_run_dir(checked.spec.path, resume or out, spec_text=checked.spec.source,
                       resume=resume is not None, overwrite=overwrite)
    rng = np.random.default_rng(config.seed)
    start = time.perf_counter()
    if config.env is not None:
        history, test = _train_agent(method, config, run, rng, resume, quiet)
    elif resume is not None:
        history = resume_fit(method, run.checkpoint, splits.train, splits.validation, config, run, rng,
                             quiet=quiet)
    else:
        history = fit(method, splits.train, splits.validation, config, run, rng, quiet=quiet)
    if config.env is None:
        test = method.evaluate(splits.test) if splits.test is not None and len(splits.test) else None
    summary = summarize(history, spec_hash=run.spec_hash, seed=config.seed, backend=session.backend.name,
                        dtype=str(session.backend.dtype), wall_time=time.perf_counter() - start, test=test)
    summary["run_dir"] = str(run.path)
    summary["final"] = {**{f"train_{k}": v for k, v in summary["train"].items()},
                        **{f"val_{k}": v for k, v in summary["validation"].items()},
                        **{f"test_{k}": v for k, v in summary["test"].items()}}
    run.finish(history.records, summary)
    return summary


def _train_agent(agent, config, run, rng, resume, quiet):
    """Reinforcement learning: the agent's own loop, then its deterministic evaluation as the test."""
    from nngraph.train.agent import train_agent

    history = train_agent(agent, config, run, rng, run.checkpoint if resume is not None else None, quiet)
    return history, agent.evaluate_episodes()


def load_trained(checked: CheckedSpec, train_name, checkpoint, backend: str = "numpy", data=None) -> Session:
    """A session whose method holds the parameters of a finished run's checkpoint."""
    from nngraph.train.checkpoint import load_checkpoint, state_layout
    from nngraph.train.loop import BEST_PREFIX, method_state
    from nngraph.train.outputs import spec_hash

    session = prepare(checked, train_name, backend, data=data)
    layout = state_layout(session.method, BEST_PREFIX)
    state, _ = load_checkpoint(checkpoint, spec_hash(checked.spec.source), layout)
    session.method.load_state(method_state(state))
    return session


def run_evaluation(checked: CheckedSpec, train_name, checkpoint, backend: str = "numpy") -> dict:
    session = load_trained(checked, train_name, checkpoint, backend)
    if session.config.env is not None:
        return {"test": session.method.evaluate_episodes()}  # the deterministic policy's episodes
    splits = {"train": session.splits.train, "validation": session.splits.validation,
              "test": session.splits.test}
    return {name: session.method.evaluate(part) for name, part in splits.items() if part is not None and len(part)}


def run_prediction(checked: CheckedSpec, train_name, checkpoint, input_path, output_path, unit=None,
                   backend: str = "numpy"):
    from nngraph.atomic import atomic_save_npy

    x = _read_inputs(input_path)
    session = load_trained(checked, train_name, checkpoint, backend)
    # a method that predicts with a model the train block does not name (a gan's discriminator) says which
    model = getattr(session.method, "predict_model", None) or checked.models[session.config.model]
    if unit is not None and unit not in model.graph:
        from nngraph.errors import did_you_mean

        raise DataError(f"no unit named '{unit}'", None, did_you_mean(unit, list(model.graph)))
    from nngraph.data.dataset import Dataset

    session.method.check_data(Dataset(x, None, "unsupervised", name=str(input_path)), None)
    y = session.method.predict(x.astype(np.float32), unit)
    atomic_save_npy(output_path, y)
    return y.shape


def _read_inputs(path) -> np.ndarray:
    from nngraph.safe_files import load_npy

    x = load_npy(path, error=lambda message, hint=None: DataError(f"--input: {message}", None, hint))
    if x.dtype.kind not in "fiub":
        raise DataError(f"{path} does not hold a numeric array")
    return x


def run_sampling(checked: CheckedSpec, train_name, checkpoint, request: dict, backend: str = "numpy") -> str:
    """`nngraph sample`: the method of the trained model decides what a sample is; returns a message.
    Pictures go to `request["output"]`, else into the checkpoint's run folder."""
    request = {**request, "run_folder": Path(checkpoint).parent}
    session = load_trained(checked, train_name, checkpoint, backend)
    sampler = getattr(session.method, "sample", None)
    if sampler is None:
        raise BuildError(f"method '{session.config.method.name}' on model '{session.config.model}' "
                         "does not generate samples", session.config.method.span,
                         "sampling is for character models, Boltzmann machines, VAEs and GANs")
    return sampler(request, session.splits)
