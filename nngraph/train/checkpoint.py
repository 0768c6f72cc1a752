"""Checkpoints: one `.npz` file of host arrays plus a JSON `meta`, written atomically.

Layout: every state array under its own flat name, and the meta as UTF-8 JSON bytes in a
uint8 array under `__meta__`. No object arrays and no pickles, in either direction.
The file is written to a temporary name in the same folder, fsynced, then `os.replace`d,
so a crash mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from nngraph.atomic import atomic_write
from nngraph.errors import TrainingError
from nngraph.safe_files import ArrayHeader, NpzArchive, available_memory, describe_bytes

META_KEY = "__meta__"
MAX_META_BYTES = 64 << 20  # epochs, history and generator state as JSON: ~100 bytes an epoch
EXTRA_STATE_BYTES = 64 << 20  # entries a method adds beside its arrays (a vocabulary, chains)
RNG_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64", "Philox")  # states that are plain JSON


def save_checkpoint(path: str | Path, state: dict[str, np.ndarray], meta: dict) -> None:
    """Write `state` and `meta` to `path` atomically."""
    path = Path(path)
    arrays = {name: _plain_array(name, a) for name, a in state.items()}
    _refuse_non_finite(arrays)
    if META_KEY in arrays:
        raise TrainingError(f"'{META_KEY}' is reserved in a checkpoint; rename that state entry")
    arrays[META_KEY] = np.frombuffer(_to_json(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: _write_npz(f, arrays))


def _refuse_non_finite(arrays: dict[str, np.ndarray]) -> None:
    """A run whose state overflowed stops without writing it: `load_checkpoint` refuses NaN and infinities
    (`_check_finite`), so such a file could be neither resumed nor evaluated. The loss can stay finite while
    the state is not: Adam's squared gradients overflow float32 from gradients of ~2e19 (a leaky_relu of
    slope 1e30), and the parameters they scale stop moving without a word."""
    for name, array in arrays.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise TrainingError(f"training diverged: the state '{name}' holds NaN or infinite values (an overflow "
                                f"of {array.dtype}); it is not written, the last checkpoint is kept as it was",
                                hint="lower the learning rate, set `clip`, or train in float64")


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


def load_checkpoint(path: str | Path, expect_spec_hash: str | None = None,
                    expected: Mapping[str, tuple] | None = None,
                    check: Callable[[Path, dict], None] | None = None) -> tuple[dict, dict]:
    """(state, meta) from `path`; refuses a missing or corrupt file, another spec's checkpoint, and arrays
    whose shapes are not those of `expected` (name -> (shape, dtype): `state_layout` of the method the
    state is for). `check(path, meta)` judges the metadata (train/provenance.py: is it of this model?);
    `expect_spec_hash`, the older and stricter test, asks for the very same spec text.

    The file is read in the order that lets a bad one be refused cheaply, whatever it claims: the
    metadata first (its spec hash), then every array's header (shapes, and the total size against the
    memory available, or against twice the expected state where that is known), and the data last.
    """
    path = Path(path)
    with _archive(path) as archive:
        meta = _read_meta(path, archive)
        _check_spec_hash(path, meta, expect_spec_hash)
        if check is not None:
            check(path, meta)
        headers = {name: archive.header(name) for name in archive.names if name != META_KEY}
        if expected is not None:
            _check_shapes(path, headers, expected)
        _check_total(path, headers, expected)
        state = {name: archive.read(name) for name in headers}
    _check_finite(path, state)
    return state, meta


def read_meta(path: str | Path) -> dict:
    """A checkpoint's metadata alone (what its run recorded), without reading its arrays."""
    path = Path(path)
    with _archive(path) as archive:
        return _read_meta(path, archive)


def _archive(path: Path) -> NpzArchive:
    if not path.exists():  # anything else that is not a regular file is refused by NpzArchive
        raise TrainingError(f"checkpoint not found: {path}",
                            hint="pass the checkpoint.npz of an earlier run's folder")
    return NpzArchive(path, error=_refusal(path))


def state_layout(method, copy_prefix: str | None = None) -> dict[str, tuple]:
    """name -> (shape, dtype) of what a checkpoint of `method` holds: its `state()`, and where
    `copy_prefix` is given, a copy of its parameters and buffers under that prefix (early stopping's best)."""
    layout = {name: (tuple(a.shape), a.dtype) for name, a in method.state().items()}
    if copy_prefix is not None:
        layout.update({f"{copy_prefix}.{name}": (tuple(a.shape), a.dtype) for name, a in trained_arrays(method).items()})
    return layout


def trained_arrays(method) -> dict:
    """What early stopping keeps of its best epoch: a Method's parameters and buffers (`Method.trained_arrays`);
    a method without buffers may give its parameters alone."""
    return getattr(method, "trained_arrays", None) or method.params


def _refusal(path: Path):
    def refuse(message: str, hint: str | None = None) -> TrainingError:
        if message.startswith(str(path)):
            return TrainingError(f"checkpoint {message}", None, hint)
        return TrainingError(message if str(path) in message else f"checkpoint {path}: {message}", None, hint)

    return refuse


def _read_meta(path: Path, archive: NpzArchive) -> dict:
    if META_KEY not in archive:
        raise TrainingError(f"checkpoint {path} has no metadata; it was not written by nngraph")
    raw = archive.read(META_KEY, MAX_META_BYTES)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise TrainingError(f"checkpoint {path} has no metadata; it was not written by nngraph")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # JSON nested 100,000 deep recurses
        raise TrainingError(f"checkpoint {path} has corrupt metadata ({e})") from e
    if not isinstance(meta, dict):
        raise TrainingError(f"checkpoint {path} has corrupt metadata (not a JSON object)")
    return meta


def _no_constant(name: str):
    """JSON's NaN and Infinity, which nngraph never writes: epochs and steps must be finite numbers."""
    raise ValueError(f"{name} is not a number a checkpoint holds")


def _check_spec_hash(path: Path, meta: dict, expect_spec_hash: str | None) -> None:
    saved_hash = meta.get("spec_hash")
    if expect_spec_hash is not None and saved_hash != expect_spec_hash:
        raise TrainingError(
            f"checkpoint {path} is of another spec (its spec hash {saved_hash}, this spec's "
            f"{expect_spec_hash})", hint="resume with the exact spec that started the run")


def _check_shapes(path: Path, headers: dict[str, ArrayHeader], expected: Mapping[str, tuple]) -> None:
    for name, header in headers.items():
        if name not in expected:
            continue
        shape, dtype = expected[name]
        if header.shape != tuple(shape):
            raise TrainingError(f"checkpoint {path}: array '{name}' has shape {list(header.shape)}, but this "
                                f"model's is {list(shape)}",
                                hint="the checkpoint is of another model, or the file was changed")
        if _numeric(dtype) != _numeric(header.dtype):
            raise TrainingError(f"checkpoint {path}: array '{name}' holds {header.dtype}, but this model's "
                                f"holds {np.dtype(dtype)}", hint="the file was changed")


def _check_finite(path: Path, state: dict[str, np.ndarray]) -> None:
    """A run that diverges stops before it writes a checkpoint (loop.fit), so NaN or an infinity in one was put
    there by hand or by a broken disk: refused, naming the array, instead of evaluating to `loss nan`."""
    for name, array in state.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise TrainingError(f"checkpoint {path}: array '{name}' holds NaN or infinite values",
                                hint="the file was changed; use a checkpoint a run wrote")


def _numeric(dtype) -> bool:
    return np.dtype(dtype).kind in "biuf"


def _check_total(path: Path, headers: dict[str, ArrayHeader], expected: Mapping[str, tuple] | None) -> None:
    """The arrays' total size, before any is read: at most the memory available, and where the method's
    state is known at most twice its size (a copy of the parameters comes on top of it) plus a margin."""
    total = sum(h.nbytes for h in headers.values())
    limit, what = available_memory(), "of memory is available"
    if expected is not None:
        state = sum(math.prod(shape) * 16 for shape, _ in expected.values())  # 16: the widest number
        if 2 * state + EXTRA_STATE_BYTES < limit:
            limit, what = 2 * state + EXTRA_STATE_BYTES, "is the most this model's state can take"
    if total > limit:
        raise TrainingError(f"checkpoint {path} holds {describe_bytes(total)} of arrays; {describe_bytes(limit)} "
                            f"{what}", hint="the checkpoint is of another model, or the file was changed")


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


def saved_array(state: dict, name: str, what: str) -> np.ndarray:
    if name not in state:
        raise TrainingError(f"the checkpoint has no {what} '{name}'", hint="it was written by another model")
    return np.asarray(state[name])


def saved_count(saved, what: str) -> int:
    """A count a checkpoint keeps (an optimizer's steps, a VAE's epochs, a GAN's steps): one whole number >= 0.
    An edited one was taken as it came: adam's bias correction of -5 steps was a 'math domain error' (exit 70), a
    VAE's KL warm-up ran from epoch -5, 2.5 became 2."""
    saved = np.asarray(saved)
    if saved.shape != () or saved.dtype.kind not in "iu" or int(saved) < 0:
        shown = saved.tolist() if saved.size <= 4 else f"an array of shape {list(saved.shape)}"
        raise TrainingError(f"the checkpoint's {what} is {shown!r} ({saved.dtype}); it is one whole number >= 0",
                            hint="the checkpoint was edited or is corrupt: resume from an intact copy, or start a "
                                 "new run")
    return int(saved)


def restore_arrays(state: dict, live: dict, what: str, xp) -> None:
    """Copy each array of `state` into the `live` one of its name, in place (optimizers keep references to
    the live arrays); a missing array, or one of another shape, is refused."""
    for name, target in live.items():
        value = saved_array(state, name, what)
        if value.shape != target.shape:
            raise TrainingError(f"{what} '{name}' has shape {list(value.shape)} in the checkpoint, "
                                f"{list(target.shape)} in the model", hint="it was written by another model")
        target[...] = xp.asarray(value, dtype=target.dtype)
