"""Checkpoints: one `.npz` file of host arrays plus a JSON `meta`, written atomically.

Layout: every state array under its own flat name, and the meta as UTF-8 JSON bytes in a
uint8 array under `__meta__`. No object arrays and no pickles, in either direction.
The file is written to a temporary name in the same folder, fsynced, then `os.replace`d,
so a crash mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nngraph.atomic import atomic_write
from nngraph.errors import TrainingError

META_KEY = "__meta__"
RNG_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64", "Philox")  # states that are plain JSON


def save_checkpoint(path: str | Path, state: dict[str, np.ndarray], meta: dict) -> None:
    """Write `state` and `meta` to `path` atomically."""
    path = Path(path)
    arrays = {name: _plain_array(name, a) for name, a in state.items()}
    if META_KEY in arrays:
        raise TrainingError(f"'{META_KEY}' is reserved in a checkpoint; rename that state entry")
    arrays[META_KEY] = np.frombuffer(_to_json(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: _write_npz(f, arrays))


def _plain_array(name: str, a) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except TypeError as e:  # a device array: the Method contract asks for host arrays
        raise TrainingError(f"checkpoint state '{name}' is not a host array ({type(a).__name__})",
                            hint="Method.state() must return numpy arrays") from e
    if arr.dtype.hasobject:
        raise TrainingError(f"checkpoint state '{name}' is an object array; only numeric arrays "
                            "are stored")
    return arr


def _write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout, written by hand so any name works (savez reserves `file`) and
    pickling is refused outright."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, arr, allow_pickle=False)


def _to_json(meta: dict) -> str:
    def plain(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        raise TrainingError(f"checkpoint meta holds a {type(value).__name__}, which JSON cannot store")

    return json.dumps(meta, default=plain)


def load_checkpoint(path: str | Path, expect_spec_hash: str | None = None) -> tuple[dict, dict]:
    """(state, meta) from `path`; refuses a missing or corrupt file and another spec's checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}",
                            hint="pass the checkpoint.npz of an earlier run's folder")
    arrays = _read_arrays(path)
    meta = _read_meta(path, arrays.pop(META_KEY, None))
    saved_hash = meta.get("spec_hash")
    if expect_spec_hash is not None and saved_hash != expect_spec_hash:
        raise TrainingError(
            f"checkpoint {path} is of another spec (its spec hash {saved_hash}, this spec's "
            f"{expect_spec_hash})", hint="resume with the exact spec that started the run")
    return arrays, meta


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):  # a lone .npy array, not an archive
            raise ValueError("a single array, not an archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, zlib.error) as e:
        raise TrainingError(f"checkpoint {path} is corrupt or not a checkpoint ({e})") from e
    odd = [name for name, a in arrays.items() if not isinstance(a, np.ndarray)]
    if odd:  # NpzFile hands back raw bytes for a member that is not an .npy
        raise TrainingError(f"checkpoint {path} is corrupt: entry '{odd[0]}' is not an array")
    return arrays


def _read_meta(path: Path, raw: np.ndarray | None) -> dict:
    if raw is None or raw.dtype != np.uint8:
        raise TrainingError(f"checkpoint {path} has no metadata; it was not written by nngraph")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TrainingError(f"checkpoint {path} has corrupt metadata ({e})") from e
    if not isinstance(meta, dict):
        raise TrainingError(f"checkpoint {path} has corrupt metadata (not a JSON object)")
    return meta


# ---- state helpers ----------------------------------------------------------------------

def rng_state(rng: np.random.Generator) -> dict:
    """A numpy Generator's state as plain JSON data (for `meta`)."""
    state = rng.bit_generator.state
    if state.get("bit_generator") not in RNG_BIT_GENERATORS:
        raise TrainingError(f"cannot checkpoint a {state.get('bit_generator')} generator",
                            hint="use numpy.random.default_rng (PCG64)")
    return state


def restore_rng(rng: np.random.Generator, state: dict) -> None:
    """Put `rng` (in place, so every holder of it sees it) back into a saved `rng_state`."""
    kind = type(rng.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        raise TrainingError(f"checkpoint holds no {kind} generator state")
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise TrainingError(f"checkpoint has a corrupt generator state ({e})") from e


def nest(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`state` with every name prefixed `prefix.`, to combine parts into one checkpoint."""
    return {f"{prefix}.{name}": a for name, a in state.items()}


def unnest(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The part of `state` that `nest(prefix, ...)` made, with the prefix taken off."""
    head = prefix + "."
    return {name[len(head):]: a for name, a in state.items() if name.startswith(head)}
