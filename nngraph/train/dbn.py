"""Method `dbn`: a deep belief net (Hinton, Osindero and Teh 2006): greedy layer-wise pretraining of a
feedforward stack as restricted Boltzmann machines, then backprop fine-tuning of the same weights.

Before the first epoch (`pretrain`, called by the loop) each pair (below, above) of the stack (graph/belief.py)
is trained for `pretrain` epochs as an RBM by the `cd` method itself (train/rbm.py; PCD when `chains` > 0), on
the training split pushed up through the layers already trained: the visible data of pair l are the hidden
probabilities of pair l - 1 (real values in [0, 1], read as probabilities, as in Hinton and Salakhutdinov's
code). Its weights and hidden biases are then copied into the dense link and the layer's bias, and its visible
biases are kept as the generative biases of the unit below. The epochs that follow are backprop's, on the
whole network (the output's link from random weights). `pretrain=0` is the same network from random weights.

Pretraining runs once: a checkpoint records that it ran, so `--resume` goes on fine-tuning. `epochs 0` keeps
the pretrained generative model, which `sample` draws from top-down: block Gibbs in the top RBM from random
states, then one pass down through the sigmoid layers with the generative biases (each layer's states drawn,
the data's units as probabilities or, without `means`, states).
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from nngraph.compile.gibbs import BlockGibbs, device_generator, random_bits, sample_units
from nngraph.data.dataset import Dataset
from nngraph.errors import DataError, plural
from nngraph.graph.belief import belief_stack, layer_machine
from nngraph.ops.activations import stable_sigmoid
from nngraph.spec.options import Choice
from nngraph.train.backprop import EVAL_CHUNK, Backprop
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import chunks
from nngraph.train.loop import fit
from nngraph.train.rbm import RBM

RECORDED = ("recon_error", "pseudo_ll")  # each layer's measures before and after pretraining, in summary.json


def build(checked, config, backend) -> DeepBeliefNet:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    return DeepBeliefNet(model, compile_model(model, config.loss, backend, seed=config.seed), config, backend)


class DeepBeliefNet(Backprop):
    """Backprop on the stack's network, after greedy pretraining; top-down sampling."""

    def __init__(self, model, program, config, backend):
        super().__init__(model, program, config)
        self.backend, self.stack = backend, belief_stack(model)
        options = config.method.options
        self.pretrain_epochs = options["pretrain"]
        method = Choice("pcd", {"k": options["k"], "chains": options["chains"]}) if options["chains"] else \
            Choice("cd", {"k": options["k"]})
        self.rbm_config = replace(config, method=method, optimizer=options["pretrain_optimizer"] or config.optimizer,
                                  epochs=self.pretrain_epochs, schedule=Choice("constant"), early_stopping=None,
                                  validation=0.0)
        xp = program.xp
        # the generative biases of each unit below a pair (its RBM's visible biases), and whether pretraining ran
        self.generative = {name: xp.zeros(self.units_in(name), dtype=backend.dtype) for name in self.stack[:-1]}
        self.pretrained = False
        self.pretraining: list[dict] = []  # per pair: RECORDED before and after

    def units_in(self, name: str) -> int:
        return int(np.prod(self.plan.shapes[name]))

    def check_data(self, data: Dataset, span) -> None:
        """The bottom RBM reads the data as probabilities of its visible units being on."""
        super().check_data(data, span)
        x, scale = data.x, data.info.get("scale", "none")  # minmax scales the training split into [0, 1]
        outside = scale == "standard" or (scale == "none" and len(x) and (x.min() < 0 or x.max() > 1))
        if outside:
            found = "is scaled to zero mean" if scale == "standard" else \
                f"has values outside [0, 1] (from {x.min():g} to {x.max():g})"
            raise DataError(f"data '{data.name}' {found}; a DBN's bottom RBM reads its values as the "
                            "probabilities of binary units, in [0, 1]", span,
                            "scale them into [0, 1] (`scale=minmax`), or binarise them (`binarize=0.5`)")

    # ---- greedy pretraining ---------------------------------------------------------------------

    def pretrain(self, train: Dataset, rng, quiet: bool = True) -> None:
        """Each pair of the stack as an RBM, bottom up, on the training split (`train`); once per run."""
        if self.pretrained or not self.pretrain_epochs:
            return  # once per run; `pretrain=0` keeps the network's own random initialisation
        data = Dataset(train.x.reshape(len(train), -1), None, "unsupervised", name=train.name)
        for index, (below, above) in enumerate(zip(self.stack, self.stack[1:])):
            config = replace(self.rbm_config, seed=self.rbm_config.seed + index)
            rbm = RBM(layer_machine(self.model, below, above), config, self.backend)
            if not quiet:  # the progress lines that follow are this RBM's
                print(f"pretraining {above}: the RBM {below} <-> {above}, {plural(self.pretrain_epochs, 'epoch')}",
                      file=sys.stderr)
            self.pretraining.append(self.train_layer(rbm, data, rng, quiet))
            self.install(rbm, below, above)
            data = self.hidden_probabilities(rbm, data)
        self.pretrained = True

    def train_layer(self, rbm, data: Dataset, rng, quiet: bool) -> dict:
        """`pretrain` epochs of the `cd` (or `pcd`) method on `data`; its RECORDED measures around them."""
        rbm.machine.set_visible_bias_from(data.x)
        before = rbm.evaluate(data)
        fit(rbm, data, None, rbm.config, rng=rng, quiet=quiet)
        after = rbm.evaluate(data)
        return {"layer": rbm.machine.groups[1].name,
                **{f"{name}_{when}": measures[name] for name in RECORDED
                   for when, measures in (("before", before), ("after", after))}}

    def install(self, rbm, below: str, above: str) -> None:
        """The RBM's weights and hidden biases into the network; its visible biases kept as generative."""
        machine, params = rbm.machine, self.program.params
        params[f"{below}->{above}.weight"][...] = machine.weights
        params[f"{above}.bias"][...] = machine.hidden_bias
        self.generative[below][...] = machine.visible_bias

    def hidden_probabilities(self, rbm, data: Dataset) -> Dataset:
        """The next pair's data: p(above = 1 | below) for every row."""
        parts = [self.backend.to_numpy(rbm.gibbs.hidden_probs(rbm.rows(part))) for part in chunks(data, EVAL_CHUNK)]
        return Dataset(np.concatenate(parts), None, "unsupervised", name=data.name)

    # ---- checkpoints ------------------------------------------------------------------------------

    def extra_state(self) -> dict[str, np.ndarray]:
        arrays = {f"generative_bias.{name}": self.backend.to_numpy(b) for name, b in self.generative.items()}
        return nest("dbn", {**arrays, "pretrained": np.array(self.pretrained)})

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        saved = unnest("dbn", state)
        for name, bias in self.generative.items():
            bias[...] = self.backend.asarray(saved[f"generative_bias.{name}"])
        self.pretrained = bool(saved["pretrained"])

    # ---- top-down sampling ------------------------------------------------------------------------

    def sample(self, request: dict, splits) -> str:
        """`nngraph sample`: `count` draws of the generative model: `steps` block-Gibbs steps in the top RBM
        from random states, then down through the sigmoid layers."""
        from nngraph.train.outputs import sample_path
        from nngraph.viz import samples as pictures

        if request.get("fill"):
            raise DataError("a DBN's samples are drawn top-down; it does not fill in data",
                            hint="sample without --fill")
        count, steps = int(request.get("count") or 64), int(request.get("steps") or 1000)
        drng = device_generator(self.xp, np.random.default_rng(request.get("seed", 0)))
        samples = self.backend.to_numpy(self.top_down(count, steps, drng, bool(request.get("means"))))
        shape = self.plan.shapes[self.stack[0]]
        output = sample_path(request)
        pictures.write_samples(output, samples, pictures.picture_shape(shape) or (1, samples.shape[1]))
        what = f"{plural(steps, 'Gibbs step')} in the top RBM, then down through {plural(len(self.stack) - 2, 'layer')}"
        return f"wrote {plural(count, 'top-down sample')} ({what}) to {output}"

    def top_down(self, count: int, steps: int, rng, means: bool = False):
        """[count, V] draws of the data's units: the top RBM's visible states after `steps` Gibbs steps, then
        each layer below given the one above, p(below | above) = sigmoid(above W^T + generative bias)."""
        xp, stack = self.xp, self.stack
        top = RestrictedView(self, stack[-2], stack[-1])
        states = random_bits(rng, xp, (count, top.n_visible), self.backend.dtype)
        probs, states = BlockGibbs(top).run(states, steps, rng)
        for below, above in reversed(list(zip(stack[:-2], stack[1:-1]))):
            probs = stable_sigmoid(xp, states @ self.weight(below, above).T + self.generative[below])
            states = sample_units(xp, probs, None, rng, xp.empty_like(probs), xp.empty_like(probs))
        return probs if means else states

    def weight(self, below: str, above: str):
        return self.program.params[f"{below}->{above}.weight"]


class RestrictedView:
    """The top pair of the stack as the restricted machine `BlockGibbs` runs: the network's own weight and
    bias arrays, and the generative biases of the unit below, all bernoulli."""

    def __init__(self, net: DeepBeliefNet, below: str, above: str):
        self.xp, self.weights = net.xp, net.weight(below, above)
        self.hidden_bias, self.visible_bias = net.program.params[f"{above}.bias"], net.generative[below]
        self.n_visible, self.n_hidden = self.weights.shape
        self.gaussian = np.zeros(self.n_visible + self.n_hidden, dtype=bool)
