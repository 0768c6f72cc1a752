import json
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
from tests.hostile.files import Peak, in_time, lying_npy, zip_bomb


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


# ---- checkpoints that do not fit, or lie ---------------------------------------------------------------


LAYOUT = {"h.weight": ((2, 3), np.float32), "steps": ((), np.int64), "file": ((2,), np.float64)}


def test_an_array_of_the_wrong_shape_is_named_with_both_shapes_and_the_file(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {**sample_state(), "h.weight": np.zeros((3, 4), np.float32)}, {"spec_hash": "a"})
    with pytest.raises(TrainingError) as info:
        load_checkpoint(path, "a", LAYOUT)
    assert info.value.message == (f"checkpoint {path}: array 'h.weight' has shape [3, 4], but this model's is "
                                  "[2, 3]")
    assert "another model" in info.value.hint


def test_numbers_where_the_model_keeps_numbers(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {**sample_state(), "file": np.array(["a", "b"])}, {})
    with pytest.raises(TrainingError, match="array 'file' holds <U1, but this model's holds float64"):
        load_checkpoint(path, None, LAYOUT)
    save_checkpoint(path, {**sample_state(), "file": np.array([1, 2], np.int32)}, {})
    assert load_checkpoint(path, None, LAYOUT)[0]["file"].dtype == np.int32  # cast when loaded


def _bomb_checkpoint(path, spec_hash: str, megabytes: int = 64):
    meta = np.frombuffer(json.dumps({"spec_hash": spec_hash}).encode(), np.uint8)
    return zip_bomb(path, megabytes, name="h.weight", extra={META_KEY: meta})


def test_a_zip_bomb_of_another_spec_is_refused_from_its_metadata_alone(tmp_path):
    path = _bomb_checkpoint(tmp_path / "bomb.npz", "other")
    with Peak() as peak, pytest.raises(TrainingError, match="is of another spec"):
        load_checkpoint(path, "mine", LAYOUT)
    assert peak.bytes < 4 << 20


def test_a_zip_bomb_of_this_spec_is_refused_from_its_headers_before_it_is_inflated(tmp_path):
    path = _bomb_checkpoint(tmp_path / "bomb.npz", "mine")
    with Peak() as peak, pytest.raises(TrainingError, match="'h.weight' has shape \\[16777216\\]"):
        load_checkpoint(path, "mine", LAYOUT)
    assert peak.bytes < 4 << 20
    extra = {"h.weight": ((2, 3), np.float32)}  # the big array is not one the model has
    zip_bomb(tmp_path / "b2.npz", 100, name="junk",
             extra={META_KEY: np.frombuffer(b'{"spec_hash": "mine"}', np.uint8),
                    "h.weight": np.zeros((2, 3), np.float32)})
    with Peak() as peak, pytest.raises(TrainingError, match="holds 100.0 MiB of arrays; 64.0 MiB is the most"):
        load_checkpoint(tmp_path / "b2.npz", "mine", extra)
    assert peak.bytes < 4 << 20


def test_a_metadata_bomb_is_refused(tmp_path):
    path = zip_bomb(tmp_path / "meta.npz", 80, name=META_KEY)
    with Peak() as peak, pytest.raises(TrainingError, match="'__meta__' of .*meta.npz holds an array of 80.0 MiB"):
        load_checkpoint(path, "mine")
    assert peak.bytes < 4 << 20


def test_a_member_header_claiming_terabytes_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, sample_state(), {"spec_hash": "a"})
    lying_npy(tmp_path / "x.npy")
    with zipfile.ZipFile(path, "a") as zf:
        zf.write(tmp_path / "x.npy", "extra.npy")
    with Peak() as peak, pytest.raises(TrainingError, match="holds 3.6 TiB of arrays"):
        load_checkpoint(path, "a")
    assert peak.bytes < 4 << 20
    with pytest.raises(TrainingError, match="holds 3.6 TiB of arrays; .* is the most this model's state can take"):
        load_checkpoint(path, "a", LAYOUT)


def test_metadata_with_infinity_is_corrupt(tmp_path):
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf, zf.open(META_KEY + ".npy", "w") as out:
        np.lib.format.write_array(out, np.frombuffer(b'{"epoch": Infinity}', np.uint8))
    with pytest.raises(TrainingError, match="corrupt metadata .*Infinity is not a number"):
        load_checkpoint(path)


def test_metadata_nested_too_deeply_is_corrupt_and_a_fifo_is_no_checkpoint(tmp_path):
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as zf, zf.open(META_KEY + ".npy", "w") as out:
        np.lib.format.write_array(out, np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8))
    with pytest.raises(TrainingError, match="corrupt metadata"):
        load_checkpoint(path)
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(TrainingError, match="pipe.npz is a FIFO"):
        in_time(lambda: load_checkpoint(tmp_path / "pipe.npz"))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_infinite_weights_are_refused_naming_the_array(tmp_path, value, monkeypatch):
    # a run that diverges writes no checkpoint: such values were put there by hand, and `eval` said `loss nan`
    path = tmp_path / "checkpoint.npz"
    state = sample_state()
    state["h.weight"][1, 2] = value
    with pytest.raises(TrainingError, match="training diverged: the state 'h.weight' holds NaN or infinite values"):
        save_checkpoint(path, state, {"spec_hash": "abc"})  # the writer refuses them (round 6) ...
    assert not path.exists()
    monkeypatch.setattr("nngraph.train.checkpoint._refuse_non_finite", lambda arrays: None)
    save_checkpoint(path, state, {"spec_hash": "abc"})  # ... so this file stands for one edited by hand
    with pytest.raises(TrainingError, match=f"checkpoint {path}: array 'h.weight' holds NaN or infinite values"):
        load_checkpoint(path)
