"""Small machines for the Boltzmann tests: built from spec text, with random weights where asked."""

import numpy as np

import nngraph
from nngraph.api import apply_overrides, check_spec, parse_spec_text
from nngraph.compile.energy import EnergyModel
from nngraph.data.dataset import unsupervised

GENERAL = "model m { visible a[3] bernoulli; hidden h[3] bernoulli; a <-> h; h <-> h; a <-> a }"
RESTRICTED = "model m { visible v[5] bernoulli; hidden h[4] bernoulli; v <-> h }"


def machine(text: str, backend, scale: float = 0.0, seed: int = 0) -> EnergyModel:
    """An EnergyModel of the spec's model `m`; weights and biases drawn from N(0, scale^2) when scale > 0."""
    m = EnergyModel(nngraph.loads(text).models["m"], backend)
    if scale:
        rng = np.random.default_rng(seed)
        lateral = {link.name for link in m.links if link.lateral}
        for name, view in m.params.items():
            w = rng.normal(0, scale, view.shape)
            if name in lateral:
                w = np.triu(w, 1) + np.triu(w, 1).T
            view[...] = backend.xp.asarray(w, dtype=view.dtype)
        m.sync()
    return m


def checked(text: str, **settings):
    overrides = [f"{k}={v}" for k, v in settings.items()]
    spec = parse_spec_text(text, "test.nn")
    return check_spec(apply_overrides(spec, overrides) if overrides else spec)


def method_for(text: str, backend, **settings):
    """The Method a spec's train block builds (settings override the train block)."""
    return method_and_config(text, backend, **settings)[0]


def method_and_config(text: str, backend, **settings):
    from nngraph.session import build_method

    spec = checked(text, **settings)
    return build_method(spec, spec.train(), backend), spec.train()


def data(x):
    return unsupervised(np.asarray(x, np.float32), "test")
