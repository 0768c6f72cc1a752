"""A trained VAE's inference (section 10 and section 12), its noise handed to the twin: the importance-sampled
log-likelihood (k draws of z ~ q(z | x) per example, log mean_j p(x | z_j) p(z_j) / q(z_j | x), and the ELBO
from the same draws), refined posteriors (each example's mean and log-variance taking Adam steps up its own
ELBO, one draw a step, the step size 0.01 decayed on a cosine), the ELBO and the likelihood under the refined
moments, and `sample --fill`'s iterative conditional imputation (encode, draw z, decode, put the known values
back, the last round at z's mean), and `sample`'s decoded prior draws. The twin writes the small VAE out by hand (encoder, sample, optional decoder
layer) from nngraph's parameters; nngraph's generators are caught as they are made (`caught_generators`), so
the twin takes their draws in the documented order. Compared: the estimates, the refined moments, the ELBO's
parts, the filled values and the decoded draws."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from .compare import Worst, rel_diff
from .formulas import activation
from .generate import rand_act
from .net import DTYPE, Net
from .stepping import Handed, method_for
from .torch_twin import Draws, mixture_kl

LOG_2PI = math.log(2 * math.pi)


@contextlib.contextmanager
def caught_generators():
    """numpy's `default_rng` handing out recording generators (torch_twin.Draws) while the block runs: the list
    of them, in the order they were made."""
    made, real = [], np.random.default_rng

    def recording(seed=None):
        draws = Draws(real(seed))
        made.append(draws)
        return draws

    np.random.default_rng = recording
    try:
        yield made
    finally:
        np.random.default_rng = real


def vae_case(rng, autoregressive=False):
    """(the spec, its Net, the case's facts): x[d] -> e -> mu, lv; z; (g ->) y, loss recon(y, x) + kl(z). An
    `autoregressive` decoder also reads x: `x -> y autoregressive`, and maybe through a MADE unit a (the decoder
    -> a, x -> a autoregressive -> y autoregressive)."""
    net = Net()
    d, latent = int(rng.integers(2, 6)), int(rng.integers(1, 3))
    bce = rng.random() < 0.7
    net.unit("x", "input", (d,))
    net.unit("e", "layer", (int(rng.integers(1, 5)),), *rand_act(rng, False))
    net.unit("mu", "layer", (latent,), "identity")
    net.unit("lv", "layer", (latent,), "identity")
    net.unit("z", "sample", mean="mu", logvar="lv")
    mixture = int(rng.integers(1, 4)) if rng.random() < 0.4 else 0
    if mixture:
        net.units[-1]["words"].append(f"prior=mixture({mixture})")
    decoder = "z"
    if rng.random() < 0.5:
        net.unit("g", "layer", (int(rng.integers(1, 5)),), *rand_act(rng, False))
        net.link("z", "g")
        decoder = "g"
    net.unit("y", "output", (d,), "sigmoid" if bce else ["identity", "sigmoid"][rng.integers(2)])
    for a, b in (("x", "e"), ("e", "mu"), ("e", "lv"), (decoder, "y")):
        net.link(a, b)
    made = autoregressive and rng.random() < 0.5
    if autoregressive:
        net.link("x", "y", "autoregressive")
    if made:
        net.unit("a", "layer", (d,), *rand_act(rng, False))  # autoregressive links join equal sizes
        net.link(decoder, "a")
        net.link("x", "a", "autoregressive")
        net.link("a", "y", "autoregressive")
    net.losses += [(1, "bce" if bce else "mse", "y", "x"), (1, "kl", "z", None)]
    net.sum_units = True
    text = net.text(["method vae"])
    return text, net, dict(bce=bce, mixture=mixture, decoder=decoder, latent=latent, d=d,
                           autoregressive=autoregressive, made=made)


class TwinVae:
    """The case's VAE by hand on nngraph's parameters (torch copies)."""

    def __init__(self, net, params, case):
        self.P = {k: torch.tensor(np.array(v), dtype=torch.float64) for k, v in params.items()}
        self.units = {u["name"]: u for u in net.units}
        self.case = case

    def layer(self, src, dst, x):
        u = self.units[dst]
        return activation(u["act"], u["aopts"], x @ self.P[f"{src}->{dst}.weight"] + self.P[f"{dst}.bias"])

    def encode(self, x):
        e = self.layer("x", "e", torch.as_tensor(x))
        return self.layer("e", "mu", e), self.layer("e", "lv", e)

    def logits(self, z, x=None):
        """The output's net input (its activation left out), of latent values z (and an autoregressive decoder's
        data x: output i reads x_j, j < i, the weights used strictly above their diagonal, section 3)."""
        decoder = self.case["decoder"]
        h = self.layer("z", "g", z) if decoder == "g" else z
        out = h @ self.P[f"{decoder}->y.weight"] + self.P["y.bias"]
        if self.case.get("autoregressive"):
            out = out + x @ self.P["x->y.weight"].triu(1)
        if self.case.get("made"):
            u = self.units["a"]
            a = activation(u["act"], u["aopts"], h @ self.P[f"{decoder}->a.weight"]
                           + x @ self.P["x->a.weight"].triu(1) + self.P["a.bias"])
            out = out + a @ self.P["a->y.weight"].triu(1)
        return out

    def mean(self, z, x=None):
        return activation(self.units["y"]["act"], {}, self.logits(z, x))

    def log_px(self, x, z):
        """log p(x | z) of bernoulli values, summed over them (the sigmoid fused: x a - softplus(a))."""
        a = self.logits(z)
        return (x * a - F.softplus(a)).sum(dim=1)

    def log_prior(self, z):
        if not self.case["mixture"]:
            return (-0.5 * (z * z + LOG_2PI)).sum(dim=1)
        means, logvars = self.P["z.prior.mean"], self.P["z.prior.logvar"]
        parts = torch.distributions.Normal(means[None], torch.exp(logvars[None] / 2)).log_prob(z[:, None]).sum(dim=2)
        return torch.logsumexp(parts, dim=1) - math.log(len(means))

    def recon(self, x, z):
        """Per example: bce or mse summed over the values."""
        if self.case["bce"]:
            return -self.log_px(x, z)
        return ((self.mean(z) - x) ** 2).sum(dim=1)

    def kl(self, mu, lv, z):
        """Per example: closed form against N(0, I), or the one-draw estimate against a mixture."""
        if not self.case["mixture"]:
            return 0.5 * (mu * mu + lv.exp() - 1 - lv).sum(dim=1)
        return torch.stack([mixture_kl(mu[i:i + 1], lv[i:i + 1], z[i:i + 1], self.P["z.prior.mean"],
                                       self.P["z.prior.logvar"]) for i in range(len(mu))])


def compare_vae_inference(rng):
    text, net, case = vae_case(rng)
    _, method = method_for(text)
    for value in method.program.params.values():  # a posterior and decoder less bland than the initial ones
        value += 0.5 * rng.standard_normal(value.shape)
    twin = TwinVae(net, method.program.params, case)
    rows = int(rng.integers(1, 6))
    x = (rng.random((rows, case["d"])) < 0.5).astype(float) if case["bce"] else rng.random((rows, case["d"]))
    worst, used = Worst(), {"prior=mixture" if case["mixture"] else "prior=normal"}
    steps = int(rng.integers(1, 8))
    with caught_generators() as made:
        moments = method.refined_moments(x, steps, seed=int(rng.integers(100)))
    mu, lv = twin_refined(twin, x, steps, Handed(made[0], skip=("random",)))
    worst.note(rel_diff(moments["mu"], mu), f"refined mu after {steps} steps")
    worst.note(rel_diff(moments["lv"], lv), f"refined lv after {steps} steps")
    used.add("refined posteriors")
    from nngraph.data.dataset import Dataset

    for given in (None, moments):
        with caught_generators() as made:
            ours = method.evaluate(Dataset(x, None, "unsupervised"), given)
        theirs = twin_elbo(twin, x, given, Handed(made[0]))
        for k, v in theirs.items():
            worst.note(rel_diff(ours[k], v), f"{k} under the {'refined' if given else 'encoder'}'s posterior")
        if case["bce"]:
            k = int(rng.integers(1, 40))
            with caught_generators() as made:
                ours = method.importance_log_likelihood(Dataset(x, None, "unsupervised"), k, seed=3, moments=given)
            theirs = twin_likelihood(twin, x, k, given, Handed(made[0]))
            for name, v in theirs.items():
                worst.note(rel_diff(ours[name], v), f"{name} of {k} draws" + (" (refined)" if given else ""))
            used.add("importance-sampled likelihood" + (", refined" if given else ""))
    if net.units[-1]["act"] == "sigmoid":  # rounds of an identity decoder can grow without bound (overflow: NaN)
        worst.note(*fill_difference(method, twin, x, rng))
        used.add("vae fill-in")
    worst.note(*prior_sample_difference(method, twin, rng))
    used.add("sample: decoded prior draws")
    if rng.random() < 0.3:  # a posterior whose spread overflows: the fill-in's one round at z's mean
        worst.note(*wide_posterior_fill(method, twin, x, rng))
        used.add("spread capped: a fill-in's round at the mean")
    if case["mixture"] and rng.random() < 0.3:
        worst.note(*prior_sample_difference(method, twin, rng, wide=True))
        used.add("spread capped: mixture prior draws")
    return used, (worst.value, text)


WIDE = {"float64": 3000.0, "float32": 300.0}  # log-variances whose exp(logvar / 2) overflows the dtype


def prior_sample_difference(method, twin, rng, wide=False):
    """`sample`'s decoded prior draws: eps ~ N(0, 1) for every draw, then with a mixture prior a component per
    draw (uniform integers), z = its mean + exp(its logvar / 2) eps (the spread capped); the draws z and the
    decoder's means at them. `wide`: one component's log-variance raised past the dtype's range first (its
    draws' decoded means are left out: the decoder of ~1e307 may overflow either way)."""
    count = int(rng.integers(1, 6))
    if wide:
        k = int(rng.integers(twin.case["mixture"]))
        method.program.params["z.prior.logvar"][k] += WIDE[DTYPE[0]]
        twin.P["z.prior.logvar"] = torch.tensor(np.array(method.program.params["z.prior.logvar"]), dtype=torch.float64)
    draws = Draws(np.random.default_rng(int(rng.integers(100))))
    drawn = method.draw_prior(count, draws)
    handed = Handed(draws)
    z = handed.take("normal", (count, twin.case["latent"]))
    rows = torch.ones(count, dtype=torch.bool)
    if twin.case["mixture"]:
        pick = handed.take("integers", (count,))
        means, logvars = twin.P["z.prior.mean"], twin.P["z.prior.logvar"]
        z = means[pick] + spread(logvars[pick]) * z
        if wide:
            rows = pick != k
    worst = Worst()
    limit = float(np.finfo(DTYPE[0]).max)  # a float32 draw past it is inf in nngraph, finite in the twin
    beyond = torch.tensor(~np.isfinite(drawn).all(axis=1)) & (z.abs() >= limit).any(dim=1)
    for part in (rows, ~rows):
        inside = part & ~beyond
        worst.note(rel_diff(drawn[inside.numpy()], z[inside]), f"{count} prior draws z")
    if rows.any():
        with torch.no_grad():
            worst.note(rel_diff(method.decode(drawn[rows.numpy()]), twin.mean(z[rows])), f"{count} decoded prior draws")
    return worst.value


def spread(logvar):
    """exp(logvar / 2), its exponent capped at log(M) - 1, M the largest number of the run's dtype (section 4)."""
    return torch.exp(torch.clamp(logvar / 2, max=math.log(np.finfo(DTYPE[0]).max) - 1))


def wide_posterior_fill(method, twin, x, rng):
    """One fill-in round (z at its mean) with the log-variance's bias raised past the dtype's range: z is mu,
    not inf * 0 (section 4's cap)."""
    method.program.params["lv.bias"] += WIDE[DTYPE[0]]
    twin.P["lv.bias"] = twin.P["lv.bias"] + WIDE[DTYPE[0]]
    missing = rng.random(x.shape) < 0.5
    start = np.where(missing, rng.random(x.shape), x)
    with caught_generators() as made:
        ours, _ = method.fill(start.copy(), missing, {"seed": 0, "steps": 1})
    theirs = twin_fill(twin, start, missing, 1, Handed(made[0]))
    return rel_diff(ours, theirs), "one fill-in round under a log-variance past the dtype's range"


def twin_refined(twin, x, steps, handed):
    """Section 10's refined posteriors: the encoder's moments, then `steps` Adam steps (betas 0.9, 0.999, eps
    1e-8, step size 0.01 (1 + cos(pi (t - 1) / steps)) / 2 in step t) down the sum of the examples' own
    negative ELBOs, one z drawn per example a step."""
    x = torch.tensor(x)
    with torch.no_grad():
        mu, lv = (m.clone().requires_grad_(True) for m in twin.encode(x))
    adam = torch.optim.Adam([mu, lv], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    for t in range(1, steps + 1):
        for group in adam.param_groups:
            group["lr"] = 0.01 * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        eps = handed.take("normal", mu.shape)
        z = mu + torch.exp(lv / 2) * eps
        adam.zero_grad()
        (twin.recon(x, z) + twin.kl(mu, lv, z)).sum().backward()
        adam.step()
    return mu.detach(), lv.detach()


def moments_of(twin, x, given):
    if given is None:
        return twin.encode(x)
    return torch.tensor(given["mu"]), torch.tensor(given["lv"])


def twin_elbo(twin, x, given, handed):
    """The evaluation's figures: loss = recon + kl, means over the examples, one draw each."""
    x = torch.tensor(x)
    mu, lv = moments_of(twin, x, given)
    z = mu + torch.exp(lv / 2) * handed.take("normal", mu.shape)
    recon, kl = twin.recon(x, z).mean(), twin.kl(mu, lv, z).mean()
    return {"loss": float(recon + kl), "recon": float(recon), "kl": float(kl)}


def twin_likelihood(twin, x, k, given, handed):
    """log mean_j exp(w_j), w_j = log p(x | z_j) + log p(z_j) - log q(z_j | x), averaged over the examples, and
    the ELBO as the mean of the w_j; example i's draw j is row i k + j of the draws."""
    x = torch.tensor(x)
    mu, lv = moments_of(twin, x, given)
    rows = len(x)
    eps = handed.take("normal", (rows * k, mu.shape[1]))
    mu, lv, xs = (t.repeat_interleave(k, dim=0) for t in (mu, lv, x))
    z = mu + torch.exp(lv / 2) * eps
    log_q = torch.distributions.Normal(mu, torch.exp(lv / 2)).log_prob(z).sum(dim=1)
    w = (twin.log_px(xs, z) + twin.log_prior(z) - log_q).reshape(rows, k)
    return {"log_likelihood": float((torch.logsumexp(w, dim=1) - math.log(k)).mean()), "elbo": float(w.mean())}


def fill_difference(method, twin, x, rng):
    """`sample --fill`: random missing values (starting at random values), `steps` rounds."""
    missing = rng.random(x.shape) < 0.5
    start = np.where(missing, rng.random(x.shape), x)
    request = {"seed": int(rng.integers(100)), "steps": int(rng.integers(1, 6))}
    with caught_generators() as made:
        ours, _ = method.fill(start.copy(), missing, request)
    theirs = twin_fill(twin, start, missing, request["steps"], Handed(made[0]))
    return rel_diff(ours, theirs), f"filled values after {request['steps']} rounds"


def twin_fill(twin, start, missing, steps, handed):
    """Section 12's rounds: encode, z = mu + spread(lv) eps (the last round at mu), decode, the known values put
    back. An autoregressive decoder's missing values are drawn in order (`twin_in_order`)."""
    values, missing = torch.tensor(start), torch.tensor(missing)
    with torch.no_grad():
        for round_ in range(steps):
            mu, lv = twin.encode(values)
            last = round_ == steps - 1
            z = mu if last else mu + spread(lv) * handed.take("normal", mu.shape)
            if twin.case.get("autoregressive"):
                values = twin_in_order(twin, z, values, missing, None if last else handed)
            else:
                values = torch.where(missing, twin.mean(z), torch.tensor(start))
    return values


def twin_in_order(twin, z, values, missing, handed):
    """An autoregressive decoder's missing values, one position at a time in order (section 10), each position
    missing in any example: its mean given z and the values before it; drawn (one uniform an example, on below
    the mean) for bce decoders with `handed`, the mean itself otherwise."""
    x = torch.where(missing, torch.zeros_like(values), values)
    for i in range(x.shape[1]):
        if not missing[:, i].any():
            continue
        mean = twin.mean(z, x)[:, i]
        drawn = (handed.take("random", (len(x),)) < mean).double() if handed is not None and twin.case["bce"] else mean
        x[:, i] = torch.where(missing[:, i], drawn, x[:, i])
    return x
