"""`method gan` trained a few epochs, one step each, against the twin's reading of section 10: D's step on
the data batch and as many generated examples (`d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0)`), every k-th step
then G's on fresh noise (`-log D(G(z'))` through the updated D), `pack` consecutive examples judged together,
each model's own optimizer (penalties and clipping on each update), a schedule scaling both rates and the
instance noise, and (`compare_gan_steps`) dropout, batchnorm and layernorm in either model: one pass of D over
both halves of its batch, so that a batchnorm in D normalises them together, and every training pass moving
its model's running statistics. The draws (G's noise and dropout masks, the instance noise, D's masks) are
handed to the twin in the order the documentation gives. Compared: each step's d_loss, g_loss, d_real and
d_fake, and both models' parameters and running statistics after the last step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .compare import Worst, rel_diff
from .generate import rand_act, rand_optimizer
from .net import Net, call
from .stepping import (
    Handed,
    documented_factor,
    method_for,
    metric_difference,
    parameter_difference,
    start_epoch,
    step,
    torch_copies,
)
from .torch_twin import torch_optimizer_for, twin_forward, twin_logits, twin_update
from .vae_steps import handed_draws

EPOCHS = 4
OTHER_OPTIMIZERS = ["adam(lr=0.02, beta1=0.5)", "sgd(lr=0.05, momentum=0.5)"]


def gan_step_case(rng, layers=False):
    """A generator and a discriminator, the method's options and the train block's lines; what they use.
    `layers`: the hidden layers may have dropout and a normalisation (drawn after the rest, so the cases
    without them are those of `layers=False`)."""
    size, noise, pack = int(rng.integers(1, 4)), ["normal", "uniform"][rng.integers(2)], [1, 1, 2][rng.integers(3)]
    gen, disc = Net(), Net()
    gen.unit("z", "noise", (int(rng.integers(1, 4)),), words=[noise])
    gen.unit("g", "layer", (int(rng.integers(2, 5)),), *rand_act(rng, False))
    gen.unit("p", "output", (size,), ["identity", "tanh"][rng.integers(2)])
    disc.unit("p", "input", (size * pack,))
    disc.unit("d", "layer", (int(rng.integers(2, 5)),), *rand_act(rng, False))
    group = int(rng.integers(2, 5)) if rng.random() < 0.4 else 0
    if group:
        disc.unit("s", "layer")
    disc.unit("real", "output", (1,), "sigmoid")
    gen.link("z", "g")
    gen.link("g", "p")
    disc.link("p", "d")
    if group:
        disc.link("d", "s", "minibatch_std", group=group)
    disc.link("s" if group else "d", "real")
    options = dict(generator="g", discriminator="d", k=int(rng.integers(1, 3)), pack=pack)
    if rng.random() < 0.5:
        options["instance_noise"] = 0.3
    for role in ("g_optimizer", "d_optimizer"):
        if rng.random() < 0.3:
            options[role] = OTHER_OPTIMIZERS[rng.integers(2)]
    lines, used = rand_optimizer(rng)
    schedule = ["constant", "step(every=1, gamma=0.5)"][rng.integers(2)]
    n = pack * int(rng.integers(1, 7 if group else 4))
    if layers:
        used |= hidden_layer_words(rng, gen, "g", n) | hidden_layer_words(rng, disc, "d", n // pack)
        output = gen.units[-1]
        if disc.units[1]["norm"] == "batchnorm" and output["act"] == "identity":
            # D's batchnorm takes the batch mean out of what G's bias adds to every example: the bias's
            # gradient would be rounding alone, which Adam scales up to steps of eps's size
            output["words"].append("nobias")
    lines += [f"method {call('gan', options)}", f"schedule {schedule}", f"batch {n}"]
    used |= {f"noise {noise}", f"k={options['k']}", f"pack={pack}", f"schedule {schedule.split('(')[0]}",
             *(["instance_noise"] if "instance_noise" in options else []),
             *(role for role in ("g_optimizer", "d_optimizer") if role in options),
             *([f"minibatch_std, batch {'<' if n < group * pack else '>='} group x pack"] if group else [])}
    text = "\n".join(gen.model_lines("g") + disc.model_lines("d") + ["train {", "  data ring", *(
        "  " + line for line in lines), "}"]) + "\n"
    return gen, disc, used, text, rng.normal(size=(n, size)), options, schedule


def hidden_layer_words(rng, net, name, rows):
    """Dropout and a normalisation on `net`'s hidden layer `name`, maybe; the constructs used. A pass may have
    `rows` rows (D's halves judged apart). No normalisation whose output would not depend on the weights' size,
    so that their gradients would be rounding that float32 and Adam magnify: a batchnorm over 2 rows or a
    layernorm over 2 values (+-1 whatever they are), a batchnorm after one input value (each weight's sign)."""
    unit = next(u for u in net.units if u["name"] == name)
    inputs, width = net.units[0]["shape"][0], unit["shape"][0]
    norms = (*(["batchnorm"] if rows > 2 and inputs > 1 else []), *(["layernorm"] if width > 2 else []), None)
    unit["norm"] = norms[rng.integers(len(norms))]
    if rng.random() < 0.5:
        unit["words"].append("dropout=0.3")
    model = "generator" if name == "g" else "discriminator"
    return {f"{word} in the {model}" for word in (unit["norm"], *unit["words"]) if word}


class GanTwin:
    """Both models' parameters and optimizers, and one step of the documented alternation."""

    def __init__(self, gen, disc, method, config, options, schedule):
        self.gen, self.disc, self.config, self.options, self.schedule = gen, disc, config, options, schedule
        self.G, self.D = (torch_copies(part.params) for part in method.parts)
        self.BG, self.BD = (running_statistics(program) for program in (method.gen, method.disc))
        self.opts = {}
        for key, P in (("g_optimizer", self.G), ("d_optimizer", self.D)):
            self.opts[key] = torch_optimizer_for(config.method.options[key] or config.optimizer, P)
        self.steps = 0
        self.group = next((ln["opts"]["group"] for ln in disc.links if ln["kind"] == "minibatch_std"), 1)

    def judged_rows(self, n):
        """The real rows D's step judges: a whole number of groups of `pack` examples (else whole packs)."""
        unit = self.group * self.options["pack"]
        return n // unit * unit or n // self.options["pack"] * self.options["pack"]

    def start_epoch(self, epoch):
        factor = documented_factor(self.schedule, epoch)
        for optimizer, lr in self.opts.values():
            for group in optimizer.param_groups:
                group["lr"] = lr * factor
        self.std = self.options.get("instance_noise", 0) * factor

    def generated(self, handed, n):
        """G's pass on `n` fresh noise rows: the noise, then G's masks; its running statistics move."""
        word = self.gen.units[0]["words"][0]
        z = handed.noise(word, (n, self.gen.units[0]["shape"][0]))
        return twin_forward(self.gen, self.G, self.BG, {"z": z}, True, *handed_draws(self.gen, handed, n))["p"]

    def logits(self, handed, x, halves=1):
        """D's logits of `x` (instance noise added), its `halves` each judged in a pass of their own (D's masks
        drawn for each pass; every pass moves D's running statistics)."""
        if self.std:
            x = x + self.std * handed.take("normal", x.shape)
        packed = x.reshape(-1, self.disc.units[0]["shape"][0])
        return torch.cat([self.judged(handed, part) for part in packed.chunk(halves)])

    def judged(self, handed, packed):
        drawn = handed_draws(self.disc, handed, len(packed))
        logits = twin_logits(self.disc, None, self.D, self.BD, {"p": packed}, True, *drawn, "real").reshape(-1)
        twin_forward(self.disc, self.D, self.BD, {"p": packed.detach()}, True, *drawn)  # the statistics' move
        return logits

    def step(self, handed, batch):
        real = batch[:self.judged_rows(len(batch))]
        n = len(real)
        fake = self.generated(handed, n).detach()
        apart = n % (self.group * self.options["pack"]) != 0  # fewer real rows than a minibatch_std group
        logits = self.logits(handed, torch.cat([torch.tensor(real), fake]), halves=2 if apart else 1)
        half = len(logits) // 2
        on_real, on_fake = logits[:half], logits[half:]
        d_loss = F.softplus(-on_real).mean() + F.softplus(on_fake).mean()
        metrics = {"d_loss": float(d_loss.detach()), "g_loss": float(F.softplus(-on_fake.detach()).mean()),
                   "d_real": float((on_real > 0).double().mean()), "d_fake": float((on_fake < 0).double().mean())}
        self.update("d_optimizer", self.D, d_loss)
        self.steps += 1
        if self.steps % self.options["k"] == 0:
            g_loss = F.softplus(-self.logits(handed, self.generated(handed, len(batch)))).mean()
            self.update("g_optimizer", self.G, g_loss)
        if handed.made:
            raise AssertionError(f"the step drew {len(handed.made)} arrays more than the twin expects")
        return metrics

    def update(self, key, P, loss):
        for Q in (self.G, self.D):
            for p in Q.values():
                p.grad = None
        twin_update(self.config, P, self.opts[key][0], loss)


def running_statistics(program) -> dict:
    return {k: torch.tensor(program.backend.to_numpy(v), dtype=torch.float64) for k, v in program.buffers.items()}


def compare_gan_steps(rng):
    gen, disc, used, text, real, options, schedule = gan_step_case(rng, layers=True)
    config, method = method_for(text)
    twin, worst = GanTwin(gen, disc, method, config, options, schedule), Worst()
    for epoch in range(EPOCHS):
        start_epoch(method, config, epoch, EPOCHS)
        twin.start_epoch(epoch)
        draws, ours = step(method, real, seed=200 + epoch)
        d, name = metric_difference(ours, twin.step(Handed(draws), real))
        worst.note(d, f"{name} of step {epoch + 1}")
    worst.note(max(parameter_difference(method.parts[0].params, twin.G),
                   parameter_difference(method.parts[1].params, twin.D)), f"parameters after {EPOCHS} steps")
    for program, B in ((method.gen, twin.BG), (method.disc, twin.BD)):
        for name, b in B.items():
            worst.note(rel_diff(program.backend.to_numpy(program.buffers[name]), b), f"{name} after {EPOCHS} steps")
    return used, (worst.value, text)
