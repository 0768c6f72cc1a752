"""Observation and reward normalisation, held to stable-baselines3's VecNormalize (section 16 says it works as
that): running moments from mean 0, variance 1 and a count of 1e-4, and the reset's observations counted before
the first one is normalised. (Found by benchmarks/twin's rl_rollouts family: the count started at 1e-8 and the
reset's observations were left out, so the first observations an agent saw were the raw ones.)"""

import numpy as np

from nngraph.data.envs import Environments


def _environments(**options):
    return Environments("CartPole-v1", {"n": 4, "clip_obs": 10.0, **options}, seed=3, gamma=0.9,
                        dtype=np.float64)


def test_the_reset_s_observations_move_the_statistics_before_the_first_is_normalised():
    envs = _environments(normalize_obs=True)
    raw = envs.raw_obs  # float32, as gymnasium gives them: their moments in float32, as VecNormalize takes them
    batch_mean, batch_var = raw.mean(axis=0).astype(np.float64), raw.var(axis=0).astype(np.float64)
    count = 4 + 1e-4
    mean = batch_mean * 4 / count
    var = (1e-4 + batch_var * 4 + batch_mean ** 2 * 1e-4 * 4 / count) / count
    np.testing.assert_allclose(envs.obs_stats.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(envs.obs_stats.var, var, rtol=1e-12)
    np.testing.assert_allclose(envs.obs, np.clip((raw - mean) / np.sqrt(var + 1e-8), -10, 10), rtol=1e-12)
    envs.close()


def test_the_discounted_return_s_moments_start_from_a_count_of_1e_4():
    envs = _environments(normalize_reward=True)
    _, scaled, *_ = envs.step(np.zeros(4, np.int64))  # CartPole pays 1 a step: returns [1, 1, 1, 1]
    count = 4 + 1e-4
    var = (1e-4 + 1e-4 * 4 / count) / count  # the batch's variance is 0; its mean 1 is 1 from the start's 0
    np.testing.assert_allclose(envs.return_stats.var, var, rtol=1e-12)
    np.testing.assert_allclose(scaled, np.full(4, 1 / np.sqrt(var + 1e-8)).clip(-10, 10), rtol=1e-12)
    envs.close()
