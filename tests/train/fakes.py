"""A tiny Method for loop tests: linear least squares on numpy, with the shared optimizer."""

from __future__ import annotations

import numpy as np

from nngraph.data.dataset import regression
from nngraph.graph.training import Choice, TrainConfig
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties


def linear_data(n=40, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3 + noise * rng.standard_normal(n)
    return regression(x.astype(np.float64), y, "linear")


def config(**changes) -> TrainConfig:
    base = {"optimizer": Choice("sgd", {"lr": 0.05, "momentum": 0.9}), "batch": 8, "epochs": 10, "l2": 1e-3}
    return TrainConfig(**{**base, **changes})


class FakeMethod:
    """What the loop asks of a method besides its step and evaluation: parameters with the shared optimizer, the
    learning rate (each rate set is kept in `rates`), and checkpoint state."""

    def __init__(self, cfg: TrainConfig, params: dict):
        self.cfg, self._params = cfg, params
        self.optimizer = make_optimizer(cfg.optimizer, self._params, np)
        self.rates: list[float] = []

    @property
    def params(self):
        return self._params

    def state(self):
        return {**{k: v.copy() for k, v in self._params.items()}, **nest("optim", self.optimizer.state_dict())}

    def load_state(self, state):
        for k, v in self._params.items():
            v[...] = state[k]
        self.optimizer.load_state_dict(unnest("optim", state))

    def set_learning_rate(self, lr):
        self.rates.append(lr)
        self.optimizer.lr = lr


class LinearMethod(FakeMethod):
    """y = x @ w + bias, mean squared error; the rng jitters gradients so rng state matters."""

    def __init__(self, cfg: TrainConfig, jitter=0.01):
        super().__init__(cfg, {"out.weight": np.zeros((3, 1)), "out.bias": np.zeros(1)})
        self.jitter = jitter

    def loss(self, data):
        # plain arrays, as a Program computes on (`Backend.asarray` drops numpy's device mark, backend/core.py)
        err = np.asarray(data.x) @ self._params["out.weight"] + self._params["out.bias"] - np.asarray(data.y)
        return err, float((err**2).mean())

    def train_step(self, batch, rng):
        err, loss = self.loss(batch)
        grads = {"out.weight": 2 * np.asarray(batch.x).T @ err / len(err), "out.bias": 2 * err.mean(0)}
        grads["out.weight"] += self.jitter * rng.standard_normal((3, 1))
        add_penalties(self._params, grads, self.cfg.l1, self.cfg.l2, np)
        self.optimizer.update(self._params, grads)
        return {"loss": loss}

    def evaluate(self, data):
        return {"loss": self.loss(data)[1]}
