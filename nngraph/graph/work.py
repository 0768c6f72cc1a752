"""How much arithmetic a command's options ask for, judged before it starts: `eval --likelihood/--refine` and
`sample`'s counts multiply each other and the model's forward pass, and each option bounded alone still let
their product run for hours (`eval --likelihood 1000000` on a small VAE; `sample --count 100000 --steps 100000`).

The unit is the forward FLOPs the inspect table counts (graph/shapes.py: `unit_flops`); a pass with its backward
pass counts 3 forward passes. WORK_LIMIT is at most about three minutes of one core: the slowest pace measured
was a small VAE's importance sampling, ~16 GFLOP/s (`nngraph eval specs/vae_digits.nn --likelihood 2000`: 37 s of
CPU for 1,797 x 2,000 passes of 155,648 FLOPs, 5.6e11; --refine 1000, 8.5e11: 41 s); a GAN's fill-in's batched
passes ran at ~150 GFLOP/s. The default fill-in of an autoregressive VAE (64 x 1,000 rounds x 64 values decoded
in order, 2.0e12) stays within it."""

from __future__ import annotations

from dataclasses import dataclass

from nngraph.errors import Span, ValidationError
from nngraph.graph.ir import ModelGraph
from nngraph.graph.shapes import total_parameters, unit_flops

WORK_LIMIT = 3 * 10**12  # FLOPs one command (or one training step) may ask for by its count options
BACKWARD_PASSES = 3  # a forward pass and its backward pass cost about three forward passes
# Fixed costs that no FLOP count sees, as the FLOPs the slowest pace above (~16 GFLOP/s) does in that time:
# a gradient step of a tiny model is ~200 us of array calls and the optimizer's update (ppo(minibatch=1) on
# cartpole_ppo's 64-unit actor-critic: 16,384 steps in 6.0 s on a loaded machine, 370 us each); a forward pass
# of a batch, or a Gibbs sweep, about a third of that; one copy's environment step ~12 us (graph/vocabulary.py:
# MAX_EPISODES).
GRADIENT_STEP_FLOPS = 3 * 10**6
CALL_FLOPS = 10**6
ENV_STEP_FLOPS = 2 * 10**5
STEP_WHY = "a whole run may be as long as you like (`steps`, `epochs`), one step may not"


def pass_flops(models: list[ModelGraph]) -> int:
    """The forward FLOPs of one example through `models` (per time step for recurrent ones); at least two per
    parameter, so a model whose links the table does not count (couplings of a Boltzmann machine) still costs."""
    return sum(max(sum(unit_flops(m, u) for u in m.graph.nodes), 2 * total_parameters(m), 1) for m in models)


def require_work(passes: int, flops: int, asked: str, hint: str) -> None:
    """Refuse `passes` passes of `flops` FLOPs each when they come to more than WORK_LIMIT; `asked` says which
    options (and what they were multiplied by) made the passes."""
    work = passes * flops
    if work > WORK_LIMIT:
        raise ValidationError(f"{asked}: {passes:,} passes of {flops:,} FLOPs, about {work:.1e} FLOPs, more than "
                              f"the {WORK_LIMIT:.0e} a command may ask for (about three minutes of one core)", None, hint)


@dataclass(frozen=True)
class StepWork:
    """One training step's work: `rows` example passes (a forward pass 1, with its backward BACKWARD_PASSES),
    `calls` forward passes of a batch or Gibbs sweeps and `gradient_steps`, each with a fixed cost whatever its
    rows, and `env_steps` steps of one copy of an environment."""

    rows: int = 0
    calls: int = 0
    gradient_steps: int = 0
    env_steps: int = 0

    def flops(self, flops_per_row: int) -> int:
        return (self.rows * flops_per_row + self.calls * CALL_FLOPS + self.gradient_steps * GRADIENT_STEP_FLOPS
                + self.env_steps * ENV_STEP_FLOPS)

    def describe(self) -> str:
        parts = [(self.env_steps, "environment step", "s"), (self.rows, "example pass", "es"),
                 (self.gradient_steps, "gradient step", "s"), (self.calls, "batched pass", "es")]
        return ", ".join(f"{count:,} {what}{'' if count == 1 else ending}" for count, what, ending in parts if count)


@dataclass(frozen=True)
class Factor:
    """An option that multiplies one step's work: how it is written (`ppo: rollout=100000`), where, and how
    many times its default it asks for (`inverse`: a smaller value asks for more, as a minibatch does)."""

    label: str
    value: int
    default: int
    span: Span | None
    written: bool
    inverse: bool = False

    @property
    def growth(self) -> float:
        value, default = max(self.value, 1), max(self.default, 1)
        return default / value if self.inverse else value / default


def require_step_work(work: StepWork, flops_per_row: int, factors: list[Factor], fallback: Span | None,
                      what: str = "one training step", each: str = "one step", why: str = STEP_WHY) -> None:
    """Refuse a training step (or `what` else that runs whole, `each` in the message: an evaluation of a split)
    of more than WORK_LIMIT, at the written option that grew it most past its default (else at `fallback`, the
    method); `why` ends the hint: a whole run may be as long as it likes, one step may not."""
    total = work.flops(flops_per_row)
    if total <= WORK_LIMIT:
        return
    culprit = max([f for f in factors if f.written] or factors, key=lambda f: f.growth, default=None)
    product = " x ".join(f"{f.label}={f.value:,}" for f in factors)
    others = [f"{'raise' if f.inverse else 'lower'} {f.label}" for f in factors if f is not culprit]
    hint = (f"{'raise' if culprit.inverse else 'lower'} {culprit.label}" + (f" (or {', '.join(others)})" if others else "")
            + f"; {why}") if culprit else None
    raise ValidationError(f"{what} ({product}) makes {work.describe()}: about {total:.1e} FLOPs of "
                          f"{flops_per_row:,} a pass, more than the {WORK_LIMIT:.0e} {each} may take "
                          "(about three minutes of one core)", culprit.span if culprit and culprit.written else fallback,
                          hint)
