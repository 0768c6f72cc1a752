"""Learning-rate schedules: the rate for an epoch, as a pure function of the epoch.

A pure function (no state) means a resumed run gets the same rates as a straight one.
Epochs count from 0.
"""

from __future__ import annotations

import math

from nngraph.graph.vocabulary import SCHEDULES
from nngraph.spec.options import completed


def constant(base_lr: float, epoch: int, epochs: int) -> float:
    return base_lr


def step(base_lr: float, epoch: int, epochs: int, every: int = 10, gamma: float = 0.1) -> float:
    """Multiplied by `gamma` after every `every` epochs (torch's StepLR)."""
    return base_lr * gamma ** (epoch // every)


def cosine(base_lr: float, epoch: int, epochs: int, warmup: int = 0, min_lr: float = 0.0) -> float:
    """A linear climb over `warmup` epochs, then half a cosine from `base_lr` down towards `min_lr`.

    The climb is (epoch+1)/(warmup+1) of the base, so the first epoch already learns.
    The cosine spans the remaining epochs as torch's CosineAnnealingLR with T_max equal to
    them: the last epoch still learns a little instead of spending a whole epoch at min_lr.
    """
    if epoch < warmup:
        return base_lr * (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def linear(base_lr: float, epoch: int, epochs: int, min_lr: float = 0.0) -> float:
    """From `base_lr` in the first epoch straight down towards `min_lr`, reached after the last one (a
    reinforcement-learning run's epochs are its updates: stable-baselines3's linear schedule)."""
    return base_lr + (min_lr - base_lr) * min(epoch / max(1, epochs), 1.0)


_SCHEDULES = {"constant": constant, "step": step, "cosine": cosine, "linear": linear}


def learning_rate(choice, base_lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of `epoch` (0-based) of `epochs`, under the schedule `choice` names."""
    options = completed(choice, SCHEDULES, "schedule")
    return float(_SCHEDULES[choice.name](base_lr, epoch, epochs, **options))
