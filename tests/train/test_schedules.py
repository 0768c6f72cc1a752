import itertools
import math

import pytest

from nngraph.errors import ValidationError
from nngraph.graph.training import Choice
from nngraph.train.schedules import learning_rate


def rates(choice, epochs, base=0.1):
    return [learning_rate(choice, base, e, epochs) for e in range(epochs)]


def test_constant():
    assert rates(Choice("constant"), 3) == [0.1, 0.1, 0.1]


def test_step_decays_every_n_epochs():
    got = rates(Choice("step", {"every": 2, "gamma": 0.5}), 5, base=1.0)
    assert got == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_step_defaults_come_from_the_vocabulary():
    assert learning_rate(Choice("step"), 1.0, 10, 20) == pytest.approx(0.1)


def test_linear_falls_by_equal_steps_towards_min_lr_as_stable_baselines3s():
    assert rates(Choice("linear"), 4, base=1.0) == [1.0, 0.75, 0.5, 0.25]
    assert rates(Choice("linear", {"min_lr": 0.2}), 2, base=1.0) == pytest.approx([1.0, 0.6])


def test_cosine_without_warmup_follows_torch_cosine_annealing():
    got = rates(Choice("cosine", {"min_lr": 0.01}), 4)
    expected = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert got == pytest.approx(expected)
    assert got[0] == pytest.approx(0.1) and got[-1] > 0.01


def test_cosine_warmup_climbs_linearly_then_decays():
    got = rates(Choice("cosine", {"warmup": 3, "min_lr": 0.0}), 8, base=1.0)
    assert got[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a > b for a, b in itertools.pairwise(got[3:]))


def test_cosine_past_the_end_stays_at_min_lr():
    assert learning_rate(Choice("cosine", {"min_lr": 0.05}), 1.0, 12, 10) == pytest.approx(0.05)


def test_unknown_schedule_is_named():
    with pytest.raises(ValidationError, match="unknown schedule 'cosin'.*did you mean 'cosine'"):
        learning_rate(Choice("cosin"), 0.1, 0, 10)
