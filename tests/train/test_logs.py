"""`nngraph train --log`: TensorBoard event files (read back with tensorboard's own reader) and MLflow runs
(read back with MLflow's client), each matching metrics.jsonl; a missing extra is refused before training."""

import json
import sys

import pytest

from nngraph.api import loads
from nngraph.train.logs import MlflowLogger, open_logs
from tests.cli.helpers import SPECS, run_cli

EPOCHS = 4
TINY = "model m { input x[1]\n output y[1]\n x -> y }\ntrain { model m\n data xor\n loss mse(y) }"


def train(tmp_path, *log, run="run"):
    folder = tmp_path / "runs" / run
    result = run_cli("train", SPECS / "xor.nn", "--out", folder, "--set", f"epochs={EPOCHS}", "-q",
                     *[part for kind in log for part in ("--log", kind)])
    assert result.code == 0, result.err
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return folder, records


def test_tensorboard_event_files_hold_every_epochs_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    folder, records = train(tmp_path, "tensorboard")
    events = EventAccumulator(str(folder / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    metrics = set(records[0]) - {"epoch", "time"}
    assert "lr" in metrics and len(metrics) > 2  # the learning rate and the loss and accuracy
    assert set(events.Tags()["tensors"]) == metrics
    for tag in metrics:
        logged = events.Tensors(tag)
        assert [e.step for e in logged] == [r["epoch"] for r in records]
        assert [float(tensor_util.make_ndarray(e.tensor_proto)) for e in logged] == pytest.approx(
            [r[tag] for r in records])


def mlflow_client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def only_run(client):
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    assert len(runs) == 1
    return runs[0]


def test_mlflow_records_params_metrics_and_artifacts_in_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for the reading client only
    folder, records = train(tmp_path, "mlflow")
    client = mlflow_client((folder / "mlruns").as_uri())
    run = only_run(client)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["optimizer"] == "sgd" and float(run.data.params["optimizer.lr"]) == 0.5
    assert run.data.params["epochs"] == str(EPOCHS) and run.data.params["loss"] == "1 * bce(y)"
    loss = next(name for name in records[0] if name.startswith("loss"))
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, loss))
    assert [step for step, _ in history] == [r["epoch"] for r in records]
    assert [value for _, value in history] == pytest.approx([r[loss] for r in records])
    assert set(run.data.metrics) == set(records[0]) - {"epoch", "time"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "checkpoint.npz", "curves.png", "metrics.jsonl"} <= artifacts


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_mlflow_uses_the_tracking_uri_given(tmp_path, monkeypatch, how):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "elsewhere").as_uri()
    if how == "environment":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    folder, _ = train(tmp_path, "mlflow" if how == "environment" else f"mlflow={store}")
    assert not (folder / "mlruns").exists()
    assert only_run(mlflow_client(store)).info.status == "FINISHED"


@pytest.mark.parametrize("error, status", [(RuntimeError("diverged"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_an_mlflow_run_that_stops_is_marked_so(tmp_path, monkeypatch, error, status):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "store").as_uri()
    config = loads(TINY).trains[0]
    with pytest.raises(type(error)), open_logs([MlflowLogger(store)], tmp_path, config, resumed=False) as logs:
        logs.epoch({"epoch": 1, "loss": 0.5, "time": 0.1})
        raise error
    run = only_run(mlflow_client(store))
    assert run.info.status == status
    assert [m.value for m in mlflow_client(store).get_metric_history(run.info.run_id, "loss")] == [0.5]


@pytest.mark.parametrize("kind, module", [("tensorboard", "tensorboard.summary"), ("mlflow", "mlflow.tracking")])
def test_a_missing_extra_is_refused_before_training(tmp_path, monkeypatch, kind, module):
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "run", "--log", kind)
    assert result.code == 1
    assert f"pip install 'nngraph[{kind}]'" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "run").exists()


def test_an_unknown_log_is_refused(tmp_path):
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "run", "--log", "wandb")
    assert result.code == 1 and "unknown experiment log" in result.err and "--log mlflow" in result.err


def test_the_python_api_logs_too(tmp_path):
    pytest.importorskip("tensorboard")
    import nngraph

    summary = nngraph.fit(nngraph.load(SPECS / "xor.nn", ["epochs=2"]), out=tmp_path / "run", log=["tensorboard"])
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert summary["epochs_run"] == 2


def test_mlflow_gets_metric_names_it_accepts(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "store").as_uri()
    config = loads(TINY).trains[0]
    with open_logs([MlflowLogger(store)], tmp_path, config, resumed=False) as logs:
        logs.epoch({"epoch": 1, "mse(y, x)": 0.25, "time": 0.1})
        logs.finish({})
    run = only_run(mlflow_client(store))
    assert run.data.metrics == {"mse_y_ x_": 0.25} and run.info.status == "FINISHED"


def refused_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri, says", [
    ("foo://bar", "unsupported URI"),
    (f"http://127.0.0.1:{refused_port()}", "127.0.0.1"),  # refused at once, not retried for minutes
])
def test_a_tracking_store_that_fails_is_an_error_before_training(tmp_path, uri, says):
    pytest.importorskip("mlflow")
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "run", "-q", "--log", "tensorboard",
                     "--log", f"mlflow={uri}")
    assert result.code == 1, result.err
    assert f"--log mlflow: the tracking store {uri} failed" in result.err and says in result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
