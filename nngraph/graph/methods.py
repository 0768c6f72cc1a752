"""Does a training method fit its model? One small check per method."""

from __future__ import annotations

from nngraph.errors import ShapeError, ValidationError, did_you_mean
from nngraph.graph.ir import ModelGraph
from nngraph.graph.training import TrainConfig


def check_method(config: TrainConfig, models: dict[str, ModelGraph]) -> None:
    if "loss" in config.refused:
        return  # the loss's own error is reported; "needs a loss" would only repeat it
    _CHECKS[config.method.name](config, models)
    if config.method.name != "gan":
        _check_loss_units(config, models[config.model])


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
    got, want = gen.shapes.get(gen_out[0].name), disc.shapes.get(disc_in[0].name)
    if got and want and got != want:
        raise ShapeError(f"generator output '{gen_out[0].name}' has shape {list(got)}, but discriminator "
                         f"input '{disc_in[0].name}' expects {list(want)}", gen_out[0].span)


def _check_loss_units(config: TrainConfig, model: ModelGraph) -> None:
    for term in config.loss:
        for name in filter(None, (term.unit, term.target)):
            if name not in model.graph:
                raise ValidationError(f"loss names unknown unit '{name}'", term.span,
                                      did_you_mean(name, list(model.graph)))
        unit = model.unit(term.unit)
        if term.kind == "kl" and unit.role != "sample":
            raise ValidationError(f"kl(...) applies to a sample unit; '{unit.name}' is a {unit.role} unit",
                                  term.span, f"e.g. `sample z ~ normal(mu, logvar)` and `kl(z)`")
        if term.kind == "cross_entropy" and unit.activation not in ("softmax", "identity"):
            raise ValidationError(f"cross_entropy expects a softmax unit; '{unit.name}' uses {unit.activation}",
                                  term.span, "declare it `output y[10] softmax`")
        if term.kind == "bce" and unit.activation not in ("sigmoid", "identity"):
            raise ValidationError(f"bce expects a sigmoid unit; '{unit.name}' uses {unit.activation}",
                                  term.span, "declare it with `sigmoid`")


_CHECKS = {"backprop": _backprop, "cd": _rbm, "pcd": _rbm, "boltzmann": _boltzmann, "vae": _vae, "gan": _gan}
