"""Feedforward comparisons: forward values in eval and training mode, the loss, every gradient, running
statistics, and three optimizer steps with penalties and clipping."""

from __future__ import annotations

import math

import numpy as np
import torch

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.train.feeding import target_for
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties, clip_by_global_norm

from .net import DTYPE
from .torch_twin import Draws, torch_optimizer, twin_forward, twin_loss, twin_update


class Worst:
    """The largest relative difference noted so far, and where it is (a NaN replaces any number)."""

    def __init__(self):
        self.value = (0.0, "")

    def note(self, d: float, where: str) -> None:
        if math.isnan(self.value[0]):
            return  # a NaN stays: a later number would hide it (`not d <= nan` holds for every d)
        if not d <= self.value[0]:
            self.value = (d, where)


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def compare_eval(net, prog, P, B, xs, note, when: str = "") -> None:
    """Every unit's value in eval mode (the draws handed to both), nngraph's against the twin's."""
    draws = Draws(np.random.default_rng(5))
    ours = prog.forward(xs, rng=draws)
    theirs = twin_forward(net, P, {k: v.clone() for k, v in B.items()}, xs, False,
                          [a for _, a in draws.made], [r.slot for r in prog.eval_plan.random])
    for u in theirs:
        if u in ours and net.units[0]["name"] != u:
            note(rel_diff(ours[u], theirs[u].detach()), f"eval value of {u}{when}")


def compare_feedforward(net, xs, target, optimizer=None, extra=(), sum_units=False):
    """The worst relative difference over forward values (eval and training), loss, gradients, buffers and
    three optimizer steps; with a note of where it is."""
    text = net.text(extra)
    checked = nngraph.loads(text)
    if sum_units:  # as method vae compiles it (train/vae.py)
        prog = compile_model(checked.models["m"], checked.train(None).loss, get_backend("numpy", DTYPE[0]), 0,
                             sum_units=True)
    else:
        prog = nngraph.program(checked, "m", dtype=DTYPE[0], seed=0)
    net.sum_units = sum_units
    labels = target
    target = target_for(prog.train_plan, target)
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    B = {k: torch.tensor(prog.backend.to_numpy(v), dtype=torch.float64) for k, v in prog.buffers.items()}
    worst = Worst()
    note = worst.note
    compare_eval(net, prog, P, B, xs, note)
    # training mode: loss, gradients, running statistics
    draws = Draws(np.random.default_rng(7))
    slots = [r.slot for r in prog.train_plan.random]
    loss, _, grads, _ = prog.loss_and_grads(xs, target, rng=draws)
    made = [a for _, a in draws.made]
    vals = twin_forward(net, P, B, xs, True, made, slots)
    tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, xs, made, slots, labels)
    note(rel_diff(float(loss), float(tl.detach())), "loss")
    for p in P.values():
        p.grad = None
    tl.backward()
    for k, p in P.items():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        note(rel_diff(prog.backend.to_numpy(grads[k]), g), f"gradient of {k}")
    for k, v in prog.buffers.items():
        note(rel_diff(prog.backend.to_numpy(v), B[k]), f"buffer {k}")
    if prog.buffers:  # evaluation after a training pass: the running statistics
        compare_eval(net, prog, P, B, xs, note, " after a training pass")
    if optimizer is not None:
        note(*optimizer_steps(prog, checked, net, xs, (target, labels), P, B))
    return worst.value, text


def optimizer_steps(prog, checked, net, xs, target, P, B):
    """Three steps of nngraph's update (penalties, clip, optimizer, as Method.apply_update composes them)
    against torch's optimizers on the loss plus the documented penalty, clipped by clip_grad_norm_."""
    config = checked.train(None)
    opt = make_optimizer(config.optimizer, prog.params, prog.xp)
    name = config.optimizer.name
    topt, _ = torch_optimizer(config, P)
    target, labels = target
    for _ in range(3):
        draws = Draws(np.random.default_rng(11))
        _, _, grads, _ = prog.loss_and_grads(xs, target, rng=draws)
        add_penalties(prog.params, grads, config.l1, config.l2, prog.xp)
        if config.clip:
            clip_by_global_norm(grads, config.clip, prog.xp)
        opt.update(prog.params, grads)
        made = [a for _, a in draws.made]
        slots = [r.slot for r in prog.train_plan.random]
        topt.zero_grad()
        vals = twin_forward(net, P, B, xs, True, made, slots)
        tl = twin_loss(net, vals, P, {k: v.clone() for k, v in B.items()}, xs, made, slots, labels)
        twin_update(config, P, topt, tl)
    d = max(rel_diff(prog.get(k), P[k].detach()) for k in P)
    return d, f"parameters after 3 {name} steps"
