"""The twin's forward pass and loss from the same parameters, its optimizer and its update, as the
documentation describes them (torch's functions where it names PyTorch's convention)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .formulas import activation, minibatch_std, pad_arg, upsample
from .net import DTYPE


class Draws:
    """A generator that hands nngraph fixed numbers and remembers them for the twin, by call order."""

    def __init__(self, rng):
        self.rng, self.made = rng, []

    def random(self, shape=None, dtype=None, size=None):  # `size`: as an agent's `draw` names the shape
        a = self.rng.random(shape if size is None else size).astype(dtype or float)
        self.made.append(("random", a.astype(np.float64)))
        return a

    def standard_normal(self, shape=None, dtype=None, size=None):
        a = self.rng.standard_normal(shape if size is None else size).astype(dtype or float)
        self.made.append(("normal", a.astype(np.float64)))
        return a

    def uniform(self, low=0.0, high=1.0, size=None):
        a = self.rng.uniform(low, high, size)
        self.made.append(("uniform", a))
        return a

    def permutation(self, n):
        a = self.rng.permutation(n)
        self.made.append(("permutation", a))
        return a

    def integers(self, low, high=None, size=None, **options):
        a = self.rng.integers(low, high, size=size, **options)
        self.made.append(("integers", a))
        return a


def twin_forward(net, P, B, inputs, training, draws, random_slots):
    """Every unit's value; `B` the running statistics (updated in training mode); `draws` by random slot."""
    vals = {}
    by_slot = dict(zip(random_slots, draws))
    weighted = {"dense", "conv", "deconv", "tied", "autoregressive"}
    for u in net.units:
        name = u["name"]
        if u["role"] in ("input", "noise"):
            given = inputs[name]  # a tensor stays in the graph (a generated example D judges)
            vals[name] = given if torch.is_tensor(given) else torch.tensor(given)
            continue
        if u["role"] == "sample":
            eps = torch.tensor(next(a for s, a in by_slot.items() if name in s))
            vals[name] = vals[u["extra"]["mean"]] + torch.exp(vals[u["extra"]["logvar"]] / 2) * eps
            continue
        z, kinds, n = None, [], None
        for ln in [ln for ln in net.links if ln["dst"] == name]:
            x, kind, o = vals[ln["src"]], ln["kind"], ln["opts"]
            n = x.shape[0]
            kinds.append(kind)
            wname = f"{ln['src']}->{name}.weight"
            if kind == "dense":
                c = x.reshape(n, -1) @ P[wname]
                c = c.reshape(n, *u["shape"]) if u["shape"] else c
            elif kind == "autoregressive":  # the weight used strictly above its diagonal (section 3)
                c = x.reshape(n, -1) @ torch.triu(P[wname], diagonal=1)
            elif kind == "identity":
                c = x
            elif kind == "tied":
                c = x.reshape(n, -1) @ P[f"{o['source']}->{o['target']}.weight"].T
            elif kind == "conv":
                p = o.get("padding", 0)
                p = "same" if p == "same" else pad_arg(p)
                c = F.conv2d(x, P[wname], stride=pad_arg(o.get("stride", 1)), padding=p)
            elif kind == "deconv":
                c = F.conv_transpose2d(x, P[wname], stride=pad_arg(o.get("stride", 1)),
                                       padding=pad_arg(o.get("padding", 0)))
            elif kind == "maxpool":
                c = F.max_pool2d(x, pad_arg(o["kernel"]), pad_arg(o.get("stride", o["kernel"])),
                                 pad_arg(o.get("padding", 0)))
            elif kind == "avgpool":
                c = F.avg_pool2d(x, pad_arg(o["kernel"]), pad_arg(o.get("stride", o["kernel"])),
                                 pad_arg(o.get("padding", 0)))
            elif kind == "upsample":
                c = upsample(x, o.get("factor", 2), o.get("mode", "nearest"))
            elif kind == "minibatch_std":
                c = minibatch_std(x, o.get("group", 4))
            elif kind == "pixelshuffle":
                c = F.pixel_shuffle(x, o.get("factor", 2))
            else:
                raise ValueError(kind)
            z = c if z is None else z + c
        has_bias = any(k in weighted for k in kinds) and "nobias" not in u["words"] and u["norm"] != "batchnorm"
        if has_bias:
            b = P[f"{name}.bias"]
            if all(k in ("conv", "deconv") for k in kinds if k in weighted):
                z = z + b.reshape(1, -1, *([1] * (z.dim() - 2)))
            else:
                z = z + b.reshape(1, *z.shape[1:])
        if u["norm"] == "batchnorm":
            eps, mom = u["nopts"].get("eps", 1e-5), u["nopts"].get("momentum", 0.1)
            rm, rv = B[f"{name}.norm.running_mean"], B[f"{name}.norm.running_var"]
            z = F.batch_norm(z, rm, rv, P[f"{name}.norm.weight"], P[f"{name}.norm.bias"], training, mom, eps)
        elif u["norm"] == "layernorm":
            eps = u["nopts"].get("eps", 1e-5)
            z = F.layer_norm(z, z.shape[1:], P[f"{name}.norm.weight"].reshape(z.shape[1:]),
                             P[f"{name}.norm.bias"].reshape(z.shape[1:]), eps)
        s = activation(u["act"] or "identity", u["aopts"], z)
        if training and any(w.startswith("dropout=") for w in u["words"]):
            p = float(next(w for w in u["words"] if w.startswith("dropout="))[8:])
            uniform = torch.tensor(next(a for sl, a in by_slot.items() if name in sl))
            s = s * (uniform < 1 - p).double() / (1 - p)
        vals[name] = s
    return vals


def twin_logits(net, vals, P, B, inputs, training, draws, slots, unit):
    """The net input a fused loss reads: recompute the unit with the identity activation."""
    saved = next(u for u in net.units if u["name"] == unit)
    act = saved["act"]
    saved["act"] = "identity"
    try:
        again = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, inputs, training, draws, slots)
    finally:
        saved["act"] = act
    return again[unit]


def twin_loss(net, vals, P, B, inputs, draws, slots, target, training=True, terms=None):
    """The weighted sum of `terms` (default: all of the net's loss terms)."""
    total = 0
    for w, term, unit, other in net.losses if terms is None else terms:
        y = vals[unit]
        act = next(u for u in net.units if u["name"] == unit)["act"]
        k = y.reshape(y.shape[0], -1).shape[1]
        if other is not None:
            t = vals[other]
        elif target is not None and target.ndim == 1 and term == "cross_entropy":
            t = torch.tensor(target, dtype=torch.long)
        elif target is not None and target.ndim == 1 and k == 1:
            t = torch.tensor(target, dtype=torch.float64).reshape(-1, 1)
        elif target is not None and target.ndim == 1:
            t = F.one_hot(torch.tensor(target, dtype=torch.long), k).double()
        else:
            t = None if target is None else torch.tensor(target)
        if term == "mse":
            v = F.mse_loss(y, t)
        elif term == "bce":
            if act == "sigmoid":
                zl = twin_logits(net, vals, P, B, inputs, training, draws, slots, unit)
                v = F.binary_cross_entropy_with_logits(zl, t)
            else:  # probabilities clipped to [eps, 1 - eps], no gradient where clipped (section 7's table)
                eps = 1e-15 if DTYPE[0] == "float64" else 1e-7
                p = y.clamp(eps, 1 - eps)
                v = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
        elif term == "cross_entropy":
            zl = twin_logits(net, vals, P, B, inputs, training, draws, slots, unit) if act == "softmax" else y
            if zl.dim() > 2:  # an [S, K] output: S distributions, the mean over the positions too
                zl, t = zl.reshape(-1, zl.shape[-1]), t.reshape(-1) if not t.is_floating_point() else \
                    t.reshape(-1, zl.shape[-1])
            v = F.cross_entropy(zl, t)  # labels or probability rows: mean over the batch
        elif term == "kl":
            u = next(u for u in net.units if u["name"] == unit)
            mu, lv = vals[u["extra"]["mean"]], vals[u["extra"]["logvar"]]
            if any(w.startswith("prior=mixture") for w in u["words"]):
                v = mixture_kl(mu, lv, vals[unit], P[f"{unit}.prior.mean"], P[f"{unit}.prior.logvar"])
            else:
                v = (0.5 * (torch.exp(lv) + mu**2 - 1 - lv)).sum(dim=1).mean()
        if net.sum_units and term in ("mse", "bce"):
            v = v * k
        total = total + w * v
    return total


def mixture_kl(mu, lv, z, means, logvars):
    """Section 4, `prior=mixture(K)`: log q(z | x) - log p(z) at the drawn z, p the equal-weight mixture of the K
    diagonal Gaussians N(means_k, exp(logvars_k)); the mean over the rows."""
    log_q = torch.distributions.Normal(mu, torch.exp(lv / 2)).log_prob(z).sum(dim=1)
    parts = torch.distributions.Normal(means[None], torch.exp(logvars[None] / 2)).log_prob(z[:, None]).sum(dim=2)
    log_p = torch.logsumexp(parts, dim=1) - math.log(means.shape[0])
    return (log_q - log_p).mean()


def torch_optimizer(config, P):
    """torch's optimizer for the train block's, with the documented defaults; and its rate."""
    return torch_optimizer_for(config.optimizer, P)


def torch_optimizer_for(choice, P):
    """torch's optimizer for an optimizer call (`sgd(...)`, `adam(...)`), with the documented defaults; its rate."""
    opts = {k: (v.value if hasattr(v, "value") else v) for k, v in dict(choice.options).items()}
    if choice.name == "sgd":
        lr = opts.get("lr", 0.01)
        return torch.optim.SGD(list(P.values()), lr=lr, momentum=opts.get("momentum", 0),
                               nesterov=bool(opts.get("nesterov", False))), lr
    lr = opts.get("lr", 1e-3)
    return torch.optim.Adam(list(P.values()), lr=lr, betas=(opts.get("beta1", 0.9), opts.get("beta2", 0.999)),
                            eps=opts.get("eps", 1e-8)), lr


def twin_update(config, P, topt, loss):
    """One step as documented: the loss plus l1 sum|w| + l2/2 sum w^2 over every parameter not named *.bias nor a
    latent's prior (z.prior.mean, z.prior.logvar), the global norm clipped by clip_grad_norm_, then the optimizer."""
    penalty = sum(config.l1 * p.abs().sum() + 0.5 * config.l2 * (p**2).sum()
                  for k, p in P.items() if not k.endswith(".bias") and ".prior." not in k)
    (loss + penalty).backward()
    if config.clip:
        torch.nn.utils.clip_grad_norm_(list(P.values()), config.clip)
    topt.step()
