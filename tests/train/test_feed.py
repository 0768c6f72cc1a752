"""Training data on the device (issue 13, train/feed.py): every host-to-device copy goes through the counted door
(`backend.to_device`, `host_writes`). On numpy, where the door only marks and counts, an epoch of every family
that reads a Dataset copies its order once and its steps copy nothing; streamed data (NNGRAPH_RESIDENT_BYTES
under the split's size) copies each batch's arrays once; and the runs are the runs of the loop as it was
before, which took host minibatches (`HostFeed` below), bit for bit."""

import dataclasses
import math

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend, host_reads, host_writes, is_device_array, to_device
from nngraph.backend.gpu import load_cupy
from nngraph.data import load_dataset
from nngraph.errors import TrainingError
from nngraph.session import prepare
from nngraph.train import loop
from nngraph.train.feed import BUDGET_VARIABLE, DataFeed, data_bytes, resident_budget
from tests.cli.helpers import run_cli
from tests.train.test_host_reads import FAMILIES, SPECS

TURN_AND_SHIFT = {"shift": 1, "rotate": 15.0, "noise": 0.05}
RUNS = {**FAMILIES, "cnn augmented": FAMILIES["cnn"], "gan": ("gan_ring.nn", ["epochs=2", *FAMILIES["gan"][1][1:]]),
        "rnn ragged": FAMILIES["rnn whole sequences"],
        "dbn": ("dbn_digits.nn", ["epochs=2", "method=dbn(k=1, pretrain=1)", "data=digits(limit=300)"]),
        "super-resolution": ("digits_superres.nn", ["epochs=1", "data=superres(digits(limit=200), factor=2)"])}
STREAMED = ("backprop mlp", "bptt", "rnn ragged", "rbm pcd", "vae", "cnn augmented")
GPU_RUNS = ("backprop mlp", "bptt", "rbm cd", "vae", "gan", "cnn augmented")


class HostFeed:
    """The loop's minibatches as they were before the data went to the device: host `take`s of the split."""

    def __init__(self, data):
        self.data = data

    @classmethod
    def for_run(cls, data, xp):
        return cls(data)

    def whole(self):
        return self.data

    def batches(self, order, start, batch):
        for first in range(start, len(order), batch):
            yield self.data.take(order[first:first + batch])


class Run:
    """One run of a family: its records and final state, and the host writes of its steps and of its epochs (the
    validation passes' writes left out: they feed host splits chunk by chunk)."""

    def __init__(self, family: str, monkeypatch, backend: str = "numpy", data=None):
        spec, overrides = RUNS[family]
        session = prepare(nngraph.load(SPECS / spec, overrides), backend=backend, data=data)
        self.method, self.train, cfg = session.method, session.splits.train, session.config
        if family.endswith("augmented"):
            cfg = dataclasses.replace(cfg, augment=TURN_AND_SHIFT)
        if family.endswith("ragged"):  # every sequence a step short: each window's loss rows are copied
            steps = self.train.x.shape[1]
            self.train = dataclasses.replace(self.train, lengths=np.full(len(self.train), steps - 1))
        self.cfg, self.step_writes, self.epoch_writes, evaluations = cfg, [], [], [0]
        monkeypatch.setattr(self.method, "train_step", self._counted(self.method.train_step, self.step_writes))
        monkeypatch.setattr(self.method, "evaluate", self._counted(self.method.evaluate, evaluations))
        start = [host_writes()]

        def on_epoch(record):
            self.epoch_writes.append(host_writes() - start[0] - sum(evaluations))
            start[0], evaluations[:] = host_writes(), [0]

        history = loop.fit(self.method, self.train, session.splits.validation, cfg,
                           rng=np.random.default_rng(cfg.seed), on_epoch=on_epoch)
        self.records = [{k: v for k, v in r.items() if k != "time"} for r in history.records]
        self.state = self.method.state()

    @staticmethod
    def _counted(call, writes: list):
        def counted(*args):
            before = host_writes()
            try:
                return call(*args)
            finally:
                writes.append(host_writes() - before)
        return counted

    @property
    def arrays(self) -> int:
        """The split's arrays that go to the device (sequence lengths stay on the host)."""
        return sum(a is not None for a in (self.train.x, self.train.y))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.cfg.batch)


def assert_same_run(run: Run, other: Run) -> None:
    assert run.records == other.records
    assert run.state.keys() == other.state.keys()
    for name, value in run.state.items():
        np.testing.assert_array_equal(value, other.state[name], err_msg=name)


@pytest.mark.parametrize("family", RUNS)
def test_resident_data_copies_once_an_epoch_and_trains_as_host_minibatches_did(family, monkeypatch):
    resident = Run(family, monkeypatch)
    assert_copies_once_an_epoch(resident, family)
    monkeypatch.setattr(loop, "DataFeed", HostFeed)
    assert_same_run(resident, Run(family, monkeypatch))


@pytest.mark.gpu
@pytest.mark.parametrize("family", GPU_RUNS)
def test_cupy_copies_the_order_once_an_epoch_and_streams_alike(family, monkeypatch):
    if load_cupy()[0] is None:
        pytest.skip(load_cupy()[1] or "cupy is not available")
    resident = Run(family, monkeypatch, "cupy")
    assert resident.train.x is not None and not is_device_array(resident.train.x)  # the split stays on the host
    assert_copies_once_an_epoch(resident, family)
    monkeypatch.setenv(BUDGET_VARIABLE, "0")  # pinned buffers and a side stream (backend/transfer.py)
    assert_same_run(resident, Run(family, monkeypatch, "cupy"))


def assert_copies_once_an_epoch(run: Run, family: str) -> None:
    whole = run.cfg.batch >= len(run.train)  # one step an epoch on the split itself: nothing to copy
    # augmentation, before the step: the angles, shifts and noise drawn on the host
    drawn = 3 * run.steps_per_epoch if family.endswith("augmented") else 0
    last = run.step_writes[-run.steps_per_epoch:]  # a GAN uploads its targets at a batch size's first step
    assert last == [1 if family.endswith("ragged") else 0] * len(last)  # a ragged window's rows: one copy
    order = 0 if whole else 1
    drawn += sum(last)
    assert run.epoch_writes[0] >= run.arrays + order + drawn  # the split's arrays are uploaded when the run starts
    assert run.epoch_writes[1:] == [order + drawn] * (len(run.epoch_writes) - 1)
    if len(run.epoch_writes) == 1:
        assert run.epoch_writes[0] == run.arrays + order + drawn


@pytest.mark.parametrize("family", STREAMED)
def test_streamed_data_copies_each_batch_once_and_trains_alike(family, monkeypatch):
    resident = Run(family, monkeypatch)
    monkeypatch.setenv(BUDGET_VARIABLE, "0")
    streamed = Run(family, monkeypatch)
    assert_same_run(resident, streamed)
    # each step's arrays instead of the order, and nothing uploaded when the run starts
    order = 0 if streamed.cfg.batch >= len(streamed.train) else 1
    expected = streamed.arrays * streamed.steps_per_epoch - order - streamed.arrays
    assert [s - r for s, r in zip(streamed.epoch_writes, resident.epoch_writes)][:1] == [expected]


def test_the_budget_decides_resident_or_streamed(monkeypatch):
    data = prepare(nngraph.load(SPECS / "xor.nn")).splits.train
    size = data_bytes(data)
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    assert resident_budget(np) is None and DataFeed.for_run(data, np).resident  # numpy: always resident
    for budget, resident in ((size, True), (size - 1, False), (0, False)):
        monkeypatch.setenv(BUDGET_VARIABLE, str(budget))
        assert DataFeed.for_run(data, np).resident is resident


@pytest.mark.parametrize("setting", ["lots", "-1", "1.5e9"])
def test_a_bad_budget_is_an_error_that_names_the_variable(setting, monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, setting)
    with pytest.raises(TrainingError, match=f"{BUDGET_VARIABLE}='{setting}' is not a number of bytes"):
        resident_budget(np)


def test_the_command_line_names_a_bad_budget_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, "lots")
    result = run_cli("train", SPECS / "xor.nn", "--out", tmp_path / "run", "-q")
    assert result.code == 1 and f"{BUDGET_VARIABLE}='lots' is not a number of bytes" in result.err
    assert "Traceback" not in result.both and not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_resident_split_is_uploaded_once_and_its_batches_stay_on_the_device():
    data = prepare(nngraph.load(SPECS / "digits_mlp.nn", ["data=digits(limit=100)"])).splits.train
    before = host_writes()
    placed = DataFeed(data, np, budget=None)
    assert host_writes() - before == 2 and np.shares_memory(placed.data.x, data.x)  # x and y: marked, not copied
    order = np.random.default_rng(0).permutation(len(data))
    batches = list(placed.batches(order, 32, 32))
    assert host_writes() - before == 3 and all(is_device_array(b.x) and is_device_array(b.y) for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.y for b in batches]), data.y[order[32:]])


def test_data_given_on_the_device_is_not_copied_again():
    data = prepare(nngraph.load(SPECS / "digits_mlp.nn", ["data=digits(limit=100)"])).splits.train
    on_device = dataclasses.replace(data, x=to_device(data.x, np), y=to_device(data.y, np))
    before = host_writes()
    assert DataFeed(on_device, np).data.x is on_device.x and host_writes() == before


def test_the_streaming_uploader_starts_the_next_batch_before_the_step(monkeypatch):
    data = prepare(nngraph.load(SPECS / "digits_mlp.nn", ["data=digits(limit=100)"])).splits.train
    streamed, started = DataFeed(data, np, budget=0), []
    start = streamed._uploader.start
    monkeypatch.setattr(streamed._uploader, "start",
                        lambda arrays, index: started.append(index[0]) or start(arrays, index))
    order, starts = np.arange(len(data)), list(range(0, len(data), 20))
    for step, batch in enumerate(streamed.batches(order, 0, 20)):
        assert started == starts[:step + 2]  # the next batch's copy is under way while this one computes
        np.testing.assert_array_equal(batch.x, data.x[20 * step:20 * step + 20])
    assert step == len(starts) - 1 >= 2


def test_backend_asarray_copies_a_host_array_through_the_door_and_computes_on_plain_arrays():
    backend, uploaded = get_backend(), to_device(np.zeros(3, np.float32), np)
    before = host_writes()
    plain, kept = backend.asarray(np.zeros(3)), backend.asarray(uploaded)
    assert host_writes() - before == 1  # the host array; the uploaded one is on the device already
    assert type(plain) is np.ndarray and type(kept) is np.ndarray and np.shares_memory(kept, uploaded)


def test_a_python_value_of_device_data_is_a_counted_read():
    a = to_device(np.arange(3.0), np)
    before = host_reads()
    assert float(a.sum()) == 3.0 and bool((a > 1).any()) and int(a.max()) == 2
    assert a[1:2].item() == 1.0 and a.tolist() == [0.0, 1.0, 2.0]
    assert host_reads() - before == 5  # each waits for the device on a GPU
    # (numpy gives an element, a[i], as a plain scalar: reading one so is not counted; cupy gives a 0-d array)


def test_a_dataset_given_on_the_device_is_split_and_trained_there_without_a_copy(monkeypatch):
    checked = nngraph.load(SPECS / "digits_mlp.nn", RUNS["backprop mlp"][1])
    config = checked.train()
    host = load_dataset(config.data, SPECS, seed=config.seed)
    given = dataclasses.replace(host, x=to_device(host.x, np), y=to_device(host.y, np))
    on_device = Run("backprop mlp", monkeypatch, data=given)
    assert is_device_array(on_device.train.x) and is_device_array(on_device.train.y)  # split and scaled there
    assert on_device.epoch_writes == [1]  # the epoch's order; the split was never on the host
    assert_same_run(on_device, Run("backprop mlp", monkeypatch, data=host))
