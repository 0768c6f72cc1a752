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

With `labels=true` the top pair is Hinton, Osindero and Teh's associative memory: its visible units are the
penultimate layer's together with one softmax group of the output's classes, pretrained on the training labels
(one-hot) beside the layer's probabilities. Its label weights and biases are kept beside the generative biases.
`sample --label c` clamps the label to class c through the top RBM's Gibbs steps, so the samples are of class c;
without `--label` the label is sampled with the rest.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from nngraph.compile.gibbs import BlockGibbs, LabelledGibbs, device_generator, random_bits, sample_units
from nngraph.data.dataset import Dataset
from nngraph.errors import BuildError, DataError, plural
from nngraph.graph.belief import belief_stack, label_output, layer_machine
from nngraph.ops.activations import stable_sigmoid
from nngraph.spec.options import Choice
from nngraph.graph.memory import EVAL_ROWS
from nngraph.train.backprop import Backprop
from nngraph.train.checkpoint import nest, unnest
from nngraph.train.feeding import chunks, one_hot_rows
from nngraph.train.loop import fit
from nngraph.train.method import count_times_steps
from nngraph.train.rbm import RBM

RECORDED = ("recon_error", "pseudo_ll")  # each layer's measures before and after pretraining, in summary.json


def build(checked, config, backend) -> DeepBeliefNet:
    from nngraph.compile import compile_model

    model = checked.models[config.model]
    return DeepBeliefNet(model, compile_model(model, config.loss, backend, seed=config.seed), config, backend)


class DeepBeliefNet(Backprop):
    """Backprop on the stack's network, after greedy pretraining; top-down sampling."""

    takes_means = True  # `sample --means`: the visible units' probabilities from the top-down pass

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
        # labels=true: the output's classes in the top RBM, their weights to the top layer and their biases
        self.label = label_output(model, self.stack, config.method.span) if options["labels"] else None
        if self.label:
            classes, top = self.units_in(self.label), self.units_in(self.stack[-1])
            self.label_weight = xp.zeros((classes, top), dtype=backend.dtype)
            self.label_bias = xp.zeros(classes, dtype=backend.dtype)
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
        if self.label and data.task != "classification":
            raise DataError(f"dbn(labels=true) pretrains its top RBM on class labels, and data '{data.name}' has "
                            f"none ({data.task} data)", span, "train on data with class labels, or drop labels=true")

    # ---- greedy pretraining ---------------------------------------------------------------------

    def pretrain(self, train: Dataset, rng, quiet: bool = True) -> None:
        """Each pair of the stack as an RBM, bottom up, on the training split (`train`); once per run."""
        if self.pretrained or not self.pretrain_epochs:
            return  # once per run; `pretrain=0` keeps the network's own random initialisation
        data = Dataset(train.x.reshape(len(train), -1), None, "unsupervised", name=train.name)
        pairs = list(zip(self.stack, self.stack[1:]))
        for index, (below, above) in enumerate(pairs):
            config = replace(self.rbm_config, seed=self.rbm_config.seed + index)
            label = self.label if index == len(pairs) - 1 else None  # labels join the top pair only
            rbm = RBM(layer_machine(self.model, below, above, label), config, self.backend)
            joined = f" and {label}'s classes" if label else ""
            if not quiet:  # the progress lines that follow are this RBM's
                print(f"pretraining {above}: the RBM {below}{joined} <-> {above}, "
                      f"{plural(self.pretrain_epochs, 'epoch')}", file=sys.stderr)
            if label:
                rbm.gibbs = LabelledGibbs(rbm.machine, self.units_in(label))
                data = Dataset(np.concatenate([data.x, self.one_hot(train.y)], axis=1), None, "unsupervised",
                               name=data.name)
            self.pretraining.append(self.train_layer(rbm, data, rng, quiet))
            self.install(rbm, below, above)
            if index < len(pairs) - 1:
                data = self.hidden_probabilities(rbm, data)
        self.pretrained = True

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        """Class indices as one-hot rows of the output's size, in the data's float type."""
        classes = self.units_in(self.label)
        return (np.asarray(labels).reshape(-1, 1) == np.arange(classes)).astype(self.backend.dtype)

    def train_layer(self, rbm, data: Dataset, rng, quiet: bool) -> dict:
        """`pretrain` epochs of the `cd` (or `pcd`) method on `data`; its RECORDED measures around them."""
        rbm.machine.set_visible_bias_from(data.x)
        before = rbm.evaluate(data)
        fit(rbm, data, None, rbm.config, rng=rng, quiet=quiet)
        after = rbm.evaluate(data)
        return {"layer": rbm.machine.groups[-1].name,  # the hidden group: the layer pretrained
                **{f"{name}_{when}": measures[name] for name in RECORDED
                   for when, measures in (("before", before), ("after", after))}}

    def install(self, rbm, below: str, above: str) -> None:
        """The RBM's weights and hidden biases into the network; its visible biases kept as generative."""
        machine, params = rbm.machine, self.program.params
        units = self.units_in(below)  # the visible units past these are the label's (labels=true, top pair)
        params[f"{below}->{above}.weight"][...] = machine.weights[:units]
        params[f"{above}.bias"][...] = machine.hidden_bias
        self.generative[below][...] = machine.visible_bias[:units]
        if machine.n_visible > units:
            self.label_weight[...] = machine.weights[units:]
            self.label_bias[...] = machine.visible_bias[units:]

    def hidden_probabilities(self, rbm, data: Dataset) -> Dataset:
        """The next pair's data: p(above = 1 | below) for every row."""
        parts = [self.backend.to_numpy(rbm.gibbs.hidden_probs(rbm.rows(part))) for part in chunks(data, EVAL_ROWS)]
        return Dataset(np.concatenate(parts), None, "unsupervised", name=data.name)

    # ---- checkpoints ------------------------------------------------------------------------------

    def extra_state(self) -> dict[str, np.ndarray]:
        arrays = {f"generative_bias.{name}": self.backend.to_numpy(b) for name, b in self.generative.items()}
        if self.label:
            arrays.update({"label_weight": self.backend.to_numpy(self.label_weight),
                           "label_bias": self.backend.to_numpy(self.label_bias)})
        return nest("dbn", {**arrays, "pretrained": np.array(self.pretrained)})

    def load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        saved = unnest("dbn", state)
        for name, bias in self.generative.items():
            bias[...] = self.backend.asarray(saved[f"generative_bias.{name}"])
        if self.label and "label_weight" not in saved:
            raise BuildError("the checkpoint's DBN was pretrained without labels, but the spec says labels=true",
                             self.config.method.span, "sample with the spec it was trained with, or train again")
        if self.label:
            self.label_weight[...] = self.backend.asarray(saved["label_weight"])
            self.label_bias[...] = self.backend.asarray(saved["label_bias"])
        self.pretrained = bool(saved["pretrained"])

    # ---- top-down sampling ------------------------------------------------------------------------

    takes_label = True  # `sample --label c` (session.py refuses it for other methods)

    def sample_passes(self, request: dict) -> tuple[int, str]:
        """A chain a draw, --steps Gibbs steps in the top RBM (counted as passes of the whole stack)."""
        return count_times_steps(request)

    def sample(self, request: dict, splits) -> str:
        """`nngraph sample`: `count` draws of the generative model: `steps` block-Gibbs steps in the top RBM
        from random states (the label clamped to `--label`, for labels=true), then down through the sigmoid
        layers."""
        from nngraph.train.outputs import sample_path
        from nngraph.viz import samples as pictures

        if request.get("fill"):
            raise DataError("a DBN's samples are drawn top-down; it does not fill in data",
                            hint="sample without --fill")
        label = self.asked_label(request.get("label"))
        count, steps = int(request.get("count") or 64), int(request.get("steps") or 1000)
        drng = device_generator(self.xp, np.random.default_rng(request.get("seed", 0)))
        samples = self.backend.to_numpy(self.top_down(count, steps, drng, bool(request.get("means")), label))
        shape = self.plan.shapes[self.stack[0]]
        output = sample_path(request)
        pictures.write_samples(output, samples, pictures.picture_shape(shape) or (1, samples.shape[1]))
        what = f"{plural(steps, 'Gibbs step')} in the top RBM, then down through {plural(len(self.stack) - 2, 'layer')}"
        of = f" of class {label}" if label is not None else ""
        return f"wrote {plural(count, 'top-down sample')}{of} ({what}) to {output}"

    def asked_label(self, label: int | None) -> int | None:
        """`--label`, checked: a class of the output, for a DBN whose top RBM learned the labels."""
        if label is None:
            return None
        if not self.label:
            raise BuildError(f"--label {label}: this DBN's top RBM was pretrained without labels, so its samples "
                             "cannot be asked for a class", self.config.method.span,
                             "pretrain with `method dbn(..., labels=true)` on labelled data")
        classes = self.units_in(self.label)
        if not 0 <= label < classes:
            raise DataError(f"--label {label}: the classes of output '{self.label}' are 0 to {classes - 1}",
                            hint=f"give a class from 0 to {classes - 1}")
        return label

    def top_down(self, count: int, steps: int, rng, means: bool = False, label: int | None = None):
        """[count, V] draws of the data's units: the top RBM's visible states after `steps` Gibbs steps (the
        label units, if any, clamped to one-hot `label`, else sampled), then each layer below given the one
        above, p(below | above) = sigmoid(above W^T + generative bias)."""
        xp, stack = self.xp, self.stack
        top = RestrictedView(self, stack[-2], stack[-1])
        states = random_bits(rng, xp, (count, top.n_visible), self.backend.dtype)
        clamp = values = None
        if self.label:
            classes = len(self.label_bias)
            gibbs, start = LabelledGibbs(top, classes), top.n_visible - classes
            chosen = rng.integers(0, classes, count) if label is None else label  # a start; sampled from then on
            states[:, start:] = xp.asarray(chosen).reshape(-1, 1) == xp.arange(classes)
            if label is not None:
                clamp, values = np.arange(top.n_visible) >= start, states.copy()
        else:
            gibbs = BlockGibbs(top)
        probs, states = gibbs.run(states, steps, rng, clamp, values)
        units = self.units_in(stack[-2])
        probs, states = probs[:, :units], states[:, :units]
        for below, above in reversed(list(zip(stack[:-2], stack[1:-1]))):
            probs = stable_sigmoid(xp, states @ self.weight(below, above).T + self.generative[below])
            states = sample_units(xp, probs, None, rng, xp.empty_like(probs), xp.empty_like(probs))
        return probs if means else states

    def weight(self, below: str, above: str):
        return self.program.params[f"{below}->{above}.weight"]


class RestrictedView:
    """The top pair of the stack as the restricted machine `BlockGibbs` runs: the network's own weight and
    bias arrays, and the generative biases of the unit below, all bernoulli. With labels (labels=true) the
    label's weights and biases follow the unit below's (copies: the view is for sampling only)."""

    def __init__(self, net: DeepBeliefNet, below: str, above: str):
        self.xp, self.weights = net.xp, net.weight(below, above)
        self.hidden_bias, self.visible_bias = net.program.params[f"{above}.bias"], net.generative[below]
        if net.label:
            self.weights = net.xp.concatenate([self.weights, net.label_weight])
            self.visible_bias = net.xp.concatenate([self.visible_bias, net.label_bias])
        self.n_visible, self.n_hidden = self.weights.shape
        self.gaussian = np.zeros(self.n_visible + self.n_hidden, dtype=bool)
