"""A discriminator with minibatch_std (only a gan's discriminator may have one): its values and gradients."""

from __future__ import annotations

import numpy as np
import torch

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model

from .compare import rel_diff
from .net import DTYPE, LAST, Net
from .torch_twin import twin_forward


def gan_case(rng):
    """A discriminator with minibatch_std (only a gan's discriminator may have one): its forward values and the
    gradients of sum(real) by every parameter."""
    shape = [(int(rng.integers(2, 6)),), (int(rng.integers(1, 3)), 3, 4)][rng.integers(2)]
    group, n = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    text = ("model g {\n  noise z[2]\n  output p" + f"[{', '.join(map(str, shape))}]" + " identity\n  z -> p\n}\n"
            "model d {\n  input p" + f"[{', '.join(map(str, shape))}]" + "\n  layer s\n  output real[1] sigmoid\n"
            f"  p -> s minibatch_std(group={group})\n  s -> real\n}}\n"
            "train {\n  data ring\n  method gan(generator=g, discriminator=d)\n}\n")
    LAST[0] = text
    checked = nngraph.loads(text)
    prog = compile_model(checked.models["d"], (), get_backend("numpy", DTYPE[0]), 0)
    net = Net()
    net.unit("p", "input", shape)
    net.unit("s", "layer", None)
    net.unit("real", "output", (1,), "sigmoid")
    net.link("p", "s", "minibatch_std", group=group)
    net.link("s", "real")
    P = {k: torch.tensor(prog.get(k), dtype=torch.float64, requires_grad=True) for k in prog.params}
    x = rng.normal(size=(n, *shape))
    values = prog.feeds({"p": x}, training=True)
    ctxs = prog.run(values, training=True, with_loss=False)
    theirs = twin_forward(net, P, {}, {"p": x}, True, [], [])
    d = max(rel_diff(values[prog.train_plan.slot(u)], theirs[u].detach()) for u in ("s", "real"))
    grads = prog.backward(values, ctxs, {prog.train_plan.slot("real"): np.ones((n, 1))})
    theirs["real"].sum().backward()
    return max(d, *(rel_diff(grads[k], P[k].grad) for k in P)), text
