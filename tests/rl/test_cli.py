"""The commands on an agent: train writes the run folder with episode returns against steps and the final
evaluation; eval plays episodes; predict gives actions; sample plays episodes."""

import json

import numpy as np
import pytest

from tests.cli.helpers import run_cli

from .helpers import agent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agent")
    spec = folder / "agent.nn"
    spec.write_text(agent(steps=256))
    result = run_cli("train", spec, "--out", folder / "run", "--quiet")
    assert result.code == 0, result.both
    return spec, folder / "run"


def test_train_writes_returns_against_steps_and_the_evaluation(trained):
    _, run = trained
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in records] == [64, 128, 192, 256]
    assert all({"episodes", "pg_loss", "value_loss", "entropy"} <= set(r) for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["episodes"] == 5 and summary["test"]["return_mean"] > 0
    assert (run / "curves.png").exists() and (run / "checkpoint.npz").exists()


def test_eval_plays_episodes_with_the_deterministic_policy(trained):
    spec, run = trained
    result = run_cli("eval", spec, "--checkpoint", run / "checkpoint.npz", "--json")
    assert result.code == 0, result.both
    test = json.loads(result.out)["test"]
    summary = json.loads((run / "summary.json").read_text())
    assert test == summary["test"]  # the same seeded episodes, the same deterministic actions


def test_predict_gives_an_action_per_observation(trained, tmp_path):
    spec, run = trained
    obs = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    result = run_cli("predict", spec, "--checkpoint", run / "checkpoint.npz", "--input", tmp_path / "obs.npy",
                     "-o", tmp_path / "actions.npy")
    assert result.code == 0, result.both
    actions = np.load(tmp_path / "actions.npy")
    assert actions.shape == (7,) and set(actions) <= {0, 1}


def test_predict_refuses_observations_of_another_shape(trained, tmp_path):
    spec, run = trained
    np.save(tmp_path / "obs.npy", np.zeros((3, 5), np.float32))
    result = run_cli("predict", spec, "--checkpoint", run / "checkpoint.npz", "--input", tmp_path / "obs.npy",
                     "-o", tmp_path / "actions.npy")
    assert result.code == 1 and "Traceback" not in result.both and not (tmp_path / "actions.npy").exists()


def test_sample_plays_episodes(trained):
    spec, run = trained
    result = run_cli("sample", spec, "--checkpoint", run / "checkpoint.npz", "-n", "3")
    assert result.code == 0, result.both
    assert "played 3 episodes of CartPole-v1: return" in result.out


def test_sample_writes_played_episodes_as_a_gif(trained, tmp_path):
    spec, run = trained
    result = run_cli("sample", spec, "--checkpoint", run / "checkpoint.npz", "-n", "2", "-o", tmp_path / "play.gif")
    assert result.code == 0, result.both
    assert "of 2 episodes of CartPole-v1 to" in result.out
    from PIL import Image

    with Image.open(tmp_path / "play.gif") as gif:
        written = int(result.out.split("wrote ")[1].split()[0])  # Pillow merges a frame equal to the one before
        assert gif.size == (300, 200) and 1 < gif.n_frames <= written
