"""What a run remembers of how it was made, and the check that a checkpoint fits the spec it is used with.

A checkpoint's meta holds `run` (also written to the run folder's run.json when training starts):

    train        the train block's name (None: the first)
    overrides    the `--set` settings, as the spec writes them (`test 0.5`), in order
    settings     every setting of the train block as trained, by name
    model        the model's structure: the method, each unit and connection of the models it trains,
                 every parameter's shape
    preprocessing  what was fitted or applied to the data (data/preprocessing.py)

A checkpoint is compatible with a spec when the structure is the same: a comment, `epochs 31` or the YAML twin of
the spec leave it usable (a changed setting is one warning line), a changed unit, connection, parameter or method
is refused, naming it. Checkpoints written before `run` existed hold only a hash of the spec's text: one that
matches is taken as it is; one that does not is checked by its arrays' names and shapes alone, with a warning.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from nngraph.errors import TrainingError
from nngraph.graph.ir import UnitSpec
from nngraph.spec import ast

RUN_KEY = "run"
SOFT_UNIT_FIELDS = ("dropout",)  # unit attributes that change training, not what the parameters compute
OVERRIDE_PATHS = ("<--set>", "<run --set>")  # where the settings of --set, typed or recorded, come from


class CheckpointWarning(UserWarning):
    """A checkpoint that fits its spec, with differences worth a line (settings, an older checkpoint)."""


# ---- what a run records -----------------------------------------------------------------------------


def run_record(checked, config, method, preprocessing: dict | None = None) -> dict:
    """The `run` entry of a checkpoint's meta for a run of `config` (a train block of `checked`)."""
    block = train_block(checked.spec, config.name)
    return {"train": config.name, "overrides": overrides_of(block), "settings": settings_of(block),
            "model": model_signature(checked, config, method), "preprocessing": preprocessing or {}}


def train_block(spec: ast.Spec, name: str | None) -> ast.Train:
    """The train block `name` (None: the first), as `CheckedSpec.train` picks it."""
    return next(t for t in spec.trains if name is None or t.name == name)


def overrides_of(block: ast.Train) -> list[str]:
    """The settings that `--set` put into the block (their spans are in `<--set>`), as the spec writes them."""
    from nngraph.spec.format import format_setting

    return [format_setting(s) for s in block.settings if s.span.path in OVERRIDE_PATHS]


def settings_of(block: ast.Train) -> dict[str, str]:
    from nngraph.spec.format import format_setting

    return {s.name: format_setting(s) for s in block.settings}


def model_signature(checked, config, method) -> dict:
    """What a checkpoint's parameters mean: the method, the units and connections of the models it trains,
    and each parameter's shape."""
    models = {name: _model_structure(checked.models[name]) for name in config.models}
    params = {name: list(a.shape) for name, a in method.params.items()}
    return {"method": config.method.name, "models": models, "params": params}


def _model_structure(model) -> dict:
    units = {u.name: {**_fields(u, UNIT_DEFAULTS), "shape": list(model.shapes.get(u.name, ()))}
             for u in model.units}
    edges = sorted(_edge_text(e) for e in model.edges)
    return {"units": units, "connections": edges}


def _fields(spec, defaults: dict | None = None) -> dict:
    """A frozen IR record's compared fields as JSON data (its span and provenance left out), those at their
    `defaults` too (a checkpoint holds one record per unit: kept short)."""
    found = {f.name: _plain(getattr(spec, f.name)) for f in dataclasses.fields(spec) if f.compare}
    return {k: v for k, v in found.items() if defaults is None or defaults.get(k, v) != v or k == "role"}


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


UNIT_DEFAULTS = _fields(UnitSpec("", ""))  # a unit's record leaves these out


def _edge_text(edge) -> str:
    """`x->h dense`, with the options and delay that change what it computes."""
    fields = _fields(edge)
    arrow = "<->" if fields.pop("symmetric") else "->"
    head = f"{fields.pop('source')}{arrow}{fields.pop('target')} {fields.pop('kind')}"
    rest = " ".join(f"{k}={v}" for k, v in fields.items() if v not in ((), [], 0, False, None))
    return f"{head} {rest}".rstrip()


# ---- the check when a checkpoint is loaded ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a command expects of a checkpoint: the record a run of this spec would write, the spec's hash (for
    checkpoints older than records), and what the command does with it (`resume`, `eval`...), for the hints."""

    record: dict
    spec_hash: str
    command: str

    def __call__(self, path: Path, meta: dict) -> None:
        """Refuse a checkpoint whose model is another; warn (one line) on lesser differences."""
        saved = meta.get(RUN_KEY)
        if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
            self._legacy(path, meta)
            return
        try:
            difference = structure_difference(saved["model"], self.record["model"])
            changed = settings_difference(saved.get("settings") or {}, self.record["settings"])
        except (AttributeError, KeyError, TypeError) as e:  # not what nngraph writes
            raise TrainingError(f"checkpoint {path} has a corrupt run record ({type(e).__name__}: {e})") from None
        if difference:
            raise TrainingError(f"checkpoint {path} is of another model: {difference}", None, self._hint(path))
        if changed:
            warnings.warn(f"checkpoint {path} was trained with other settings: {changed}", CheckpointWarning,
                          stacklevel=2)

    def _legacy(self, path: Path, meta: dict) -> None:
        if meta.get("spec_hash") != self.spec_hash:
            warnings.warn(f"checkpoint {path} was written by an older nngraph for another spec text; only its "
                          "arrays' names and shapes are checked against this model", CheckpointWarning,
                          stacklevel=2)

    def _hint(self, path: Path) -> str:
        copy = next(iter(sorted(Path(path).parent.glob("spec.*"))), None)
        which = f" (its copy is {copy})" if copy is not None else ""
        if self.command == "resume":
            return f"resume with the spec that started the run{which}"
        return f"{self.command} with the spec that trained it{which}"


def structure_difference(saved: dict, current: dict) -> str | None:
    """The first thing that differs between two model signatures, in words; None when they match."""
    if saved.get("method") != current["method"]:
        return f"it was trained with method {saved.get('method')}, this spec's is {current['method']}"
    for name, model in current["models"].items():
        found = _model_difference(name, (saved.get("models") or {}).get(name), model)
        if found:
            return found
    return _params_difference(saved.get("params") or {}, current["params"])


def _model_difference(name: str, saved: dict | None, current: dict) -> str | None:
    if saved is None:
        return f"it has no model '{name}'"
    for unit, fields in current["units"].items():
        old = saved["units"].get(unit)
        if old is None:
            return f"model '{name}' has no unit '{unit}' in the checkpoint"
        changed = [k for k in {**old, **fields} if k not in SOFT_UNIT_FIELDS and _field(old, k) != _field(fields, k)]
        if changed:
            k = changed[0]
            return (f"unit '{unit}' has {k} {_shown(_field(old, k))} in the checkpoint, {_shown(_field(fields, k))} "
                    "in this spec")
    extra = [u for u in saved["units"] if u not in current["units"]]
    if extra:
        return f"the checkpoint's model '{name}' has a unit '{extra[0]}' that this spec's lacks"
    return _connections_difference(name, saved["connections"], current["connections"])


def _connections_difference(name: str, saved: list, current: list) -> str | None:
    only_saved, only_current = sorted(set(saved) - set(current)), sorted(set(current) - set(saved))
    if only_saved:
        return f"the checkpoint's model '{name}' has the connection {only_saved[0]}, this spec's has not"
    if only_current:
        return f"this spec's model '{name}' has the connection {only_current[0]}, the checkpoint's has not"
    return None


def _params_difference(saved: dict, current: dict) -> str | None:
    for param, shape in current.items():
        if saved.get(param) != shape:
            old = "no such parameter" if param not in saved else f"shape {saved[param]}"
            return f"parameter '{param}' has {old} in the checkpoint, shape {shape} in this spec"
    return None


def _field(unit: dict, name: str):
    return unit.get(name, UNIT_DEFAULTS.get(name))


def _shown(value) -> str:
    return str(value) if not isinstance(value, list) else "[" + ", ".join(map(str, value)) + "]"


def settings_difference(saved: dict, current: dict) -> str:
    """`epochs 30 (now 31), test 0.5 (now not set)`: the train settings that differ, in one line."""
    names = [n for n in {**saved, **current} if saved.get(n) != current.get(n)]
    return ", ".join(f"{n} {_value(saved, n)} (now {_value(current, n)})" for n in names)


def _value(settings: dict, name: str) -> str:
    """A setting's text without its name (`0.5` of `test 0.5`), or `not set`."""
    text = settings.get(name)
    return "not set" if text is None else text[len(name):].strip() or "set"
