import os
import zipfile

import numpy as np
import pytest

from nngraph.errors import TrainingError
from nngraph.train.checkpoint import (
    META_KEY,
    load_checkpoint,
    nest,
    restore_rng,
    rng_state,
    save_checkpoint,
    unnest,
)


def sample_state():
    return {"h.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "steps": np.asarray(7),
            "file": np.ones(2)}  # `file` would clash with np.savez's own argument


def test_round_trip_keeps_arrays_and_meta(tmp_path):
    path = tmp_path / "run" / "checkpoint.npz"
    meta = {"spec_hash": "abc", "epoch": np.int64(3), "history": [{"loss": 0.5}]}
    save_checkpoint(path, sample_state(), meta)
    state, loaded = load_checkpoint(path, expect_spec_hash="abc")
    assert set(state) == {"h.weight", "steps", "file"}
    np.testing.assert_array_equal(state["h.weight"], sample_state()["h.weight"])
    assert state["h.weight"].dtype == np.float32
    assert loaded == {"spec_hash": "abc", "epoch": 3, "history": [{"loss": 0.5}]}


def test_file_is_a_plain_npz_without_object_arrays(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, sample_state(), {"a": 1})
    with np.load(path, allow_pickle=False) as archive:
        assert archive[META_KEY].dtype == np.uint8
        assert all(archive[k].dtype != object for k in archive.files)


def test_write_is_atomic_and_leaves_no_temporaries(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(2)}, {"epoch": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_checkpoint(path, {"w": np.ones(2)}, {"epoch": 2})
    monkeypatch.undo()
    state, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and (state["w"] == 0).all()  # the old checkpoint is whole
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_other_specs_checkpoint_is_refused_naming_both_hashes(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {}, {"spec_hash": "aaaa"})
    with pytest.raises(TrainingError, match="aaaa.*bbbb"):
        load_checkpoint(path, expect_spec_hash="bbbb")


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(TrainingError, match="not found"):
        load_checkpoint(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(TrainingError, match="corrupt"):
        load_checkpoint(junk)
    good = tmp_path / "good.npz"
    save_checkpoint(good, {"w": np.zeros(100)}, {})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(TrainingError, match="corrupt"):
        load_checkpoint(truncated)
    lone = tmp_path / "lone.npy"
    np.save(lone, np.zeros(3))
    with pytest.raises(TrainingError, match="corrupt"):
        load_checkpoint(lone)


def test_foreign_npz_without_meta_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, w=np.zeros(2))
    with pytest.raises(TrainingError, match="no metadata"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(META_KEY + ".npy", b"garbage")
    with pytest.raises(TrainingError):
        load_checkpoint(path)


def test_object_and_device_like_state_is_refused(tmp_path):
    with pytest.raises(TrainingError, match="object array"):
        save_checkpoint(tmp_path / "c.npz", {"x": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(TrainingError, match="reserved"):
        save_checkpoint(tmp_path / "c.npz", {META_KEY: np.zeros(1)}, {})
    with pytest.raises(TrainingError, match="JSON"):
        save_checkpoint(tmp_path / "c.npz", {}, {"bad": object()})


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    rng = np.random.default_rng(42)
    rng.random(5)
    save_checkpoint(tmp_path / "c.npz", {}, {"rng": rng_state(rng)})
    expected = rng.random(4)
    other = np.random.default_rng(0)
    restore_rng(other, load_checkpoint(tmp_path / "c.npz")[1]["rng"])
    np.testing.assert_array_equal(other.random(4), expected)


def test_restore_rng_refuses_junk():
    with pytest.raises(TrainingError):
        restore_rng(np.random.default_rng(), {"bit_generator": "MT19937"})
    with pytest.raises(TrainingError):
        restore_rng(np.random.default_rng(), {"bit_generator": "PCG64", "state": "x"})


def test_nest_and_unnest_are_inverse():
    parts = {"w": np.zeros(1), "v.bias": np.ones(1)}
    merged = {**nest("optim", parts), "w": np.zeros(2)}
    assert set(merged) == {"optim.w", "optim.v.bias", "w"}
    assert set(unnest("optim", merged)) == {"w", "v.bias"}
