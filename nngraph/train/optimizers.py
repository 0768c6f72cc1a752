"""Optimizers: parameter updates in place, in PyTorch's formulation.

The formulas follow `torch.optim.SGD` (dampening 0) and `torch.optim.Adam` (amsgrad off)
step for step, so a run can be compared with a torch reference. Weight decay is not
here: L1/L2 penalties are added to the gradients by `nngraph.train.regularize` first.

The update itself is an entry of `nngraph.backend.accel` ("sgd", "adam"): a compiled kernel (one
pass over each array) or its numpy twin (a handful of in-place ufunc calls), bit for bit the same.
This is the hot path (tens of thousands of steps a second on a tiny net), so nothing is allocated
per step: the state and a scratch array live in buffers made once.

On a small net Python's per-call overhead, not arithmetic, is the cost, so where the parameters are
views of one flat array (as `Program` allocates them) the gradients are gathered into one flat array
and the update runs once over all of them. On a large net each pass over memory counts instead (an
MLP's ~270k parameters: each pass ~60 us), so it runs once per parameter and skips the gather.
Threads do not pay here: numpy gives up the GIL only inside each call, and on a 2-core VM every
hand-over between two Python threads costs ~50 us, more than half a pass saves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nngraph.backend import accel
from nngraph.errors import TrainingError, ValidationError
from nngraph.graph.vocabulary import OPTIMIZERS
from nngraph.spec.options import completed
from nngraph.train.checkpoint import restore_arrays, saved_array, saved_count


def host_array(xp: Any, a) -> np.ndarray:
    """`a` as a numpy array on the host, whichever array module holds it."""
    to_numpy = getattr(xp, "asnumpy", None)  # cupy has it; numpy does not
    return to_numpy(a) if to_numpy is not None else np.asarray(a)


class Optimizer:
    """Per-parameter state buffers ("slots"), a scratch array and a step count.

    Buffers live in flat arrays (one per slot) with a view per parameter. When every
    parameter has a gradient, they are few (GATHER_BELOW) and views of one flat array, a
    `fused` optimizer gathers the gradients into one flat array and updates all parameters
    in one call: this divides the calls by the parameter count. Otherwise (a large net,
    some parameters frozen, or mixed dtypes) it goes parameter by parameter through the
    same views, so both ways share one state.

    Subclasses name their `accel` entry (`kernel`) and pass it their settings (`_run`).
    """

    slots: tuple[str, ...] = ()
    fused = True

    def __init__(self, params: dict[str, Any], xp: Any, lr: float):
        self.xp = xp
        self.lr = float(lr)
        self.steps = 0
        self.names = list(params)
        self.flat = _flat_arrays(params, xp, (*self.slots, "scratch", "grad"))
        views = {key: _views(flat, params) for key, flat in self.flat.items()}
        self.buffers = {slot: views.get(slot) or {k: xp.zeros_like(p) for k, p in params.items()}
                        for slot in self.slots}
        self.scratch = views.get("scratch") or {k: xp.empty_like(p) for k, p in params.items()}
        # (the params dict it was found for, the flat array they are views of, or None)
        self._flat_params = (params, _shared_base(params))
        self._flat_cache: dict = {}  # name -> (param array, its 1-D view, its slots' and scratch's)
        self._updates: dict = {}  # dtype -> the update accel gave for 1-D arrays of it

    def update(self, params: dict[str, Any], grads: dict[str, Any]) -> None:
        """One step: every parameter named in `grads` moves in place."""
        self.steps += 1
        if self.steps % FLUSH_EVERY == 0:
            self._flush_tiny()
        self._begin_step()
        base = self._shared_flat(params)
        if (self.fused and base is not None and base.size <= GATHER_BELOW and len(grads) == len(self.names)
                and all(g.dtype == base.dtype for g in grads.values())):
            self._run(self._flat_update(base.dtype), base, [self.flat[slot] for slot in self.slots],
                      self._gather(grads), self.flat["scratch"])
            return
        for name, g in grads.items():
            param, slots, scratch = self._flat_views(name, params[name])
            if param is not None and g.dtype == param.dtype and g.flags.c_contiguous:
                self._run(self._flat_update(param.dtype), param, slots, g.reshape(-1), scratch)
            else:  # the twin takes any layout and dtype
                self._run(accel.get(self.kernel, self.xp, dtype=params[name].dtype, flat=False), params[name],
                          [self.buffers[slot][name] for slot in self.slots], g, self.scratch[name])

    def _flat_update(self, dtype):
        """The update over 1-D contiguous arrays of `dtype`, asked of `accel` at its first use: a tiny net
        makes tens of thousands of steps a second, and asking costs a few microseconds."""
        if dtype not in self._updates:
            self._updates[dtype] = accel.get(self.kernel, self.xp, dtype=dtype, flat=True)
        return self._updates[dtype]

    def _flat_views(self, name: str, param):
        """(1-D view of param, 1-D views of its slot buffers, 1-D view of its scratch), made once per
        parameter array; param's view is None when param is not contiguous."""
        cached = self._flat_cache.get(name)
        if cached is None or cached[0] is not param:
            flat = param.reshape(-1) if param.flags.c_contiguous else None
            cached = self._flat_cache[name] = (param, flat, [self.buffers[s][name].reshape(-1) for s in self.slots],
                                               self.scratch[name].reshape(-1))
        return cached[1:]

    def _run(self, update, param, slots: list, grad, scratch) -> None:
        raise NotImplementedError

    def _gather(self, grads):
        """Every gradient, in the parameters' order, copied into the flat gradient array."""
        flat_grad = self.flat["grad"]
        self.xp.concatenate([grads[k].reshape(-1) for k in self.names], out=flat_grad)
        return flat_grad

    def _shared_flat(self, params):
        """The flat array `params` are consecutive views of (as `Program` allocates them), or None."""
        if self._flat_params[0] is not params:
            self._flat_params = (params, _shared_base(params))
        return self._flat_params[1]

    def _flush_tiny(self) -> None:
        """Zero state values below TINY. A buffer whose gradient stays 0 (a dead ReLU unit) decays geometrically
        into subnormal floats, where it sticks (0.9 x the smallest subnormal rounds back to itself) and every
        pass over the buffer becomes ~20x slower; values this small move no parameter."""
        xp = self.xp
        arrays = [self.flat[slot] for slot in self.slots] if self.flat else \
            [b for slot in self.slots for b in self.buffers[slot].values()]
        for buf in arrays:
            xp.putmask(buf, xp.abs(buf) < TINY, 0)

    def _begin_step(self) -> None:
        """Per-step scalars (bias corrections); nothing by default."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed for an exact resume, as host arrays with flat names."""
        state = {"steps": np.asarray(self.steps, dtype=np.int64)}
        for slot, buffers in self.buffers.items():
            for name, buf in buffers.items():
                state[f"{slot}.{name}"] = host_array(self.xp, buf)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from `state_dict()`; buffers are overwritten in place."""
        self.steps = saved_count(saved_array(state, "steps", "optimizer state"), "optimizer step count")
        saved = sorted({name.split(".")[0] for name in state if name != "steps"})
        if saved != sorted(self.buffers):  # another optimizer, or sgd with momentum where it had none
            raise TrainingError(f"the checkpoint holds the state of another optimizer ({_slots(saved)}); "
                                f"{type(self).__name__.lower()} as set now keeps {_slots(self.buffers)}",
                                hint="resume with the optimizer settings the run started with (its copy of the "
                                     "spec shows them), or start a new run")
        buffers = {f"{slot}.{name}": buf for slot, named in self.buffers.items() for name, buf in named.items()}
        restore_arrays(state, buffers, "optimizer state", self.xp)


def _slots(names) -> str:
    return "slots " + ", ".join(sorted(names)) if names else "no slots"


# below this many parameter values in all, the update gathers the gradients and runs once over every
# parameter (per-call overhead dominates: XOR's 17); above, it runs once per parameter and skips the
# gather's pass over memory (MLP 784-256-256-10: 270k)
GATHER_BELOW = 16384

# every FLUSH_EVERY steps, state values below TINY are zeroed: a value decaying by 0.9 a step needs ~175 steps
# to fall from TINY to float32's smallest normal number (1.2e-38), so none ever turns subnormal
FLUSH_EVERY = 100
TINY = 1e-30


def _flat_arrays(params: dict[str, Any], xp: Any, keys) -> dict[str, Any]:
    """One flat array per key, sized for all parameters; none when their dtypes differ."""
    dtypes = {p.dtype for p in params.values()}
    if len(dtypes) != 1:
        return {}
    size = sum(int(p.size) for p in params.values())
    return {key: xp.zeros(size, dtype=next(iter(dtypes))) for key in keys}


def _views(flat, params: dict[str, Any]) -> dict[str, Any]:
    """Per-parameter views of a flat array, in the parameters' order and shapes."""
    views, offset = {}, 0
    for name, p in params.items():
        views[name] = flat[offset : offset + p.size].reshape(p.shape)
        offset += p.size
    return views


def _shared_base(params: dict[str, Any]):
    """The flat array the parameters are consecutive views of, in order (as `Program` allocates
    them), or None. Checked by address, so it holds for numpy and cupy alike."""
    arrays = list(params.values())
    base = getattr(arrays[0], "base", None) if arrays else None
    if base is None or base.ndim != 1 or base.size != sum(p.size for p in arrays):
        return None
    start = _address(base)
    for p in arrays:
        if p.base is not base or _address(p) != start or not p.flags.c_contiguous:
            return None
        start += p.nbytes
    return base


def _address(a) -> int:
    interface = getattr(a, "__cuda_array_interface__", None) or a.__array_interface__
    return interface["data"][0]


class SGD(Optimizer):
    """torch.optim.SGD: buf = momentum*buf + g; step along buf (or g + momentum*buf with nesterov).

    torch starts the buffer at the first gradient; a zero buffer gives the same first step.
    """

    def __init__(self, params, xp, lr=0.01, momentum=0.0, nesterov=False):
        if nesterov and momentum <= 0:
            raise ValidationError("sgd: nesterov needs a momentum above 0")
        self.slots = ("momentum",) if momentum > 0 else ()
        super().__init__(params, xp, lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    kernel = "sgd"

    def _run(self, update, param, slots, grad, scratch) -> None:
        update(param, slots[0] if slots else None, grad, scratch, self.lr, self.momentum, self.nesterov)


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moments, eps added after the corrected square root."""

    slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, xp, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, xp, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _begin_step(self) -> None:
        self.step_size = self.lr / (1.0 - self.beta1**self.steps)
        self.correction2_sqrt = math.sqrt(1.0 - self.beta2**self.steps)

    kernel = "adam"

    def _run(self, update, param, slots, grad, scratch) -> None:
        update(param, *slots, grad, scratch, self.beta1, self.beta2, self.step_size, self.correction2_sqrt,
               self.eps)


_CLASSES = {"sgd": SGD, "adam": Adam}


def settings(choice) -> dict:
    """The options of the optimizer a `Choice(name, options)` names, its defaults filled in."""
    return completed(choice, OPTIMIZERS, "optimizer")


def make_optimizer(choice, params: dict[str, Any], xp: Any) -> Optimizer:
    """The optimizer a `Choice(name, options)` names, with buffers shaped like `params`."""
    options = settings(choice)  # refuses an unknown optimizer or option first
    return _CLASSES[choice.name](params, xp, **options)
