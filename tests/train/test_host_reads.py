"""No host synchronisation inside a training step (issue 13): every device-to-host read goes through
`backend.to_host` or `backend.host_scalars`, which count; on numpy a step of every family reads nothing, and the
loop reads the steps' metrics a bounded number of times an epoch (once per SETTLE_STEPS steps and at the end).

Reinforcement learning agents (train/agent.py, ppo.py, dqn.py) are not here: they step a CPU environment with
the actions they draw, so they read to the host every step by nature."""

import math
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend import host_reads, host_scalars, to_host
from nngraph.errors import TrainingError
from nngraph.session import prepare
from nngraph.train import loop
from tests.train.fakes import LinearMethod, config, linear_data

SPECS = Path(__file__).resolve().parents[2] / "specs"
SETTLE = 8  # steps between two reads of the pending metrics in these runs: several reads an epoch

FAMILIES = {  # spec, overrides: one or two short epochs of every family trained by the shared loop
    "backprop mlp": ("digits_mlp.nn", ["epochs=1", "clip=1.0", "data=digits(limit=300)"]),
    "backprop xor": ("xor.nn", ["epochs=3"]),
    "backprop regression": ("linear_regression.nn", ["epochs=1"]),
    "backprop multi-label": ("multilabel_balls.nn", ["epochs=1"]),
    "cnn": ("digits_cnn.nn", ["epochs=1", "data=digits(shape=[1, 8, 8], limit=300)"]),
    "bptt": ("char_rnn.nn", ["epochs=1"]),
    "rnn whole sequences": ("sine_elman.nn", ["epochs=1"]),
    "rbm cd": ("rbm_bars.nn", ["epochs=2"]),
    "rbm pcd": ("rbm_bars.nn", ["epochs=2", "method=pcd(k=1, chains=8)"]),
    "general boltzmann": ("bm_encoder424.nn", ["epochs=2", "method=boltzmann(anneal=[[10, 1]], sweeps=2)"]),
    "vae": ("vae_digits.nn", ["epochs=1", "data=digits(binarize=0.5, limit=300)"]),
    "gan": ("gan_ring.nn", ["epochs=1", "data=ring(n=400, modes=8, radius=2, std=0.02)"]),
}


class Counted:
    """Wraps a method's `train_step` and `evaluate`, recording the host reads each call made."""

    def __init__(self, method):
        self.steps, self.evaluations = [], []
        self.step, self.evaluate = self._wrap(method.train_step, self.steps), self._wrap(method.evaluate,
                                                                                        self.evaluations)

    @staticmethod
    def _wrap(call, reads: list):
        def counted(*args):
            before = host_reads()
            try:
                return call(*args)
            finally:
                reads.append(host_reads() - before)
        return counted


def train_counting(method, train, validation, cfg, monkeypatch) -> tuple[Counted, int]:
    counted = Counted(method)
    monkeypatch.setattr(method, "train_step", counted.step)
    monkeypatch.setattr(method, "evaluate", counted.evaluate)
    monkeypatch.setattr(loop, "SETTLE_STEPS", SETTLE)
    before = host_reads()
    loop.fit(method, train, validation, cfg, rng=np.random.default_rng(cfg.seed))
    return counted, host_reads() - before


@pytest.mark.parametrize("family", FAMILIES)
def test_a_training_step_of_every_family_reads_nothing_from_the_device(family, monkeypatch):
    spec, overrides = FAMILIES[family]
    session = prepare(nngraph.load(SPECS / spec, overrides))
    train, validation, cfg = session.splits.train, session.splits.validation, session.config
    counted, total = train_counting(session.method, train, validation, cfg, monkeypatch)
    per_epoch = len(counted.steps) // cfg.epochs
    assert per_epoch == math.ceil(len(train) / cfg.batch) and counted.steps == [0] * len(counted.steps)
    loop_reads = total - sum(counted.evaluations)  # the steps' metrics, read by the loop
    assert loop_reads == cfg.epochs * math.ceil(per_epoch / SETTLE)
    assert len(counted.evaluations) == (cfg.epochs if validation is not None and len(validation) else 0)


def test_the_loop_reads_metrics_once_per_settle_and_the_records_are_those_of_every_step(monkeypatch):
    cfg = config(epochs=2, batch=4)  # 10 steps an epoch: reads after steps 8 and 10
    per_step = []
    method = LinearMethod(cfg)
    step = method.train_step

    def kept(batch, rng):
        metrics = step(batch, rng)
        per_step.append((metrics["loss"], len(batch)))
        return {"loss": np.float64(metrics["loss"])}  # a 0-d array as a device step returns it

    monkeypatch.setattr(method, "train_step", kept)
    monkeypatch.setattr(loop, "SETTLE_STEPS", SETTLE)
    before = host_reads()
    history = loop.fit(method, linear_data(), None, cfg)
    assert host_reads() - before == 2 * 2
    first = per_step[:10]
    assert history.records[0]["loss_running"] == pytest.approx(sum(v * n for v, n in first) / 40, rel=1e-12)


def test_a_diverged_step_is_named_though_its_metrics_are_read_later(monkeypatch):
    cfg = config(epochs=1, batch=2)  # 20 steps: read after steps 8, 16 and 20
    method = LinearMethod(cfg)
    step, calls = method.train_step, []

    def diverging(batch, rng):
        calls.append(1)
        return {"loss": np.float32("nan")} if len(calls) == 11 else step(batch, rng)

    monkeypatch.setattr(method, "train_step", diverging)
    monkeypatch.setattr(loop, "SETTLE_STEPS", SETTLE)
    with pytest.raises(TrainingError, match="loss is nan at epoch 1, step 11"):
        loop.fit(method, linear_data(), None, cfg)
    assert len(calls) == 16  # the read after step 16 found it


def test_host_reads_count_every_read_and_convert_scalars():
    before = host_reads()
    assert host_scalars([np.float32(0.5), 2, np.array(1.25)]) == [0.5, 2.0, 1.25]
    assert to_host(np.arange(3)).tolist() == [0, 1, 2]
    assert host_reads() - before == 2
