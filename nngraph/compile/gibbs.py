"""Gibbs sampling for Boltzmann machines (`compile.energy.EnergyModel`), written against `xp`.

Two samplers share the unit rules of `nngraph.compile.energy` (bernoulli: on with probability sigmoid(z / T);
gaussian: N(z, T)):

- `BlockGibbs`: restricted machines. All hidden units given the visible ones, then all visible units given the
  hidden ones, each a matrix product into a buffer made once per batch size. `LabelledGibbs`: the same where
  the last visible units are one softmax group, a one-of-n label (a deep belief net's top RBM, Hinton,
  Osindero and Teh 2006): exactly one of them is on, unit i with probability softmax(z)_i.
- `Sweeper`: any machine, on flat states [B, N]. A sweep updates every free unit once, one at a time in index
  order (`sequential`), in a fresh random order each sweep (`random`), or a colour class at a time (`parallel`):
  units with no link between them never influence each other's update, so a class of them may be updated
  together and the chain is still a Gibbs chain. Clamped units are never touched. Temperatures come from an
  annealing schedule; `mean_field=True` replaces each sample by its probability (deterministic annealing).

Every random number comes from the generator the caller passes (the training loop's, which it checkpoints),
so a resumed run draws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np

from nngraph.backend import accel, array_module, to_device
from nngraph.ops.activations import stable_sigmoid, stable_softmax

# ---- primitives -----------------------------------------------------------------------------

def device_generator(xp, rng):
    """The generator to draw from on `xp`: the loop's numpy generator itself, or on a GPU a device
    generator seeded from it (so the loop's checkpointed state still decides every draw)."""
    if xp is np or not isinstance(getattr(rng, "generator", rng), np.random.Generator):
        return rng  # numpy draws where it computes; a device generator is one already
    device = xp.random.default_rng(int(rng.integers(2**63)))
    with_generator = getattr(rng, "with_generator", None)  # an MPI rank's view keeps its rows (train/parallel.py)
    return with_generator(device) if with_generator else device


def uniform(rng, out):
    """Fill the float32/float64 array `out` with U[0, 1) draws. On numpy, float32 draws are made from raw
    generator bits (23 random mantissa bits; a third faster than `Generator.random`). An MPI rank's view of
    the generator (`fill_rows`, train/parallel.py) fills the global batch's rows and keeps the rank's."""
    fill_rows = getattr(rng, "fill_rows", None)
    if fill_rows is not None:
        return fill_rows(uniform, out)
    if isinstance(rng, np.random.Generator) and isinstance(out, np.ndarray) and out.dtype == np.float32 \
            and out.flags.c_contiguous:
        bits = rng.bit_generator.random_raw((out.size + 1) // 2).view(np.uint32)[: out.size]
        np.right_shift(bits, 9, out=bits)
        np.bitwise_or(bits, np.uint32(0x3F800000), out=bits)
        floats = bits.view(np.float32)
        np.subtract(floats, 1.0, out=out.reshape(-1))
        return out
    out[...] = array_module(out).asarray(rng.random(out.shape, dtype=out.dtype))
    return out


def random_bits(rng, xp, shape, dtype):
    """States of units each on with probability 1/2: where chains start."""
    return (uniform(rng, xp.empty(shape, dtype=dtype)) < 0.5).astype(dtype)


def normal(rng, like):
    """Standard normal draws shaped like the array `like`, in its dtype and on its device (from either
    kind of generator)."""
    rows = getattr(rng, "rows", None)  # an MPI rank's view: its rows of the global batch's draws
    draws = rows("standard_normal", like.shape, dtype=like.dtype) if rows else rng.standard_normal(
        like.shape, dtype=like.dtype)
    return array_module(like).asarray(draws)


def sample_units(xp, mean, gaussian, rng, out, scratch, temperature: float = 1.0):
    """Samples into `out` given unit means `mean` (probabilities for bernoulli units, the net input for
    gaussian ones); `gaussian` is None (all bernoulli), True (all gaussian) or a column mask."""
    if gaussian is True:
        return xp.add(mean, normal(rng, mean) * temperature**0.5, out=out)
    uniform(rng, scratch)
    xp.less(scratch, mean, out=out)
    if gaussian is not None:
        means = mean[:, gaussian]
        out[:, gaussian] = means + normal(rng, means) * temperature**0.5
    return out


def unit_means(xp, z, gaussian, out, temperature: float = 1.0):
    """Each unit's mean given its net input z: sigmoid(z / T) for bernoulli units, z for gaussian ones.
    `out` may be `z` itself."""
    if gaussian is True:
        if out is not z:
            out[...] = z
        return out
    kept = None if gaussian is None else z[:, gaussian]  # a copy: the sigmoid may overwrite z
    stable_sigmoid(xp, z / temperature if temperature != 1.0 else z, out)
    if kept is not None:
        out[:, gaussian] = kept
    return out


def kind_mask(gaussian: np.ndarray, xp):
    """None when no unit is gaussian, True when all are, else the mask on the backend."""
    if not gaussian.any():
        return None
    if gaussian.all():
        return True
    return xp.asarray(gaussian)


# ---- restricted machines ---------------------------------------------------------------------------

class BlockGibbs:
    """Block Gibbs for a restricted machine (`EnergyModel` with `restricted=True`)."""

    def __init__(self, machine):
        self.m, self.xp = machine, machine.xp
        self.visible_kind = kind_mask(machine.gaussian[: machine.n_visible], self.xp)

    def hidden_probs(self, v, out=None):
        """p(h = 1 | v) into `out` (pre-sized [B, H])."""
        xp = self.xp
        out = xp.matmul(v, self.m.weights, out=out)
        out += self.m.hidden_bias
        return stable_sigmoid(xp, out, out)

    def visible_means(self, h, out=None):
        """E[v | h]: probabilities of bernoulli visible units, means of gaussian ones."""
        xp = self.xp
        out = xp.matmul(h, self.m.weights.T, out=out)
        out += self.m.visible_bias
        return unit_means(xp, out, self.visible_kind, out)

    def sample_hidden(self, probs, rng, out, scratch):
        return sample_units(self.xp, probs, None, rng, out, scratch)

    def sample_visible(self, means, rng, out, scratch):
        return sample_units(self.xp, means, self.visible_kind, rng, out, scratch)

    def run(self, v, steps: int, rng, clamp=None, values=None):
        """`steps` full sweeps from visible states `v` (a new array is returned); `clamp` (a bool
        [V] mask) keeps those visible units at `values`. Returns (visible means, visible samples)."""
        xp = self.xp
        v = v.copy()
        h = xp.empty((len(v), self.m.n_hidden), dtype=v.dtype)
        hu, vu, mean = xp.empty_like(h), xp.empty_like(v), xp.empty_like(v)
        for _ in range(steps):
            self.sample_hidden(self.hidden_probs(v, out=h), rng, h, hu)
            self.sample_visible(self.visible_means(h, out=mean), rng, v, vu)
            if clamp is not None:
                v[:, clamp] = values[:, clamp]
                mean[:, clamp] = values[:, clamp]
        return mean, v


class LabelledGibbs(BlockGibbs):
    """`BlockGibbs` on a restricted machine whose last `labels` visible units are one softmax group (a label):
    their means are softmax(z) over the group, and a sample turns exactly one of them on. The others are
    bernoulli."""

    def __init__(self, machine, labels: int):
        super().__init__(machine)
        if self.visible_kind is not None:
            raise ValueError("LabelledGibbs samples bernoulli visible units besides the label")
        self.label = slice(machine.n_visible - labels, machine.n_visible)
        self.classes = self.xp.arange(labels)

    def visible_means(self, h, out=None):
        """E[v | h]: sigmoid(z) of the bernoulli units, softmax(z) over the label's."""
        xp = self.xp
        out = xp.matmul(h, self.m.weights.T, out=out)
        out += self.m.visible_bias
        label = stable_softmax(xp, out[:, self.label])
        stable_sigmoid(xp, out, out)
        out[:, self.label] = label
        return out

    def sample_visible(self, means, rng, out, scratch):
        """Bernoulli draws, then the label: class i where the row's first label uniform falls in the i-th step
        of the cumulative probabilities (the uniform drawn anyway, so the stream is BlockGibbs's)."""
        xp = self.xp
        sample_units(xp, means, None, rng, out, scratch)
        below = xp.cumsum(means[:, self.label], axis=1) < scratch[:, self.label.start, None]
        chosen = xp.minimum(below.sum(axis=1), len(self.classes) - 1)
        out[:, self.label] = chosen[:, None] == self.classes
        return out


# ---- general machines --------------------------------------------------------------------------

def colour_classes(structure: np.ndarray, free: np.ndarray) -> list[np.ndarray]:
    """Greedy colouring of the free units: no two units of a class are linked."""
    colours: list[list[int]] = []
    for unit in free:
        for members in colours:
            if not structure[unit, members].any():
                members.append(int(unit))
                break
        else:
            colours.append([int(unit)])
    return [np.array(c) for c in colours]


class Sweeper:
    """Gibbs sweeps (or mean-field updates) over the free units of flat states [B, N]."""

    def __init__(self, machine, order: str = "random"):
        self.m, self.xp, self.order = machine, machine.xp, order
        self.structure = machine.structure()
        self._classes: dict = {}  # colour classes by free units; on the CUDA path also device orders and kinds

    def update_sets(self, free: np.ndarray, rng) -> list:
        """The unit sets of one sweep, in update order: ints (one unit) or index arrays (a colour class)."""
        if self.order == "parallel":
            key = free.tobytes()
            if key not in self._classes:
                self._classes[key] = colour_classes(self.structure, free)
            return self._classes[key]
        if self.order == "random" and rng is not None:  # mean field passes no generator
            order = self.m.backend.permutation(rng, len(free))
            return [int(i) for i in free[order]]
        return [int(i) for i in free]

    def sweep(self, states, free: np.ndarray, temperature: float, rng, mean_field: bool = False) -> None:
        """One sweep in place. On the CUDA path a sweep one unit at a time is one kernel launch (every
        normal draw made before it), where the loop below launches a few kernels a unit."""
        xp, m = self.xp, self.m
        couplings, bias = m.weights if not m.restricted else self._full, m.bias
        draws = None if mean_field else xp.empty(states.shape, dtype=states.dtype)
        if draws is not None:
            uniform(rng, draws)
        if self.order != "parallel" and len(free) and accel.path(xp) == accel.CUDA:
            normals = normal(rng, states) if draws is not None and m.gaussian[free].any() else None
            accel.get("gibbs_sweep", xp, dtype=states.dtype)(states, couplings, bias, self._device_order(free, rng),
                                                             draws, normals, self._device_gaussian(), temperature,
                                                             mean_field)
            return
        for units in self.update_sets(free, rng):
            z = states @ couplings[:, units] + bias[units]
            self._set(states, units, z, temperature, draws, mean_field, rng)

    def _device_order(self, free: np.ndarray, rng):
        """The sweep's order of the free units as int32 on the device: copied there once per set of free units
        (sequential), shuffled there for a random order (the order of as many uniform draws, from the generator
        itself under MPI: the same order on every rank; mean field passes no generator). Only a host generator
        for a GPU's arrays makes a copy a sweep."""
        key = ("order", free.tobytes())
        if key not in self._classes:
            self._classes[key] = to_device(free.astype(np.int32), self.xp)
        units = self._classes[key]
        if self.order != "random" or rng is None:
            return units
        draws = getattr(rng, "generator", rng).random(len(free))
        if array_module(draws) is not self.xp:
            return to_device(free[np.argsort(draws)].astype(np.int32), self.xp)
        return units[self.xp.argsort(draws)]

    def _device_gaussian(self):
        """Which units are gaussian, int32 on the device, copied there once."""
        if "gaussian" not in self._classes:
            self._classes["gaussian"] = to_device(self.m.gaussian.astype(np.int32), self.xp)
        return self._classes["gaussian"]

    def _set(self, states, units, z, temperature, draws, mean_field, rng) -> None:
        xp, gaussian = self.xp, self.m.gaussian[units]
        if np.all(gaussian):
            states[:, units] = z if mean_field else z + normal(rng, z) * temperature**0.5
            return
        p = stable_sigmoid(xp, z / temperature)
        if mean_field:
            states[:, units] = p
        else:
            states[:, units] = draws[:, units] < p
        if np.any(gaussian):  # a colour class mixing kinds
            cols = np.asarray(units)[gaussian]
            zg = z[:, np.flatnonzero(gaussian)]
            states[:, cols] = zg if mean_field else zg + normal(rng, zg) * temperature**0.5

    def run(self, states, free: np.ndarray, schedule, rng, mean_field: bool = False) -> None:
        """Anneal: for each (temperature, sweeps) of `schedule`, that many sweeps at that temperature."""
        if self.m.restricted:
            self._full = self.m.couplings()
        for temperature, sweeps in schedule:
            for _ in range(int(sweeps)):
                self.sweep(states, free, float(temperature), rng, mean_field)

    def statistics(self, states, free: np.ndarray, sweeps: int, temperature: float, rng,
                   mean_field: bool = False):
        """Average <s_i s_j> [N, N] and <s_i> [N] over the rows and over `sweeps` further sweeps at
        `temperature`. Mean field: `sweeps` mean-field sweeps at `temperature` towards the fixed point, then
        one look (without them, a phase with no annealing schedule would read its starting states)."""
        xp = self.xp
        pairs = xp.zeros((states.shape[1],) * 2, dtype=states.dtype)
        singles = xp.zeros(states.shape[1], dtype=states.dtype)
        looks = 1 if mean_field else int(sweeps)
        if mean_field:
            self.run(states, free, [(temperature, int(sweeps))], rng, mean_field=True)
        for _ in range(looks):
            if not mean_field:
                self.run(states, free, [(temperature, 1)], rng)
            pairs += states.T @ states
            singles += states.sum(axis=0)
        count = looks * len(states)
        return pairs / count, singles / count
