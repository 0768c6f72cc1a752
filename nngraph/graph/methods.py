"""Does a training method fit its model? One small check per method."""

from __future__ import annotations

import math

from nngraph.errors import ShapeError, ValidationError, did_you_mean
from nngraph.graph.ir import ModelGraph
from nngraph.graph.training import Choice, TrainConfig, check_options
from nngraph.graph.vocabulary import OPTIMIZERS
from nngraph.spec import ast
from nngraph.spec.values import bind_options


def check_method(config: TrainConfig, models: dict[str, ModelGraph]) -> None:
    if "loss" in config.refused:
        return  # the loss's own error is reported; "needs a loss" would only repeat it
    _CHECKS[config.method.name](config, models)
    if config.method.name != "gan":
        _check_loss_units(config, models[config.model])
    if config.method.name == "backprop":
        _check_data_terms(config, models[config.model])


def _span(config: TrainConfig):
    return config.method.span or config.span


def _backprop(config: TrainConfig, models) -> None:
    model = models[config.model]
    if model.is_boltzmann:
        raise ValidationError(f"model '{model.name}' has symmetric links; backprop cannot train it",
                              _span(config), "use method cd(k=1), pcd(k=1) or boltzmann(...)")
    if not config.loss:
        raise ValidationError("backprop needs a loss", config.span, "e.g. `loss cross_entropy(y)`")
    if any(u.role == "sample" for u in model.units) and config.method.name == "backprop":
        raise ValidationError(f"model '{model.name}' has a sample unit", _span(config),
                              "train it with `method vae`")


def _rbm(config: TrainConfig, models) -> None:
    model = models[config.model]
    deterministic = [u.name for u in model.units if not u.is_stochastic]
    if deterministic:
        raise ValidationError(f"{config.method.name} trains restricted Boltzmann machines; "
                              f"'{deterministic[0]}' is deterministic", _span(config),
                              "every unit must be `visible` or `hidden`")
    for edge in model.edges:
        roles = {model.unit(edge.source).role, model.unit(edge.target).role}
        if roles != {"visible", "hidden"}:
            raise ValidationError(f"{config.method.name} needs a restricted machine (visible <-> hidden only); "
                                  f"{edge.source} <-> {edge.target} is not", edge.span,
                                  "use method boltzmann(...) for general Boltzmann machines")


def _boltzmann(config: TrainConfig, models) -> None:
    model = models[config.model]
    deterministic = [u.name for u in model.units if not u.is_stochastic]
    if deterministic:
        raise ValidationError(f"boltzmann learning needs stochastic units; '{deterministic[0]}' is not",
                              _span(config))
    anneal = config.method.options.get("anneal")
    if anneal is not None and not (isinstance(anneal, list) and anneal and all(
            isinstance(p, list) and len(p) == 2 and p[0] > 0 and isinstance(p[1], int) and p[1] >= 1
            for p in anneal)):
        raise ValidationError("anneal: expected a list of [temperature, sweeps] pairs, temperature > 0",
                              _span(config), "e.g. anneal=[[20, 2], [15, 2], [12, 2], [10, 4]]")
    if config.method.options.get("order") not in ("random", "sequential", "parallel"):
        raise ValidationError("order: expected random, sequential or parallel", _span(config))


def _vae(config: TrainConfig, models) -> None:
    model = models[config.model]
    if not any(u.role == "sample" for u in model.units):
        raise ValidationError(f"method vae needs a sample unit in '{model.name}'", _span(config),
                              "e.g. `sample z ~ normal(mu, logvar)`")
    if not config.loss:
        raise ValidationError("vae needs a loss", config.span, "e.g. `loss bce(x_hat, x) + kl(z)`")
    inputs = model.units_with_role("input")
    for term in config.loss:
        if term.kind != "kl":
            _check_reconstruction(model, term, term.target or (inputs[0].name if len(inputs) == 1 else None))


def _check_reconstruction(model: ModelGraph, term, target: str | None) -> None:
    """A VAE's decoder output must have the shape of the data it reconstructs."""
    if target is None:
        raise ValidationError(f"{term.kind}({term.unit}): which data does it reconstruct?", term.span,
                              f"name the input unit: `{term.kind}({term.unit}, x)`")
    if term.unit not in model.graph or target not in model.graph:
        return  # the loss-unit check names the unknown unit
    got, want = model.shapes.get(term.unit), model.shapes.get(target)
    if got and want and got != want:
        raise ShapeError(f"decoder output '{term.unit}' has shape {list(got)}, but the data unit '{target}' "
                         f"it reconstructs has shape {list(want)}", model.unit(term.unit).span,
                         f"make the decoder's last layer `{term.unit}{list(want)}`")


def _gan(config: TrainConfig, models) -> None:
    opts = config.method.options
    for role in ("generator", "discriminator"):
        if not isinstance(opts.get(role), str):
            raise ValidationError(f"gan needs {role}=MODEL", _span(config),
                                  "e.g. method gan(generator=g, discriminator=d, k=1)")
    gen, disc = models[opts["generator"]], models[opts["discriminator"]]
    if not gen.units_with_role("noise"):
        raise ValidationError(f"generator '{gen.name}' has no noise input", gen.span, "add `noise z[16] normal`")
    gen_out, disc_in = gen.units_with_role("output"), disc.units_with_role("input")
    if len(gen_out) != 1 or len(disc_in) != 1:
        raise ValidationError("a gan's generator needs one output and its discriminator one input",
                              _span(config))
    pack = opts.get("pack", 1)
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ValidationError(f"gan: pack: expected a whole number >= 1, got {pack!r}", _span(config))
    got, want = gen.shapes.get(gen_out[0].name), disc.shapes.get(disc_in[0].name)
    if got and want and (got != want if pack == 1 else math.prod(want) != pack * math.prod(got)):
        packed = f" ({pack} packed: {pack * math.prod(got)} values)" if pack > 1 else ""
        raise ShapeError(f"generator output '{gen_out[0].name}' has shape {list(got)}{packed}, but discriminator "
                         f"input '{disc_in[0].name}' expects {list(want)}", gen_out[0].span)
    judge = disc.units_with_role("output")
    if len(judge) != 1 or judge[0].activation != "sigmoid" or disc.shapes.get(judge[0].name) != (1,):
        raise ValidationError(f"discriminator '{disc.name}' needs one output unit of one sigmoid: "
                              "the probability that its input is real", (judge[0] if judge else disc).span,
                              "e.g. `output real[1] sigmoid`")
    if judge[0].dropout:
        raise ValidationError(f"dropout on '{judge[0].name}' would drop the probability that the gan's "
                              "binary cross-entropy reads", judge[0].span, "put the dropout on the unit before it")
    if config.loss:
        raise ValidationError("gan sets its own losses (binary cross-entropy on real and generated data)",
                              config.loss_span or config.loss[0].span, "remove the `loss` setting")
    for key in ("g_optimizer", "d_optimizer"):
        optimizer_option(opts.get(key), _span(config))


def optimizer_option(value, span) -> Choice | None:
    """A per-model optimizer written as a method option, e.g. `g_optimizer=adam(lr=2e-4, beta1=0.5)`;
    None where the option is not set (the train block's optimizer applies)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = ast.Call(value, (), (), span)
    if not isinstance(value, ast.Call) or value.name not in OPTIMIZERS:
        name = value.name if isinstance(value, ast.Call) else repr(value)
        raise ValidationError(f"expected an optimizer, got {name}", getattr(value, "span", None) or span,
                              did_you_mean(name, OPTIMIZERS) if isinstance(value, ast.Call) else
                              "e.g. g_optimizer=adam(lr=2e-4, beta1=0.5)")
    options = bind_options(value, OPTIMIZERS[value.name], "optimizer")
    check_options(value, options)
    return Choice(value.name, options, value.span)


def _check_loss_units(config: TrainConfig, model: ModelGraph) -> None:
    for term in config.loss:
        for name in filter(None, (term.unit, term.target)):
            if name not in model.graph:
                raise ValidationError(f"loss names unknown unit '{name}'", term.span,
                                      did_you_mean(name, list(model.graph)))
        unit = model.unit(term.unit)
        if term.kind == "kl" and unit.role != "sample":
            raise ValidationError(f"kl(...) applies to a sample unit; '{unit.name}' is a {unit.role} unit",
                                  term.span, "e.g. `sample z ~ normal(mu, logvar)` and `kl(z)`")
        if term.kind == "cross_entropy" and unit.activation not in ("softmax", "identity"):
            raise ValidationError(f"cross_entropy expects a softmax unit; '{unit.name}' uses {unit.activation}",
                                  term.span, "declare it `output y[10] softmax`")
        if term.kind == "bce" and unit.activation not in ("sigmoid", "identity"):
            raise ValidationError(f"bce expects a sigmoid unit; '{unit.name}' uses {unit.activation}",
                                  term.span, "declare it with `sigmoid`")
        if term.kind in ("bce", "cross_entropy") and unit.activation != "identity" and unit.dropout:
            raise ValidationError(f"dropout on '{unit.name}' would drop the {unit.activation} probabilities "
                                  f"that {term.kind} reads", unit.span,
                                  "put the dropout on the unit before it, or make it an identity unit (dropout "
                                  "then applies to the logits)")
        if term.target and term.kind != "kl":
            _check_target_shape(model, term)


def _check_data_terms(config: TrainConfig, model: ModelGraph) -> None:
    """The data holds one target per example: every term that compares with it must read it alike
    (units of one shape, and class labels for all of them or for none)."""
    terms = [t for t in config.loss if t.target is None and t.kind != "kl"]
    for term in terms[1:]:
        first = terms[0]
        shapes = model.shapes.get(first.unit), model.shapes.get(term.unit)
        if shapes[0] != shapes[1] or (first.kind == "cross_entropy") != (term.kind == "cross_entropy"):
            raise ValidationError(f"{first.label} and {term.label} both compare with the data's one target, "
                                  f"but read it differently ('{first.unit}' {list(shapes[0] or [])}, "
                                  f"'{term.unit}' {list(shapes[1] or [])})", term.span,
                                  f"compare one of them with a unit instead: `{term.kind}({term.unit}, OTHER)`")


def _check_target_shape(model: ModelGraph, term) -> None:
    """A target unit holds one value per value of the unit the loss compares it with."""
    got, want = model.shapes.get(term.unit), model.shapes.get(term.target)
    if got and want and got != want:
        raise ShapeError(f"{term.label} compares '{term.unit}' {list(got)} with '{term.target}' {list(want)}",
                         term.span, "a loss's target unit must have the shape of the unit it compares with")


_CHECKS = {"backprop": _backprop, "cd": _rbm, "pcd": _rbm, "boltzmann": _boltzmann, "vae": _vae, "gan": _gan}
