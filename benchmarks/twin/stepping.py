"""A training method driven step by step as the training loop drives it (the schedule's rate at each epoch's
start, then the epoch's steps), one full batch a step, with draws the twin is handed in the order they were
made; and what the twin needs beside: torch copies of the parameters, the documented rate of an epoch."""

from __future__ import annotations

import math

import numpy as np
import torch

import nngraph
from nngraph.backend import get_backend
from nngraph.data.dataset import Dataset
from nngraph.session import build_method
from nngraph.train.optimizers import settings
from nngraph.train.schedules import learning_rate

from .compare import Worst, rel_diff
from .net import DTYPE, LAST
from .torch_twin import Draws, twin_update


def method_for(text: str):
    """(the train block's settings, the method nngraph builds for it) in the checked dtype."""
    LAST[0] = text
    checked = nngraph.loads(text)
    config = checked.train(None)
    return config, build_method(checked, config, get_backend("numpy", DTYPE[0]))


def torch_copies(arrays: dict) -> dict:
    """Leaf tensors holding copies of live arrays (nngraph updates its own in place)."""
    return {k: torch.tensor(np.array(v), dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}


def start_epoch(method, config, epoch: int, epochs: int) -> None:
    """What the loop does at the start of `epoch` (counted from 0): the schedule's rate to the method."""
    method.set_learning_rate(learning_rate(config.schedule, settings(config.optimizer)["lr"], epoch, epochs))


def step(method, x: np.ndarray, seed: int) -> tuple[Draws, dict]:
    """One training step on the whole of `x`: (the draws it made, its metrics as numbers)."""
    draws = Draws(np.random.default_rng(seed))
    metrics = method.train_step(Dataset(x, None, "unsupervised"), draws)
    return draws, {k: float(v) for k, v in metrics.items()}


def documented_factor(schedule: str, epoch: int) -> float:
    """The rate of `epoch` (from 0) over the optimizer's `lr`, for the schedules these families draw."""
    return 1.0 if schedule == "constant" else 0.5 ** epoch  # step(every=1, gamma=0.5)


def parameter_difference(live: dict, P: dict) -> float:
    return max((rel_diff(live[k], P[k].detach()) for k in P), default=0.0)


def metric_difference(ours: dict, theirs: dict) -> tuple[float, str]:
    """The worst relative difference between the metrics both report, and its name."""
    worst = Worst()
    for k in theirs:
        worst.note(rel_diff(ours[k], theirs[k]) if k in ours else math.inf, k)
    return worst.value


class Handed:
    """The draws of one step, taken by the twin in the documented order; each must have the shape it expects."""

    def __init__(self, draws, skip=()):
        self.made = [(kind, a) for kind, a in draws.made if kind not in skip]

    def take(self, kind, shape):
        if not self.made:
            raise AssertionError(f"the step drew less than the twin expects: no {kind} {tuple(shape)}")
        got, a = self.made.pop(0)
        if got != kind or a.shape != tuple(shape):
            raise AssertionError(f"the step drew {got} {a.shape} where the twin expects {kind} {tuple(shape)}")
        return torch.tensor(a)

    def noise(self, word, shape):
        """A noise unit's values: N(0, 1), or U[-1, 1) as 2u - 1 of a U[0, 1) draw."""
        return self.take("normal", shape) if word == "normal" else 2 * self.take("random", shape) - 1


def statistics_update(config, P: dict, optimizer, grads: dict) -> None:
    """A Boltzmann method's update: the optimizer's step on a loss whose gradient is `grads` (the statistics
    difference), with the documented penalties and clip."""
    optimizer.zero_grad()
    twin_update(config, P, optimizer, sum((P[k] * g).sum() for k, g in grads.items()))


def contrastive_chain(twin, data, W, b, c, handed):
    """The documented cd/pcd negative phase of an RBM twin (`twin.k`, `twin.chains`, its persistent `state`,
    `visible_means`, `sample_visible(means, handed)`), the draws taken in the documented order: (positive hidden
    probabilities, the chain's visible and hidden probabilities after k rounds, the first round's visible means)."""
    on = lambda p: (handed.take("random", p.shape) < p).double()  # noqa: E731 (one rule, read as one)
    positive = torch.sigmoid(data @ W + c)
    if twin.chains:
        if twin.state is None:
            twin.state = on(torch.full((twin.chains, len(b)), 0.5))
        hidden = on(torch.sigmoid(twin.state @ W + c))
    else:
        hidden = on(positive)
    first = None
    for s in range(twin.k):
        means = twin.visible_means(hidden @ W.T + b)
        first = means if first is None else first
        visible = twin.sample_visible(means, handed)
        negative = torch.sigmoid(visible @ W + c)
        if s + 1 < twin.k:
            hidden = on(negative)
    if twin.chains:
        twin.state = visible
    return positive, visible, negative, first
