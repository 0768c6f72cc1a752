"""Method `backprop`: minibatch gradient descent on a compiled feedforward program."""

from __future__ import annotations

import numpy as np

from nngraph.compile.program import Program
from nngraph.data.dataset import Dataset
from nngraph.graph.ir import ModelGraph
from nngraph.graph.training import TrainConfig
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import predictions_metric, split_inputs, target_for
from nngraph.train.optimizers import make_optimizer
from nngraph.train.regularize import add_penalties, clip_by_global_norm

EVAL_CHUNK = 2048


def build(checked, config: TrainConfig, backend) -> "Backprop":
    """Method `backprop` on a feedforward model (recurrent models go to BPTT)."""
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    if model.is_recurrent:
        from nngraph.train.bptt import build as build_recurrent

        return build_recurrent(checked, config, backend)
    return Backprop(model, compile_model(model, config.loss, backend, seed=config.seed), config)


class Backprop:
    """Implements the trainer's Method protocol (see nngraph.train.loop)."""

    def __init__(self, model: ModelGraph, program: Program, config: TrainConfig):
        self.model, self.program, self.config = model, program, config
        self.xp = program.xp
        self.optimizer = make_optimizer(config.optimizer, program.params, self.xp)
        self.plan = program.train_plan

    @property
    def params(self) -> dict:
        return self.program.params

    def set_learning_rate(self, lr: float) -> None:
        self.optimizer.lr = lr

    def _feeds(self, data: Dataset) -> dict:
        return split_inputs(self.model, self.plan.feeds, data.x)

    def train_step(self, batch: Dataset, rng) -> dict[str, float]:
        cfg = self.config
        loss, _, grads, values = self.program.loss_and_grads(
            self._feeds(batch), target_for(self.plan, batch.y), rng)
        if cfg.l1 or cfg.l2:
            add_penalties(self.params, grads, cfg.l1, cfg.l2, self.xp)
        if cfg.clip:
            clip_by_global_norm(grads, cfg.clip, self.xp)
        self.optimizer.update(self.params, grads)
        if batch.task != "classification" or self.plan.scored is None:
            return {"loss": loss}
        output = self.program.backend.to_numpy(values[self.plan.slot(self.plan.scored)])
        return {"loss": loss, **predictions_metric(self.plan, output, batch)}

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Loss terms and accuracy or MSE over a whole split, in chunks, without dropout."""
        program, plan = self.program, self.program.eval_plan
        sums: dict[str, float] = {}
        outputs = []
        for start in range(0, len(data), EVAL_CHUNK):
            part = data.take(np.arange(start, min(start + EVAL_CHUNK, len(data))))
            values = program.feeds(self._feeds(part), target_for(plan, part.y))
            program.run(values, training=False)
            total, terms = program.loss(values, plan)
            for key, value in {"loss": total, **terms}.items():
                sums[key] = sums.get(key, 0.0) + value * len(part)
            if plan.scored is not None:
                outputs.append(program.backend.to_numpy(values[plan.slot(plan.scored)]))
        metrics = {k: v / len(data) for k, v in sums.items() if k == "loss" or len(plan.losses) > 1}
        if outputs:
            metrics.update(predictions_metric(plan, np.concatenate(outputs), data))
        return metrics

    def predict(self, x: np.ndarray, unit: str | None = None) -> np.ndarray:
        unit = unit or self.plan.outputs[0]
        values = self.program.forward(split_inputs(self.model, self.plan.feeds, x))
        return self.program.backend.to_numpy(values[unit])

    def state(self) -> dict[str, np.ndarray]:
        params = {k: self.program.get(k) for k in self.params}
        return {**nest("params", params), **nest("optimizer", self.optimizer.state_dict())}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name, value in unnest("params", state).items():
            self.program.set(name, value)
        self.optimizer.load_state_dict(unnest("optimizer", state))
