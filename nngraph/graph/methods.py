"""Training methods as `check` knows them: one registry entry each (`MethodSpec`), holding the method's
options (types, defaults, ranges), the checks that say whether it fits its model, and the module that builds
it, imported only by a run (`nngraph.session.build_method`) so that `check` stays fast. A new method is one
module under nngraph/train/ and one entry in METHODS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nngraph.errors import ShapeError, ValidationError, did_you_mean
from nngraph.graph.autoregressive import check_ordered_decoder
from nngraph.graph.ir import ModelGraph
from nngraph.graph.vocabulary import OPTIMIZERS
from nngraph.graph.work import BACKWARD_PASSES, Factor, StepWork, pass_flops, require_step_work
from nngraph.spec.options import Choice, Option, choose, completed

if TYPE_CHECKING:
    from nngraph.graph.training import TrainConfig

ORDERS = ("random", "sequential", "parallel")  # the Gibbs sweeps of `boltzmann` (compile/gibbs.py: Sweeper)


@dataclass(frozen=True)
class MethodSpec:
    """One training method: its options, its fit checks (each `check(config, models)` raises where the
    method does not fit), and the module whose `build(checked, config, backend)` makes it."""

    name: str
    options: dict[str, Option]
    fits: tuple[Callable, ...]
    module: str
    model_options: tuple[str, ...] = ()  # options naming the models it trains (else the block's `model`)
    couplings: bool = False  # keeps its parameters as a Boltzmann machine's couplings (graph/memory.py)
    example: str = ""  # a complete call, for hints
    environment: bool = False  # learns from an `env` (reinforcement learning), not from `data`
    work: Callable | None = None  # `work(config)`: (one training step's StepWork, the options multiplying it)


def check_method(config: TrainConfig, models: dict[str, ModelGraph]) -> None:
    if {"loss", "env"} & config.refused:
        return  # the setting's own error is reported; "needs a loss" would only repeat it
    if config.env is not None and not METHODS[config.method.name].environment:
        raise ValidationError(f"method {config.method.name} learns from data, not from an environment",
                              config.spans.get("env"), "use method ppo, a2c, reinforce or dqn with `env`")
    for check in METHODS[config.method.name].fits:
        check(config, models)
    _minibatch_std_in_a_discriminator(config, models)
    _check_step_work(config, models)


def _check_step_work(config: TrainConfig, models) -> None:
    """One training step's work within graph/work.py's WORK_LIMIT, refused at the option that made it large:
    options that multiply each other (ppo's rollout x copies x epochs / minibatch, a VAE's samples x batch,
    persistent chains x Gibbs steps) each passed its own range and made one step of hours together."""
    work = METHODS[config.method.name].work
    trained = [models[name] for name in config.models if name in models]
    if work is None or not trained:
        return
    method = config.method  # one made in Python (the API, tests) may name only some options
    full = Choice(method.name, completed(method, METHODS, "method"), method.span, method.spans)
    step, factors = work(replace(config, method=full))
    require_step_work(step, pass_flops(trained), factors, _span(config))


def _option(config: TrainConfig, name: str, inverse: bool = False) -> Factor:
    """A method option as a factor of one step's work."""
    return Factor(name, config.method.options[name], METHODS[config.method.name].options[name].default,
                  config.method.span_of(name), name in config.method.spans, inverse)


def _batch(config: TrainConfig) -> Factor:
    from nngraph.graph.training import TrainConfig as Defaults

    return Factor("batch", config.batch, Defaults.batch, config.spans.get("batch"), "batch" in config.spans)


def _copies(config: TrainConfig) -> Factor:
    env = config.env
    return Factor("n", env.copies, 1, env.span_of("n"), "n" in env.spans)


def _rollout_work(config: TrainConfig):
    """ppo, a2c, reinforce: a rollout of every copy, then `epochs` passes over it in minibatches (one step on
    the whole of it for a2c and reinforce)."""
    options = config.method.options
    rows = options["rollout"] * config.env.copies
    epochs, minibatch = options.get("epochs", 1), options.get("minibatch") or rows
    step = StepWork(rows=rows * (1 + BACKWARD_PASSES * epochs), calls=options["rollout"],
                    gradient_steps=epochs * math.ceil(rows / minibatch), env_steps=rows)
    factors = [_option(config, "rollout"), _copies(config)]
    if "epochs" in options:
        factors += [_option(config, "epochs"), _option(config, "minibatch", inverse=True)]
    return step, factors


DQN_RECORD_STEPS = 1000  # dqn's iteration (one record, one training step) spans this many environment steps at least


def _dqn_work(config: TrainConfig):
    """dqn: an iteration of `train_every` vector steps (as many times as make DQN_RECORD_STEPS), each cycle
    followed by `gradient_steps` steps on minibatches (online and target networks on the next observations)."""
    options, copies = config.method.options, config.env.copies
    cycles = max(1, math.ceil(DQN_RECORD_STEPS / (options["train_every"] * copies)))
    vector_steps, gradient_steps = cycles * options["train_every"], cycles * options["gradient_steps"]
    rows = vector_steps * copies + gradient_steps * options["minibatch"] * (BACKWARD_PASSES + 2)
    step = StepWork(rows=rows, calls=vector_steps + 2 * gradient_steps, gradient_steps=gradient_steps,
                    env_steps=vector_steps * copies)
    return step, [_option(config, "train_every"), _copies(config), _option(config, "gradient_steps"),
                  _option(config, "minibatch")]


def _vae_work(config: TrainConfig):
    """vae: each example of the batch repeated `samples` times, forward and backward."""
    samples = config.method.options["samples"]
    return (StepWork(rows=config.batch * samples * BACKWARD_PASSES, gradient_steps=1),
            [_option(config, "samples"), _batch(config)])


def _sweeps_work(config: TrainConfig):
    """cd, pcd, dbn's pretraining, boltzmann: Gibbs sweeps (k, or the anneal's and `sweeps`) over the batch
    (the positive phase) and over the persistent chains, or the batch again (the negative phase)."""
    options = config.method.options
    name = "k" if "k" in options else "sweeps"
    sweeps = options[name] + sum(pair[1] for pair in options.get("anneal") or ())
    chains = options.get("chains") or config.batch
    step = StepWork(rows=sweeps * (config.batch + chains) * 2, calls=2 * sweeps, gradient_steps=1)
    factors = [_option(config, name), _batch(config)]
    return step, factors + ([_option(config, "chains")] if "chains" in options else [])


def _minibatch_std_in_a_discriminator(config: TrainConfig, models) -> None:
    """A minibatch_std link makes each example's value depend on the others in its batch: a gan's
    discriminator uses that to see a collapsed generator, any other model would predict differently batch by
    batch."""
    spec = METHODS[config.method.name]
    names = [config.method.options.get(o) for o in spec.model_options] if spec.model_options else [config.model]
    judge = config.method.options.get("discriminator") if config.method.name == "gan" else None
    for name in names:
        if name == judge or name not in models:
            continue
        for edge in models[name].edges:
            if edge.kind == "minibatch_std":
                raise ValidationError(f"minibatch_std link {edge.source} -> {edge.target} in model '{name}', "
                                      f"which method {config.method.name} trains", edge.span,
                                      "minibatch_std belongs in a gan's discriminator: it makes each example's "
                                      "value depend on its batch")


def _span(config: TrainConfig):
    return config.method.span or config.span


def _backprop(config: TrainConfig, models) -> None:
    model = models[config.model]
    _forward_model(model, config)
    if not config.loss:
        raise ValidationError(f"{config.method.name} needs a loss", config.span, "e.g. `loss cross_entropy(y)`")
    if any(u.role == "sample" for u in model.units) and config.method.name == "backprop":
        raise ValidationError(f"model '{model.name}' has a sample unit", _span(config),
                              "train it with `method vae`")


def _forward_model(model: ModelGraph, config: TrainConfig) -> None:
    """The methods that run a forward pass (backprop, vae, gan) take no Boltzmann machine, and no `visible` or
    `hidden` unit (the forward pass has no rule for a stochastic unit)."""
    method = config.method.name
    if model.is_boltzmann:
        raise ValidationError(f"model '{model.name}' has symmetric links; {method} cannot train it",
                              _span(config), "use method cd(k=1), pcd(k=1) or boltzmann(...)")
    for unit in model.units:
        if unit.role in ("visible", "hidden"):
            kind = "input" if unit.role == "visible" else "layer"
            raise ValidationError(f"'{unit.name}' is a {unit.role} unit of a Boltzmann machine; {method} trains "
                                  "input, layer and output units", unit.span,
                                  f"declare it `{kind} {unit.name}[...]`, or link it symmetrically (`<->`) and "
                                  "train the machine with cd, pcd or boltzmann")


def _dbn(config: TrainConfig, models) -> None:
    """A feedforward model that is one stack of sigmoid layers (graph/belief.py)."""
    from nngraph.graph.belief import belief_stack, label_output

    stack = belief_stack(models[config.model])
    if config.method.options["labels"]:
        label_output(models[config.model], stack, _span(config))


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


def _anneal(schedule: list, node) -> list:
    """`anneal=[[20, 2], [10, 4]]`: (temperature > 0, sweeps >= 1) pairs."""
    def pair(p) -> bool:
        return (isinstance(p, list) and len(p) == 2 and all(not isinstance(v, bool) for v in p)
                and isinstance(p[0], (int, float)) and p[0] > 0 and isinstance(p[1], int) and p[1] >= 1)

    if not all(pair(p) for p in schedule):
        raise ValidationError("anneal: expected a list of [temperature, sweeps] pairs, temperature > 0",
                              node.span, "e.g. anneal=[[20, 2], [15, 2], [12, 2], [10, 4]]")
    if sum(p[1] for p in schedule) > MAX_REPEATS:
        raise ValidationError(f"anneal: {sum(p[1] for p in schedule):,} sweeps in all, more than the "
                              f"{MAX_REPEATS:,} one training step may make", node.span,
                              "a schedule of a few dozen sweeps is usual")
    return schedule


def _vae(config: TrainConfig, models) -> None:
    model = models[config.model]
    _forward_model(model, config)
    if not any(u.role == "sample" for u in model.units):
        raise ValidationError(f"method vae needs a sample unit in '{model.name}'", _span(config),
                              "e.g. `sample z ~ normal(mu, logvar)`")
    if not config.loss:
        raise ValidationError("vae needs a loss", config.span, "e.g. `loss bce(x_hat, x) + kl(z)`")
    inputs = model.units_with_role("input")
    for term in config.loss:
        if term.kind != "kl":
            data = term.target or (inputs[0].name if len(inputs) == 1 else None)
            _check_reconstruction(model, term, data)
            if data in model.graph and term.unit in model.graph:
                check_ordered_decoder(model, data, term.unit)


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
    gen, disc = models[opts["generator"]], models[opts["discriminator"]]
    for model in (gen, disc):
        _forward_model(model, config)
    if not gen.units_with_role("noise"):
        raise ValidationError(f"generator '{gen.name}' has no noise input", gen.span, "add `noise z[16] normal`")
    if gen.units_with_role("input"):
        raise ValidationError(f"generator '{gen.name}' has data inputs; a gan's generator reads only noise",
                              gen.units_with_role("input")[0].span, "declare its inputs `noise z[16] normal`")
    gen_out, disc_in = gen.units_with_role("output"), disc.units_with_role("input")
    if len(gen_out) != 1 or len(disc_in) != 1:
        raise ValidationError("a gan's generator needs one output and its discriminator one input",
                              _span(config))
    pack = opts["pack"]
    if pack > config.batch:  # no whole pack of real examples in a batch: 'cannot reshape array of size 0' (exit 70)
        raise ValidationError(f"gan: pack={pack} examples judged together, more than the batch of {config.batch} "
                              "holds", config.method.span_of("pack"), f"make `batch` a multiple of {pack}, or pack "
                              "fewer")
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


def _optimizer(call, node):
    """A per-model optimizer written as a method option, e.g. `g_optimizer=adam(lr=2e-4, beta1=0.5)`."""
    if call.name not in OPTIMIZERS:
        raise ValidationError(f"expected an optimizer, got {call.name}", node.span,
                              did_you_mean(call.name, OPTIMIZERS))
    return choose_optimizer(call)


def choose_optimizer(call) -> Choice:
    """An optimizer call bound against its options (graph/vocabulary.py), and the checks that join two of
    them."""
    choice = choose(call, OPTIMIZERS, "optimizer")
    if choice.name == "sgd" and choice.options["nesterov"] and not choice.options["momentum"] > 0:
        raise ValidationError("sgd: nesterov needs a momentum above 0", call.span,
                              "e.g. `sgd(lr=0.1, momentum=0.9, nesterov=true)`")
    return choice


def _check_loss_units(config: TrainConfig, models) -> None:
    model = models[config.model]
    for term in config.loss:
        for name in filter(None, (term.unit, term.target)):
            if name not in model.graph:
                raise ValidationError(f"loss names unknown unit '{name}'", term.span,
                                      did_you_mean(name, list(model.graph)))
        unit = model.unit(term.unit)
        if term.kind == "kl" and unit.role != "sample":
            raise ValidationError(f"kl(...) applies to a sample unit; '{unit.name}' is a {unit.role} unit",
                                  term.span, "e.g. `sample z ~ normal(mu, logvar)` and `kl(z)`")
        shape = model.shapes.get(unit.name)
        declared = f"{unit.role} {unit.name}" + (str(list(shape)) if shape else "")
        if term.kind == "cross_entropy" and unit.activation not in ("softmax", "identity"):
            raise ValidationError(f"cross_entropy expects a softmax unit; '{unit.name}' uses {unit.activation}",
                                  term.span, f"declare it `{declared} softmax`"
                                  + (", or score its independent probabilities with bce" if
                                     unit.activation == "sigmoid" else ""))
        if term.kind == "bce" and unit.activation not in ("sigmoid", "identity"):
            raise ValidationError(f"bce expects a sigmoid unit; '{unit.name}' uses {unit.activation}",
                                  term.span, f"declare it `{declared} sigmoid`"
                                  + (", or score one class of several with cross_entropy" if
                                     unit.activation == "softmax" else ""))
        if term.kind in ("bce", "cross_entropy") and unit.activation != "identity" and unit.dropout:
            raise ValidationError(f"dropout on '{unit.name}' would drop the {unit.activation} probabilities "
                                  f"that {term.kind} reads", unit.span,
                                  "put the dropout on the unit before it, or make it an identity unit (dropout "
                                  "then applies to the logits)")
        if term.target and term.kind != "kl":
            _check_target_shape(model, term)


def _check_data_terms(config: TrainConfig, models) -> None:
    """The data holds one target per example: every term that compares with it must read it alike
    (units of one shape, and class labels for all of them or for none)."""
    model = models[config.model]
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


# ---- reinforcement learning: the environment is the data -------------------------------------------

NOT_RL = ("data", "loss", "batch", "epochs", "validation", "test", "early_stopping", "bptt")  # settings it refuses


def _environment(config: TrainConfig, models) -> None:
    """A reinforcement-learning block: an `env`, a step count, none of the data settings, and one input
    unit that reads the environment's observation."""
    from nngraph.graph.envs import env_space

    name = config.method.name
    if config.env is None:
        raise ValidationError(f"{name} learns from an environment; the train block names none", config.span,
                              "add e.g. `env cartpole(n=8)`")
    wrong = next((s for s in NOT_RL if s in config.spans), None)
    if wrong:
        raise ValidationError(f"'{wrong}' does not apply to reinforcement learning", config.spans[wrong],
                              "an agent learns from `env`; its length is `steps`, its batches the method's "
                              "options")
    if config.steps is None and "steps" not in config.refused:
        raise ValidationError(f"{name} needs a number of environment steps", config.span, "add e.g. `steps 100000`")
    space = env_space(config.env)
    model = models[config.model]
    inputs = model.units_with_role("input")
    if len(inputs) != 1 or model.shapes.get(inputs[0].name) != space.observation:
        got = ", ".join(f"{u.name}{list(model.shapes.get(u.name) or [])}" for u in inputs) or "none"
        raise ShapeError(f"the environment '{config.env.id}' observes {list(space.observation)}, so model "
                         f"'{model.name}' needs one input of that shape (it has {got})",
                         (inputs[0] if inputs else model).span, f"declare `input obs{list(space.observation)}`")
    random = next((u for u in model.units if u.role in ("sample", "noise") or u.is_stochastic), None)
    if random is not None:
        raise ValidationError(f"unit '{random.name}' of model '{model.name}' is random; an agent's network is "
                              "deterministic (it may have dropout, which acts only in its updates)", random.span)


def output_unit(model: ModelGraph, config: TrainConfig, option: str, index: int):
    """The output unit a method option names, or else the model's `index`-th output (declaration order)."""
    name = config.method.options.get(option)
    outputs = model.units_with_role("output")
    if name is None:
        return outputs[index] if index < len(outputs) else None
    if name not in model.graph or model.unit(name).role != "output":
        raise ValidationError(f"{option}={name}: model '{model.name}' has no output unit '{name}'",
                              _span(config), did_you_mean(name, [u.name for u in outputs]))
    return model.unit(name)


def _policy_fits(config: TrainConfig, models) -> None:
    """The policy output fits the action space: a softmax of one unit per action for discrete actions,
    the mean (an identity unit of the action's shape) for continuous ones; the critic is one identity unit."""
    from nngraph.graph.envs import env_space

    model, space = models[config.model], env_space(config.env)
    policy = output_unit(model, config, "policy", 0)
    critic = output_unit(model, config, "critic", 1)
    want = (space.actions,) if space.discrete else space.action_shape
    activation = "softmax" if space.discrete else "identity"
    if policy is None or model.shapes.get(policy.name) != want or policy.activation not in (activation, "linear"):
        shown = f"'{policy.name}' is {list(model.shapes.get(policy.name) or [])} {policy.activation}" \
            if policy else "it has no output"
        what = "action probabilities" if space.discrete else "the action's mean"
        raise ShapeError(f"'{config.env.id}' has {space.describe()}, so the policy output of '{model.name}' "
                         f"must be {what}: {list(want)} {activation} ({shown})",
                         (policy or model).span, f"e.g. `output pi{list(want)} {activation}`")
    _check_critic(model, config, critic, policy)
    _check_log_std_unit(model, config, space, policy, critic)
    _check_log_std(config, space)


def _check_log_std(config: TrainConfig, space) -> None:
    """A Gaussian policy's `log_std`: its variance exp(2 log_std) within the run's float type (`log_std=1e30`, or
    700 in float32, trained into 'training diverged: pg_loss is nan in update 1', whose hint blamed the
    learning rate)."""
    from nngraph.spec.values import FLOAT_MAX

    value = config.method.options.get("log_std", 0.0)
    dtype = "float64" if config.dtype == "float64" else "float32"
    bound = math.log(FLOAT_MAX[dtype]) / 2
    if not space.discrete and abs(value) > bound:
        raise ValidationError(f"log_std={value:g}: the policy's variance exp(2 log_std) is beyond {dtype}'s range "
                              f"(|log_std| at most {bound:.1f})", config.method.span_of("log_std"),
                              "a Gaussian policy's log standard deviation starts near 0 (stable-baselines3's: 0)")


def _check_critic(model: ModelGraph, config: TrainConfig, critic, policy) -> None:
    if critic is None or critic is policy:  # reinforce's baseline too: the steps' values
        raise ValidationError(f"{config.method.name} needs a critic: an output of one unit, the state's value",
                              model.span, "e.g. `output v[1]` beside the policy, and `h -> v`")
    if model.shapes.get(critic.name) != (1,) or critic.activation not in ("identity", "linear"):
        raise ShapeError(f"the critic '{critic.name}' must be one identity unit (the state's value), not "
                         f"{list(model.shapes.get(critic.name) or [])} {critic.activation}", critic.span,
                         f"declare it `output {critic.name}[1]`")


def _check_log_std_unit(model: ModelGraph, config: TrainConfig, space, policy, critic) -> None:
    """`log_std_unit=`: an identity output of the action's shape, neither the policy nor the critic."""
    if config.method.options.get("log_std_unit") is None:
        return
    unit = output_unit(model, config, "log_std_unit", 0)
    if space.discrete:
        raise ValidationError(f"log_std_unit={unit.name}: '{config.env.id}' has {space.describe()}; a log "
                              "standard deviation is for continuous actions", _span(config),
                              "leave it out: a discrete policy is its softmax")
    if unit in (policy, critic):
        raise ValidationError(f"log_std_unit={unit.name} names the {'policy' if unit is policy else 'critic'}",
                              _span(config), "give the log standard deviation an output of its own")
    shape = model.shapes.get(unit.name)
    if shape != model.shapes.get(policy.name) or unit.activation not in ("identity", "linear", "tanh"):
        raise ShapeError(f"the log standard deviation '{unit.name}' must be an identity or tanh unit of the "
                         f"action's shape {list(model.shapes[policy.name])}, not {list(shape or [])} "
                         f"{unit.activation}", unit.span,
                         f"declare it `output {unit.name}{list(model.shapes[policy.name])}` (tanh: bounded in (-1, 1))")


def _q_fits(config: TrainConfig, models) -> None:
    """dqn: discrete actions, and an identity output of one Q-value per action."""
    from nngraph.graph.envs import env_space

    model, space = models[config.model], env_space(config.env)
    if not space.discrete:
        raise ValidationError(f"dqn chooses among discrete actions; '{config.env.id}' has {space.describe()}",
                              config.env.span, "use method ppo or a2c for continuous actions")
    q = output_unit(model, config, "q", 0)
    if q is None or model.shapes.get(q.name) != (space.actions,) or q.activation not in ("identity", "linear"):
        raise ShapeError(f"dqn needs an output of {space.actions} identity units (one Q-value per action of "
                         f"'{config.env.id}')", (q or model).span, f"e.g. `output q[{space.actions}]`")


# ---- the registry ----------------------------------------------------------------------------

# The repetitions inside one training step (CD-k's Gibbs steps, a Boltzmann machine's sweeps, a gan's
# discriminator steps) are at most MAX_REPEATS: each is several array operations, ~20 us even on a tiny model,
# so `cd(k=1000000000)` was one step of hours that no FLOP count foresaw. CD-k's k is 1 to a few hundred in the
# literature; 10,000 sweeps of a 784-500 machine on 64 rows is about 10 s a step.
MAX_REPEATS = 10_000
_K = Option("int", 1, minimum=1, maximum=MAX_REPEATS)  # Gibbs steps of CD and PCD
_OWN_OPTIMIZER = Option("call", None, then=_optimizer)  # None: the train block's `optimizer`

# the options every policy-gradient method shares: which outputs are the policy and the critic (default: the
# first and second declared), the loss weights, and a Gaussian policy's initial log standard deviation
_ACTOR_CRITIC = {"policy": Option("name"), "critic": Option("name"), "value": Option("float", 0.5, minimum=0),
                 "entropy": Option("float", 0.0, minimum=0), "log_std": Option("float", 0.0),
                 "log_std_unit": Option("name")}  # a Gaussian policy's log std as a unit, one per state
_RL_POLICY = (_environment, _policy_fits)

METHODS = {spec.name: spec for spec in (
    MethodSpec("backprop", {}, (_backprop, _check_loss_units, _check_data_terms), "nngraph.train.backprop"),
    MethodSpec("cd", {"k": _K}, (_rbm, _check_loss_units), "nngraph.train.rbm", couplings=True,
               work=_sweeps_work),
    MethodSpec("pcd", {"k": _K, "chains": Option("int", 100, minimum=1)}, (_rbm, _check_loss_units),
               "nngraph.train.rbm", couplings=True, work=_sweeps_work),
    MethodSpec("boltzmann", {
        "anneal": Option("list", None, then=_anneal),  # None: sample at temperature 1
        "sweeps": Option("int", 10, minimum=1, maximum=MAX_REPEATS),
        "order": Option("choice", "random", choices=ORDERS),
        "mean_field": Option("bool", False),
        "noisy_clamp": Option("float", 0.0, minimum=0, maximum=0.5),
        "chains": Option("int", 0, minimum=0),  # > 0: persistent negative chains
    }, (_boltzmann, _check_loss_units), "nngraph.train.boltzmann", couplings=True, work=_sweeps_work),
    # a deep belief net: the stack's layers pretrained greedily as RBMs (CD-k, or PCD with `chains` > 0) for
    # `pretrain` epochs each, by `pretrain_optimizer`; then backprop fine-tunes the same weights (train/dbn.py)
    MethodSpec("dbn", {"k": _K, "chains": Option("int", 0, minimum=0), "pretrain": Option("int", 10, minimum=0),
                       "pretrain_optimizer": _OWN_OPTIMIZER,
                       "labels": Option("bool", False)},  # the top RBM also sees the output's classes
               (_backprop, _check_loss_units, _check_data_terms, _dbn), "nngraph.train.dbn",
               example="method dbn(pretrain=10, pretrain_optimizer=sgd(lr=0.1, momentum=0.5))", work=_sweeps_work),
    MethodSpec("vae", {"samples": Option("int", 1, minimum=1), "warmup": Option("int", 0, minimum=0)},
               (_vae, _check_loss_units), "nngraph.train.vae", work=_vae_work),
    # pack: the discriminator judges `pack` examples at once, concatenated (PacGAN, Lin et al. 2018)
    MethodSpec("gan", {"generator": Option("name"), "discriminator": Option("name"),
                       "k": Option("int", 1, minimum=1, maximum=MAX_REPEATS), "pack": Option("int", 1, minimum=1),
                       "g_optimizer": _OWN_OPTIMIZER, "d_optimizer": _OWN_OPTIMIZER,
                       "instance_noise": Option("float", 0.0, minimum=0)},
               (_gan,), "nngraph.train.gan", model_options=("generator", "discriminator"),
               example="method gan(generator=g, discriminator=d, k=1)"),
    # reinforcement learning (train/ppo.py, train/dqn.py); the defaults are stable-baselines3's
    MethodSpec("ppo", {**_ACTOR_CRITIC, "rollout": Option("int", 2048, minimum=1),
                       "minibatch": Option("int", 64, minimum=1), "epochs": Option("int", 10, minimum=1),
                       "clip": Option("float", 0.2, above=0), "value_clip": Option("float", None, above=0),
                       "gae": Option("float", 0.95, minimum=0, maximum=1)},
               _RL_POLICY, "nngraph.train.ppo", environment=True, work=_rollout_work),
    MethodSpec("a2c", {**_ACTOR_CRITIC, "rollout": Option("int", 5, minimum=1),
                       "gae": Option("float", 1.0, minimum=0, maximum=1)},
               _RL_POLICY, "nngraph.train.ppo", environment=True, work=_rollout_work),
    MethodSpec("reinforce", {**_ACTOR_CRITIC, "rollout": Option("int", 1000, minimum=1)},
               _RL_POLICY, "nngraph.train.ppo", environment=True, work=_rollout_work),
    MethodSpec("dqn", {"q": Option("name"), "buffer": Option("int", 100_000, minimum=1),
                       "start": Option("int", 100, minimum=0), "minibatch": Option("int", 32, minimum=1),
                       "train_every": Option("int", 4, minimum=1), "gradient_steps": Option("int", 1, minimum=1),
                       "target_every": Option("int", 10_000, minimum=1),
                       "explore": Option("float", 0.1, minimum=0, maximum=1),
                       "eps_start": Option("float", 1.0, minimum=0, maximum=1),
                       "eps_end": Option("float", 0.05, minimum=0, maximum=1), "double": Option("bool", True)},
               (_environment, _q_fits), "nngraph.train.dqn", environment=True, work=_dqn_work),
)}
