"""Experiment logs beside metrics.jsonl: TensorBoard event files and MLflow runs (`nngraph train --log`).

The training run calls one `RunLogs` (a list of loggers) at three moments: the start (the run folder and the
resolved train settings), each epoch (its record, as written to metrics.jsonl) and the end (summary.json's
content, or the exception that stopped the run). A logger is any object with those three methods; each
backend lives in one class here, so the loop knows none of them. Both backends are optional extras
(`pip install 'nngraph[tensorboard]'`, `'nngraph[mlflow]'`); `make_loggers` refuses a missing one before
training starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from nngraph.errors import TrainingError, unimportable

TENSORBOARD_FOLDER = "tensorboard"  # inside the run folder: `tensorboard --logdir runs/` finds every run
MLFLOW_FOLDER = "mlruns"  # the default tracking store, inside the run folder
NOT_LOGGED = ("epoch", "time")  # the step and the clock; the learning rate is logged, so schedules show
_MLFLOW_UNSAFE = re.compile(r"[^\w\-. /]")  # MLflow refuses other characters in metric names


class Logger(Protocol):
    def start(self, run_dir: Path, params: dict[str, str], resumed: bool) -> None: ...

    def epoch(self, record: dict) -> None: ...

    def finish(self, run_dir: Path, summary: dict | None, error: BaseException | None) -> None: ...


def make_loggers(requests: list[str]) -> list[Logger]:
    """`--log` values -> loggers: `tensorboard`, `mlflow`, `mlflow=URI`. An unknown kind or a missing extra
    is refused here, before any training."""
    return [_make_logger(*text.partition("=")[::2]) for text in requests]


def _make_logger(kind: str, argument: str) -> Logger:
    kind = kind.strip().lower()
    if kind == "tensorboard" and not argument:
        return TensorBoardLogger()
    if kind == "mlflow":
        return MlflowLogger(argument or None)
    raise TrainingError(f"--log {kind}{'=' + argument if argument else ''}: unknown experiment log", None,
                        "use --log tensorboard, --log mlflow or --log mlflow=TRACKING_URI")


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise TrainingError(f"--log {extra} needs the {extra} extra, {unimportable(e, module.split('.')[0])}", None,
                            f"pip install 'nngraph[{extra}]'") from None


class RunLogs:
    """The loggers of one run, called as one."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = list(loggers)
        self.run_dir: Path | None = None

    def epoch(self, record: dict) -> None:
        """After each epoch (the loop's `on_epoch`: returns None, so never stops training)."""
        for logger in self.loggers:
            logger.epoch(record)

    def finish(self, summary: dict) -> None:
        """After the run folder is complete (summary.json, checkpoint, curves written)."""
        loggers, self.loggers = self.loggers, []
        for logger in loggers:
            logger.finish(self.run_dir, summary, None)


@contextmanager
def open_logs(loggers: list[Logger], run_dir: Path, config, resumed: bool):
    """`RunLogs` started for the run in `run_dir`; an exception out of the block ends every logger that has
    not finished as failed (or killed, for Ctrl-C) before it goes on."""
    logs = RunLogs(loggers)
    logs.run_dir = Path(run_dir)
    params = train_params(config) if logs.loggers else {}
    try:
        for logger in logs.loggers:
            logger.start(logs.run_dir, params, resumed)
        yield logs
    except BaseException as error:
        for logger in logs.loggers:
            _finish_after(logger, logs.run_dir, error)
        raise


def _finish_after(logger: Logger, run_dir: Path, error: BaseException) -> None:
    # The error that stopped the run is the one to report; a logger failing to record it is not.
    with suppress(Exception):
        logger.finish(run_dir, None, error)


def train_params(config) -> dict[str, str]:
    """The resolved train settings as flat text parameters: `optimizer`, `optimizer.lr`, `batch`, `loss`..."""
    from nngraph.spec.format import format_setting
    from nngraph.spec.options import Choice
    from nngraph.train.optimizers import settings

    params: dict[str, str] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in ("spans", "refused", "span", "model_span", "loss_span") or value is None:
            continue
        if isinstance(value, Choice):
            options = settings(value) if field.name == "optimizer" else value.options
            params[field.name] = value.name
            params.update({f"{field.name}.{k}": str(v) for k, v in options.items()})
        elif field.name == "loss":
            params["loss"] = " + ".join(f"{term.weight:g} * {term.label}" for term in value)
        elif field.name == "data":
            params["data"] = format_setting(value).removeprefix("data ")
        elif isinstance(value, dict):
            params.update({f"{field.name}.{k}": str(v) for k, v in value.items()})
        else:
            params[field.name] = str(value)
    return params


def metrics_of(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.items() if k not in NOT_LOGGED and isinstance(v, (int, float))}


class TensorBoardLogger:
    """Each epoch's metrics as scalars (step = epoch) in event files under RUN/tensorboard/, written by the
    tensorboard package's own `tensorboard.summary.Writer`."""

    def __init__(self):
        self._summary = _require("tensorboard.summary", "tensorboard")
        self.writer = None

    def start(self, run_dir: Path, params: dict[str, str], resumed: bool) -> None:
        folder = run_dir / TENSORBOARD_FOLDER
        if not resumed:  # a replaced run (--overwrite) must not show the old one's curves
            for old in folder.glob("events.out.tfevents.*"):
                old.unlink()
        folder.mkdir(exist_ok=True)
        self.writer = self._summary.Writer(str(folder))

    def epoch(self, record: dict) -> None:
        wall_time = time.time()
        for name, value in metrics_of(record).items():
            self.writer.add_scalar(name, value, record["epoch"], wall_time=wall_time)
        self.writer.flush()  # a live `tensorboard` sees each epoch as it ends

    def finish(self, run_dir: Path, summary: dict | None, error: BaseException | None) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MlflowLogger:
    """One MLflow run per `train` call: the train settings as parameters, each epoch's metrics (step =
    epoch), the run folder's files as artifacts, FINISHED, FAILED or KILLED at the end. The tracking store:
    `uri`, else MLFLOW_TRACKING_URI, else the folder RUN/mlruns (MLflow's file store)."""

    ARTIFACTS = ("summary.json", "checkpoint.npz", "curves.png", "metrics.jsonl")

    def __init__(self, uri: str | None = None):
        self._mlflow = _require("mlflow.tracking", "mlflow")
        self.uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.client = self.run_id = None

    def start(self, run_dir: Path, params: dict[str, str], resumed: bool) -> None:
        from mlflow.entities import Param

        uri = self.uri or (run_dir / MLFLOW_FOLDER).resolve().as_uri()
        tags = {"nngraph.run_dir": str(run_dir.resolve()), "nngraph.resumed": str(resumed).lower()}
        with _first_contact(), self._store_errors(uri):
            self.client = self._mlflow.MlflowClient(uri)
            experiment = self._experiment(run_dir)
            self.run_id = self.client.create_run(experiment, run_name=run_dir.name, tags=tags).info.run_id
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])

    @contextmanager
    def _store_errors(self, uri: str | None = None):
        """The client's failures (its own exceptions, requests' and the file system's alike) as one error
        that names the store; training stops there (resume continues it from its last checkpoint)."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - the boundary with MLflow, whose errors have no common base
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise TrainingError(f"--log mlflow: the tracking store {uri or self.client.tracking_uri} failed: "
                                f"{first_line}", None, "check the URI (a folder, file:, http(s)://, "
                                "databricks) and that its server answers") from None

    def _experiment(self, run_dir: Path) -> str:
        """The experiment named after the run folder's parent (`runs`), created on first use."""
        name = run_dir.resolve().parent.name or "nngraph"
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else self.client.create_experiment(name)

    def epoch(self, record: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(_MLFLOW_UNSAFE.sub("_", k), v, now, record["epoch"]) for k, v in metrics_of(record).items()]
        with self._store_errors():
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, run_dir: Path, summary: dict | None, error: BaseException | None) -> None:
        if self.run_id is None:
            return
        run_id, self.run_id = self.run_id, None
        status = "FINISHED" if error is None else "KILLED" if _stopped_by_user(error) else "FAILED"
        with self._store_errors():
            for name in self.ARTIFACTS if summary is not None else ():
                if (run_dir / name).is_file():
                    self.client.log_artifact(run_id, str(run_dir / name))
            self.client.set_terminated(run_id, status)


def _stopped_by_user(error: BaseException) -> bool:
    from nngraph.train.loop import TrainingInterrupted

    return isinstance(error, (KeyboardInterrupt, TrainingInterrupted))


# Set while the store is first reached: MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set,
# and the default store here is one (mlflow-skinny, the light extra, has no database store); an unreachable
# server would be retried for minutes (7 tries, 120 s each) before training starts, unless the user set these.
_FIRST_CONTACT = {"MLFLOW_ALLOW_FILE_STORE": ("true", True), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": ("1", False),
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": ("10", False)}


@contextmanager
def _first_contact():
    before = {name: os.environ.get(name) for name in _FIRST_CONTACT}
    for name, (value, always) in _FIRST_CONTACT.items():
        if always or before[name] is None:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
