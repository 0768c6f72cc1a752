"""The whole front-end check: AST -> checked models and train configs, or every error found."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nngraph.errors import Collector, Diagnostic, NngraphError, Span, ValidationError, did_you_mean
from nngraph.graph.build import build_model
from nngraph.graph.ir import ModelGraph
from nngraph.graph.memory import check_training_memory, model_memory
from nngraph.graph.methods import METHODS, check_method
from nngraph.graph.shapes import infer_shapes
from nngraph.graph.training import TrainConfig, build_train
from nngraph.graph.validate import check_one_value_layernorm, validate_structure
from nngraph.safe_files import about_bytes, available_memory, describe_bytes
from nngraph.spec import ast
from nngraph.spec.limits import collector_paused
from nngraph.spec.values import numbers_beyond


@dataclass
class CheckedSpec:
    spec: ast.Spec
    models: dict[str, ModelGraph]
    trains: list[TrainConfig]
    warnings: list[Diagnostic] = field(default_factory=list)

    def train(self, name: str | None = None) -> TrainConfig:
        if name is None:
            if not self.trains:
                raise ValidationError(f"{self.spec.path} has no train block", None,
                                      "add `train { model NAME ... }`")
            return self.trains[0]
        for t in self.trains:
            if t.name == name:
                return t
        raise ValidationError(f"no train block named '{name}'", None,
                              did_you_mean(name, [t.name for t in self.trains if t.name]))


def check_spec(spec: ast.Spec, memory_limit: int | None = None) -> CheckedSpec:
    """Run every check; raise ErrorList with all independent errors (capped), else return the result."""
    with collector_paused():  # the passes make many small acyclic objects (see spec/limits.py)
        return _check_spec(spec, memory_limit)


def _check_spec(spec: ast.Spec, memory_limit: int | None) -> CheckedSpec:
    errors = Collector()
    _check_model_numbers(spec, errors)
    blocks = _named(spec.blocks, "block", errors)
    models, broken = {}, set()
    for model_ast in _named(spec.models, "model", errors).values():
        before = len(errors.errors)
        model = build_model(model_ast, blocks, errors)
        models[model.name] = model
        if len(errors.errors) > before:
            broken.add(model.name)
            continue  # later passes would only repeat the consequences of a broken unit
        validate_structure(model, errors)
        infer_shapes(model, errors)
        check_one_value_layernorm(model, errors)
        _check_memory(model, errors, memory_limit)
        if len(errors.errors) > before:
            broken.add(model.name)
    if not models and not errors.errors:
        errors.error("the spec defines no model", Span(spec.path, 1, 1),
                     "add `model NAME { ... }`")
    trains = [build_train(t, errors) for t in spec.trains]
    _check_train_names(spec.trains, errors)
    for config in trains:
        before = len(errors.errors)
        _check_train_models(config, models, broken, errors)
        if len(errors.errors) == before and config.models and not broken.intersection(config.models):
            check_training_memory(models, config, errors, memory_limit)
    errors.raise_if_any()
    return CheckedSpec(spec, models, trains, errors.warnings)


def _check_model_numbers(spec: ast.Spec, errors: Collector) -> None:
    """Every number of the models and blocks (an activation's slope, a norm's eps) within the float type they
    run in: float64 where every train block asks for it, else float32 (a program's default): `leaky_relu(
    slope=1e308)` trained under overflow warnings into NaN."""
    dtypes = {(t.get("dtype").value.name if t.get("dtype") and isinstance(t.get("dtype").value, ast.Ref)
               else "float32") for t in spec.trains}
    dtype = "float64" if dtypes == {"float64"} else "float32"
    for item in (*spec.models, *spec.blocks):
        try:
            numbers_beyond(item.statements, dtype, f"{'model' if isinstance(item, ast.Model) else 'block'} "
                                                   f"'{item.name}'")
        except NngraphError as e:
            errors.add(e)


def _named(items, what: str, errors: Collector) -> dict:
    table = {}
    for item in items:
        if item.name in table:
            errors.error(f"{what} '{item.name}' is defined twice", item.span,
                         f"first defined at line {table[item.name].span.line}")
        else:
            table[item.name] = item
    return table


def _check_train_names(trains, errors: Collector) -> None:
    names = [t.name for t in trains]
    if len(trains) > 1 and (None in names or len(set(names)) != len(names)):
        errors.error("several train blocks need distinct names", trains[1].span,
                     "write `train pretrain { ... }` and pick one with --train NAME")


def _check_train_models(config: TrainConfig, models: dict[str, ModelGraph], broken: set[str],
                        errors: Collector) -> None:
    if {"method", "model"} & config.refused:
        return  # which model and method are meant is unknown; their own errors say why
    method = METHODS[config.method.name]
    missing = [o for o in method.model_options if not isinstance(config.method.options.get(o), str)]
    if missing:
        errors.error(f"{method.name} needs {missing[0]}=MODEL", config.method.span, f"e.g. {method.example}")
        return
    if not method.model_options and config.model is None:
        if len(models) == 1:
            config.model = next(iter(models))
        else:
            errors.error("this train block must say which model it trains", config.span,
                         "add `model NAME`; the spec defines " + ", ".join(models))
            return
    for name in config.models:
        if name not in models:
            errors.error(f"no model named '{name}'", config.model_span or config.method.span,
                         did_you_mean(str(name), models))
            return
    if config.data is None and config.env is None and "env" not in config.refused:
        errors.error("the train block names no data", config.span, "add `data xor` or `data npz(\"f.npz\")`")
    if broken.intersection(config.models):
        return
    try:
        check_method(config, models)
    except NngraphError as e:
        errors.add(e)
    _check_bidirectional_training(config, models, errors)
    _check_augment(config, models, errors)
    _check_batch_of_one(config, models, errors)


def one_value_batchnorms(models: dict[str, ModelGraph], config: TrainConfig) -> list[str]:
    """The units of the models `config` trains whose batchnorm channel holds one value per example (a vector's
    values, a 1x1 image's channels): a training batch of one row gives them no variance (PyTorch raises there)."""
    return [u.name for name in config.models for u in models[name].units
            if u.norm == "batchnorm" and math.prod(models[name].shapes.get(u.name, (0, 0))[1:]) == 1]


def _check_batch_of_one(config: TrainConfig, models: dict[str, ModelGraph], errors: Collector) -> None:
    """`batch 1` with such a batchnorm; a last batch of one row is refused when the data loads (session.py)."""
    units = one_value_batchnorms(models, config) if config.batch == 1 and config.env is None else []
    if units:
        errors.error(f"batch 1: batchnorm on '{units[0]}' normalises each of its values over the batch's rows, "
                     "and one row has no variance", config.spans.get("batch", config.span),
                     "use a batch of at least 2, or `layernorm` (each example on its own)")


def _check_augment(config: TrainConfig, models: dict[str, ModelGraph], errors: Collector) -> None:
    """`augment` moves the pixels of data examples: it needs data, and a model whose one input is an image
    [channels, rows, columns]. (A method training several models, a gan, feeds the data to one of them: its
    examples' shape is checked when the data loads.)"""
    if config.augment is None:
        return
    span = config.spans.get("augment")
    if config.env is not None:
        errors.error("augment transforms data examples; an environment has none", span, "leave augment out")
        return
    if METHODS[config.method.name].model_options:
        return
    model = models[config.model]
    inputs = model.units_with_role("input", "visible")
    if len(inputs) != 1 or len(model.shapes.get(inputs[0].name, ())) != 3:
        shapes = ", ".join(f"{u.name}{list(model.shapes.get(u.name, ()))}" for u in inputs)
        errors.error(f"augment transforms images shaped [channels, rows, columns]; model '{model.name}' takes "
                     f"{shapes}", span, "give the model one input shaped like `x[1, 28, 28]`, or leave augment out")


def _check_bidirectional_training(config: TrainConfig, models: dict[str, ModelGraph], errors: Collector) -> None:
    """A bidirectional layer's backward direction starts at the last step of the whole sequence: a `bptt`
    window would cut the future off, and padded steps would come first (lengths are not passed per sequence)."""
    units = [u.name for name in config.models for u in models[name].units if u.bidirectional]
    if not units:
        return
    if config.bptt is not None:
        errors.error(f"bptt cannot cut the sequences of bidirectional unit '{units[0]}'",
                     config.spans.get("bptt", config.span), "its backward direction reads the whole sequence: "
                     "leave bptt out")
    lengths = config.data and isinstance(config.data.value, ast.Call) and \
        any(k.name == "lengths" for k in config.data.value.kwargs)
    if lengths or (config.data and any(k.name == "lengths" for k in config.data.kwargs)):
        errors.error(f"bidirectional unit '{units[0]}' cannot read ragged sequences (lengths=)",
                     config.data.span, "its backward direction would start in the padding: give sequences of "
                     "one length")


def _check_memory(model: ModelGraph, errors: Collector, limit: int | None) -> None:
    """The model alone (what `nngraph.program` allocates); a train block's run is checked with its own
    optimizer and batch once the train blocks are read."""
    limit = available_memory() if limit is None else limit
    need = model_memory(model)
    if need > limit:
        errors.error(f"model '{model.name}' needs {about_bytes(need)} to make its parameters; "
                     f"{describe_bytes(limit)} is available", model.span,
                     "make the layers smaller; nothing was allocated")
