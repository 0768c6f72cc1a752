"""A train block -> a typed TrainConfig, every value checked and positioned."""

from __future__ import annotations

from dataclasses import dataclass, field

from nngraph.errors import Collector, NngraphError, Span, ValidationError, did_you_mean
from nngraph.graph import vocabulary as V
from nngraph.graph.envs import EnvSetting, env_setting
from nngraph.graph.methods import METHODS, choose_optimizer
from nngraph.spec import ast
from nngraph.spec.options import Choice, bind, choose
from nngraph.spec.values import call_of, expect_number, literal, numbers_beyond


@dataclass(frozen=True)
class LossTerm:
    weight: float
    kind: str  # mse | bce | cross_entropy | kl
    unit: str
    target: str | None  # a unit whose value is the target (autoencoders); None: the data set's targets
    span: Span | None = None

    @property
    def label(self) -> str:
        """How metrics and programs name the term: `bce(x_hat, x)`."""
        return f"{self.kind}({self.unit}{', ' + self.target if self.target else ''})"


@dataclass
class TrainConfig:
    name: str | None = None
    span: Span | None = None
    model: str | None = None
    model_span: Span | None = None
    data: ast.Setting | None = None
    loss: tuple[LossTerm, ...] = ()
    loss_span: Span | None = None
    method: Choice = Choice("backprop")
    optimizer: Choice = Choice("sgd")  # its options where they are used: train/optimizers.py: settings
    schedule: Choice = Choice("constant")
    batch: int = 32
    epochs: int = 10
    l1: float = 0.0
    l2: float = 0.0
    clip: float | None = None
    validation: float = 0.0
    test: float = 0.0
    seed: int = 0
    checkpoint_every: int = 1
    bptt: int | None = None
    dtype: str = "float32"
    early_stopping: dict | None = None
    env: EnvSetting | None = None  # reinforcement learning: the environment, instead of `data`
    gamma: float = 0.99  # the discount of future rewards
    steps: int | None = None  # environment steps to train for (every copy's step counts)
    augment: dict | None = None  # each training image's random transform: V.AUGMENT_OPTIONS, filled in
    spans: dict = field(default_factory=dict)  # setting name -> span, for errors found later
    refused: set = field(default_factory=set)  # settings already reported as wrong: checks that need them skip

    @property
    def models(self) -> list[str]:
        """The models it trains: those the method's options name (a gan's two), else the `model` setting."""
        named_by = METHODS[self.method.name].model_options
        if named_by:
            return [self.method.options[option] for option in named_by]
        return [self.model] if self.model else []


def build_train(block: ast.Train, errors: Collector) -> TrainConfig:
    config = TrainConfig(name=block.name, span=block.span)
    seen: dict[str, ast.Setting] = {}
    for setting in block.settings:
        if setting.name in seen:
            errors.error(f"'{setting.name}' is set twice", setting.span,
                         f"first set at line {seen[setting.name].span.line}")
            continue
        seen[setting.name] = setting
        config.spans[setting.name] = setting.span
        try:
            _apply(config, setting)
        except NngraphError as e:
            errors.add(e)
            config.refused.add(setting.name)
    _check_float_range(block, config, errors)
    _check_monitor_has_data(config, errors)
    return config


def _check_float_range(block: ast.Train, config: TrainConfig, errors: Collector) -> None:
    """Every number of the block within the range of the float type the run computes in (the block's dtype;
    `eval --data` and `--dtype` are judged again where the data loads)."""
    for setting in block.settings:
        if setting.name in config.refused:
            continue
        try:
            for node in (setting.value, *(kw.value for kw in setting.kwargs)):
                numbers_beyond(node, config.dtype, setting.name)
        except NngraphError as e:
            errors.add(e)
            config.refused.add(setting.name)


def _check_monitor_has_data(config: TrainConfig, errors: Collector) -> None:
    """Early stopping on a validation metric needs a validation split. (A fraction too small to hold one
    example of the data is found when the data loads.)"""
    monitor = (config.early_stopping or {}).get("monitor", "")
    if monitor.startswith("val_") and not config.validation and "validation" not in config.refused:
        errors.error(f"early_stopping monitors '{monitor}' but there is no validation split",
                     config.spans.get("early_stopping"), f"add e.g. `validation 0.2`, or monitor `loss{V.RUNNING}`")


def _apply(config: TrainConfig, s: ast.Setting) -> None:
    handler = _HANDLERS.get(s.name)
    if handler is None:
        raise ValidationError(f"unknown train setting '{s.name}'", s.span, did_you_mean(s.name, _HANDLERS))
    if s.kwargs and s.name not in ("early_stopping", "checkpoint", "method", "data", "env", "augment"):
        raise ValidationError(f"'{s.name}' takes a value, not key=value options", s.kwargs[0].span,
                              f"write `{s.name} VALUE`")
    handler(config, s)


def _value(s: ast.Setting):
    if s.value is None:
        raise ValidationError(f"'{s.name}' needs a value", s.span)
    return literal(s.value)


def _number(key, **bounds):
    def handler(config, s):
        span = s.value.span if s.value is not None else s.span
        setattr(config, key, expect_number(_value(s), span, s.name, **bounds))
    return handler


def _model(config, s):
    value = _value(s)
    if not isinstance(value, str):
        raise ValidationError("model: expected a model name", s.value.span)
    config.model, config.model_span = value, s.value.span


def _data(config, s):
    """Kept as written: the data layer knows the data sets and their options."""
    if s.value is None:
        raise ValidationError("data needs a data set, e.g. `data xor` or `data npz(\"train.npz\")`", s.span)
    config.data = s


def _choice(key, table, what, chooser=None):
    """A setting naming a choice of `table`; `chooser(call)` binds it where options depend on each other."""
    pick = chooser or (lambda call: choose(call, table, what))

    def handler(config, s):
        if s.value is None:
            raise ValidationError(f"'{s.name}' needs a value", s.span)
        call = call_of(s.value)
        setattr(config, key, pick(ast.Call(call.name, call.args, call.kwargs + s.kwargs, call.span)))
    return handler


def _loss(config, s):
    if s.value is None:
        raise ValidationError("loss needs an expression, e.g. `loss cross_entropy(y)`", s.span)
    config.loss, config.loss_span = tuple(loss_terms(s.value, 1.0)), s.value.span


def loss_terms(value: ast.Value, weight: float) -> list[LossTerm]:
    """`bce(x_hat, x) + 0.5 * kl(z)` -> weighted terms; subtraction of a term is refused."""
    if isinstance(value, ast.BinaryOp) and value.op == "+":
        return loss_terms(value.left, weight) + loss_terms(value.right, weight)
    if isinstance(value, ast.BinaryOp) and value.op == "*":
        for scale, term in ((value.left, value.right), (value.right, value.left)):
            if isinstance(scale, (ast.Number, ast.Negate)):
                factor = expect_number(literal(scale), scale.span, "loss weight", low=0)
                return loss_terms(term, weight * factor)
    if isinstance(value, ast.Call) and value.name in V.LOSSES:
        return [_loss_call(value, weight)]
    if isinstance(value, ast.Call):
        raise ValidationError(f"unknown loss '{value.name}'", value.span, did_you_mean(value.name, V.LOSSES))
    raise ValidationError("a loss is a sum of weighted terms like `mse(y)` or `0.5 * kl(z)`", value.span)


def _loss_call(call: ast.Call, weight: float) -> LossTerm:
    refs = list(call.args) + [k.value for k in call.kwargs if k.name == "target"]
    others = [k for k in call.kwargs if k.name != "target"]
    if others:
        raise ValidationError(f"{call.name} has no option '{others[0].name}'", others[0].span)
    if not refs or len(refs) > 2 or not all(isinstance(r, ast.Ref) for r in refs):
        raise ValidationError(f"{call.name}(...) takes a unit and optionally a target unit", call.span,
                              f"e.g. `{call.name}(y)` or `{call.name}(x_hat, x)`")
    target = refs[1].name if len(refs) == 2 else None
    return LossTerm(weight, call.name, refs[0].name, target, call.span)


def _early_stopping(config, s):
    options = {"monitor": "val_loss", "patience": 10, "min_delta": 0.0}
    if s.value is not None:
        options["patience"] = _value(s)
    for kw in s.kwargs:
        if kw.name not in options:
            raise ValidationError(f"early_stopping has no option '{kw.name}'", kw.span,
                                  did_you_mean(kw.name, options))
        options[kw.name] = literal(kw.value)
    monitor = str(options["monitor"])
    if monitor not in V.MONITORS:
        hint = (f"the training split's figures are averaged over each epoch's steps: `monitor={monitor}{V.RUNNING}`"
                if monitor + V.RUNNING in V.MONITORS else did_you_mean(monitor, V.MONITORS))
        raise ValidationError(f"early_stopping can monitor {', '.join(V.MONITORS)}", s.span, hint)
    expect_number(options["patience"], s.span, "early_stopping patience", integer=True, low=1)
    config.early_stopping = options


def _checkpoint(config, s):
    every = _value(s) if s.value is not None else literal(next((k.value for k in s.kwargs if k.name == "every"),
                                                               ast.Number(1)))
    config.checkpoint_every = expect_number(every, s.span, "checkpoint every", integer=True, low=1)


DTYPES = ("float32", "float64", "tf32", "bfloat16")  # the last two: float32 values, a GPU's faster products


def _dtype(config, s):
    value = _value(s)
    if value not in DTYPES:
        raise ValidationError(f"dtype: expected one of {', '.join(DTYPES)}, got {value!r}", s.value.span,
                              did_you_mean(str(value), DTYPES) if isinstance(value, str) else None)
    config.dtype = value


def _env(config, s):
    if s.value is None:
        raise ValidationError("env needs an environment, e.g. `env cartpole(n=8)` or `env gym(\"Acrobot-v1\")`",
                              s.span)
    config.env = env_setting(s.value, s.kwargs)


def _augment(config, s):
    """`augment shift=2 rotate=10 noise=0.05`: options only, at least one."""
    example = "e.g. `augment shift=2 rotate=10 noise=0.05`"
    if s.value is not None:
        raise ValidationError("augment takes options written name=value", s.value.span, example)
    if not s.kwargs:
        raise ValidationError("augment needs at least one of " + ", ".join(V.AUGMENT_OPTIONS), s.span, example)
    config.augment = bind(ast.Call("augment", (), s.kwargs, s.span), V.AUGMENT_OPTIONS, ()).values


_HANDLERS = {
    "model": _model,
    "data": _data,
    "loss": _loss,
    "method": _choice("method", METHODS, "method"),
    "optimizer": _choice("optimizer", V.OPTIMIZERS, "optimizer", choose_optimizer),
    "schedule": _choice("schedule", V.SCHEDULES, "schedule"),
    "batch": _number("batch", integer=True, low=1),
    "epochs": _number("epochs", integer=True, low=0),
    "l1": _number("l1", low=0),
    "l2": _number("l2", low=0),
    "clip": _number("clip", low=0, low_open=True),
    "validation": _number("validation", low=0, high=1, high_open=True),
    "test": _number("test", low=0, high=1, high_open=True),
    "seed": _number("seed", integer=True, low=0),
    "bptt": _number("bptt", integer=True, low=1),
    "early_stopping": _early_stopping,
    "checkpoint": _checkpoint,
    "dtype": _dtype,
    "env": _env,
    "gamma": _number("gamma", low=0, high=1),
    "steps": _number("steps", integer=True, low=1),
    "augment": _augment,
}
