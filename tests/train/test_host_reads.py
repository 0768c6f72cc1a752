"""No host synchronisation inside a training step (issue 13): every device-to-host read goes through
`backend.to_host` or `backend.host_floats`, which count; on numpy a step of every family reads nothing, and the
loop reads the steps' metrics once an epoch, and in between at most once per progress interval.

Reinforcement learning agents (train/agent.py, ppo.py, dqn.py) are not here: they step a CPU environment with
the actions they draw, so they read to the host every step by nature."""

import math
from pathlib import Path

import numpy as np
import pytest

import nngraph
from nngraph.backend import host_floats, host_reads, to_host
from nngraph.errors import TrainingError
from nngraph.session import prepare
from nngraph.train import loop, pending
from nngraph.train.pending import PendingMetrics
from tests.train.fakes import LinearMethod, config, linear_data

SPECS = Path(__file__).resolve().parents[2] / "specs"
COMPACT = 4  # steps kept as they came before they are stacked, in these runs: several blocks an epoch

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
    monkeypatch.setattr(pending, "COMPACT_STEPS", COMPACT)
    monkeypatch.setattr(pending, "READ_SECONDS", np.inf)  # no read due by time in these short epochs
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
    assert total - sum(counted.evaluations) == cfg.epochs  # the steps' metrics, read by the loop at the end
    assert len(counted.evaluations) == (cfg.epochs if validation is not None and len(validation) else 0)
    # a validation pass reads its outputs (once per chunk; these splits are one chunk) and its metrics once; a
    # GAN's reads the points it generates, the discriminator's logits on real and on generated points, metrics
    assert max(counted.evaluations, default=0) <= 4


def kept_as_device_values(method, per_step: list):
    """`method.train_step` returning its loss as a 0-d array (as a step on a device does), recorded."""
    step = method.train_step

    def kept(batch, rng):
        loss = step(batch, rng)["loss"]
        per_step.append((loss, len(batch)))
        return {"loss": np.float64(loss)}
    return kept


@pytest.mark.parametrize("seconds, reads", [(np.inf, 2), (0.0, 2 * 3)])
def test_the_loop_reads_once_an_epoch_and_at_most_once_per_interval(seconds, reads, monkeypatch):
    cfg = config(epochs=2, batch=4)  # 10 steps an epoch; compacted after steps 4 and 8
    method, per_step = LinearMethod(cfg), []
    monkeypatch.setattr(method, "train_step", kept_as_device_values(method, per_step))
    monkeypatch.setattr(pending, "COMPACT_STEPS", COMPACT)
    monkeypatch.setattr(pending, "READ_SECONDS", seconds)  # 0: a read is due at every compaction
    before = host_reads()
    history = loop.fit(method, linear_data(), None, cfg)
    assert host_reads() - before == reads
    for epoch, record in enumerate(history.records):  # summed in step order, as a step-by-step read would
        steps = per_step[10 * epoch:10 * epoch + 10]
        assert record["loss_running"] == sum(loss * rows for loss, rows in steps) / 40


def test_a_diverged_step_is_named_though_its_metrics_are_read_later(monkeypatch):
    cfg = config(epochs=1, batch=2)  # 20 steps: compacted and read after steps 4, 8, 12, 16 and 20
    method = LinearMethod(cfg)
    step, calls = method.train_step, []

    def diverging(batch, rng):
        calls.append(1)
        return {"loss": np.float32("nan")} if len(calls) == 11 else step(batch, rng)

    monkeypatch.setattr(method, "train_step", diverging)
    monkeypatch.setattr(pending, "COMPACT_STEPS", COMPACT)
    monkeypatch.setattr(pending, "READ_SECONDS", 0.0)
    with pytest.raises(TrainingError, match="loss is nan at epoch 1, step 11"):
        loop.fit(method, linear_data(), None, cfg)
    assert len(calls) == 12  # the read after step 12 found it


def test_kept_metrics_come_back_in_step_order_whatever_their_names(monkeypatch):
    monkeypatch.setattr(pending, "COMPACT_STEPS", 3)
    kept = PendingMetrics()
    steps = [{"loss": np.float32(0.5), "accuracy": 0.75}, {"loss": np.float32(0.25), "accuracy": 1.0},
             {"loss": np.array(2.0)}, {}, {}, {}, {"loss": np.float64(1.5), "accuracy": np.float32(0.5)}]
    assert not any(kept.add(i + 1, metrics, 10 + i) for i, metrics in enumerate(steps))
    assert len(kept.blocks) == 3 and kept.recent  # stacked by their names: steps 1-2, 3, 4-6; step 7 as it came
    before = host_reads()
    read, values = kept.read()
    assert [(step, list(names), rows) for step, names, rows in read] == [(i + 1, list(m), 10 + i)
                                                                        for i, m in enumerate(steps)]
    assert values == [float(v) for m in steps for v in m.values()]
    assert host_reads() - before == 1 and not kept


def test_host_reads_count_every_read_and_convert_scalars():
    before = host_reads()
    assert host_floats([np.float32(0.5), 2, np.array(1.25)]) == [0.5, 2.0, 1.25]
    assert to_host(np.arange(3)).tolist() == [0, 1, 2]
    assert host_reads() - before == 2
