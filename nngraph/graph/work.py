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

from nngraph.errors import ValidationError
from nngraph.graph.ir import ModelGraph
from nngraph.graph.shapes import total_parameters, unit_flops

WORK_LIMIT = 3 * 10**12  # FLOPs one command may ask for by its count options
BACKWARD_PASSES = 3  # a forward pass and its backward pass cost about three forward passes


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
