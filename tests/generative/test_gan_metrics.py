"""Modes captured and the high-quality share, on points placed by hand."""

import numpy as np
import pytest

from nngraph.train.gan_metrics import mode_metrics

CENTRES = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])


def test_points_on_every_mode_capture_all_of_them():
    rng = np.random.default_rng(0)
    points = CENTRES[np.arange(400) % 4] + rng.normal(0, 0.02, (400, 2))
    assert mode_metrics(points, CENTRES, 0.02) == {"modes": 4.0, "high_quality": pytest.approx(0.99, abs=0.01)}


def test_a_mode_with_too_few_points_is_not_captured_and_far_points_are_low_quality():
    points = np.concatenate([np.repeat(CENTRES[:1], 50, 0), np.repeat(CENTRES[1:2], 19, 0),
                             np.repeat([[1.0, 1.0]], 31, 0)])
    assert mode_metrics(points, CENTRES, 0.02) == {"modes": 1.0, "high_quality": pytest.approx(0.69)}


def test_high_quality_ends_at_three_std():
    points = np.array([[2.0599, 0.0], [2.0601, 0.0]])
    assert mode_metrics(points, CENTRES, 0.02, min_per_mode=1)["high_quality"] == 0.5
