"""The command line: every family's cases, a table per construct, the smallest failing case of each."""

from __future__ import annotations

import argparse
import collections
import tempfile

import numpy as np

from . import __doc__ as OVERVIEW
from . import augment
from .ar_vae import compare_ar_vae
from .boltzmann_fill import compare_boltzmann_fill, compare_boltzmann_sample
from .boltzmann_steps import compare_boltzmann_steps
from .dbn_sample import compare_dbn_sample
from .dbn_steps import compare_dbn_steps
from .compare import compare_feedforward
from .discriminator import gan_case
from .fill_masks import compare_fill_masks
from .gan_fill import compare_gan_fill
from .gan_steps import compare_gan_steps
from .generate import blocks_case, combo_case, feedforward_case, rand_optimizer, tied_case, vae_case
from .initial import init_case
from .initial_draws import THRESHOLD as DRAWS_THRESHOLD
from .initial_draws import compare_initial_draws
from .net import DTYPE, LAST
from .rbm_steps import compare_rbm_steps
from .recurrent import compare_recurrent, conv_loop_case, recurrent_case
from .rl_rollouts import compare_rl_rollouts
from .rl_steps import compare_rl_steps
from .sampling import compare_text_sampling
from .sequence_fill import compare_sequence_fill
from .vae_inference import compare_vae_inference
from .vae_steps import compare_vae_steps
from .whole_runs import fit_case, recurrent_fit_case, schedule_cases

# a training method driven step by step, its draws handed to the twin: (constructs, ((worst, where), spec))
METHOD_STEPS = {"vae_steps": compare_vae_steps, "gan_steps": compare_gan_steps, "rbm_steps": compare_rbm_steps,
                "boltzmann_steps": compare_boltzmann_steps, "dbn_steps": compare_dbn_steps,
                "augment": augment.compare_augment, "rl_steps": compare_rl_steps,
                "rl_rollouts": compare_rl_rollouts,
                "sampling": compare_text_sampling,
                "vae_inference": compare_vae_inference,
                "ar_vae": compare_ar_vae,
                "init_draws": compare_initial_draws,
                "boltzmann_fill": compare_boltzmann_fill,
                "boltzmann_sample": compare_boltzmann_sample,
                "dbn_sample": compare_dbn_sample,
                "gan_fill": compare_gan_fill,
                "sequence_fill": compare_sequence_fill,
                "fill_masks": compare_fill_masks}
FAMILIES = ("feedforward", "optimizer", "blocks", "combos", "tied", "vae", "recurrent", "conv_loop", "gan", "schedule", "fit", "bptt_fit",
            "init", *METHOD_STEPS)
FLOORS = {"augment": augment.TOLERANCE,  # the least tolerance of a family that computes on float32 data
          "init_draws": DRAWS_THRESHOLD}  # statistics over their thresholds


def one_case(family, rng):
    if family in METHOD_STEPS:
        used, result = METHOD_STEPS[family](rng)
        return {f"{family}: {c}" for c in used}, result
    if family == "recurrent":
        net, used, xs, target, case = recurrent_case(rng)
        return used, compare_recurrent(net, xs, target, case)
    if family == "fit":
        with tempfile.TemporaryDirectory() as folder:
            return fit_case(rng, folder)
    if family == "conv_loop":
        d, text, construct = conv_loop_case(rng)
        return {construct}, ((d, "values, loss and gradients"), text)
    if family == "bptt_fit":
        with tempfile.TemporaryDirectory() as folder:
            return recurrent_fit_case(rng, folder)
    if family == "gan":
        d, text = gan_case(rng)
        return {"minibatch_std"}, ((d, "discriminator values and gradients"), text)
    if family == "init":
        return init_case(rng)
    if family == "schedule":
        return {"schedules"}, (schedule_cases(rng), "")
    if family in ("blocks", "combos"):
        net, used, xs, target = (blocks_case if family == "blocks" else combo_case)(rng)
        extra, more = rand_optimizer(rng)
        return used | more, compare_feedforward(net, xs, target, optimizer=True, extra=extra)
    if family == "tied":
        net, used, xs, target = tied_case(rng)
    elif family == "vae":
        net, used, xs, target = vae_case(rng)
    else:
        net, used, xs, target = feedforward_case(rng)
    extra = ()
    if family == "optimizer":
        extra, more = rand_optimizer(rng)
        used = more
    if family == "vae":
        extra = ("method vae",)
    return used, compare_feedforward(net, xs, target, optimizer=family == "optimizer", extra=extra,
                                     sum_units=family == "vae")


def main() -> None:
    parser = argparse.ArgumentParser(description=OVERVIEW.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60, help="cases per family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=FAMILIES)
    parser.add_argument("--tol", type=float, default=1e-9)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="nngraph's dtype (float32 runs the compiled kernels; use --tol 1e-4 or so)")
    args = parser.parse_args()
    DTYPE[0] = args.dtype
    stats = collections.defaultdict(lambda: [0, 0, 0.0, None])  # cases, mismatches, worst, smallest failing
    for family in [args.only] if args.only else FAMILIES:
        rng, tol = np.random.default_rng(args.seed), max(args.tol, FLOORS.get(family, 0.0))
        for _ in range(args.cases):
            try:
                used, ((d, where), text) = one_case(family, rng)
            except Exception as e:  # a spec nngraph refuses or a crash: a mismatch too, with its message
                used, d, where, text = {f"{family}:error"}, float("inf"), f"{type(e).__name__}: {e}", LAST[0]
            for c in used:
                s = stats[c]
                s[0] += 1
                s[2] = s[2] if s[2] != s[2] or d <= s[2] else d  # a NaN kept: max() and `d > tol` pass it
                if not d <= tol:  # a NaN is a mismatch
                    s[1] += 1
                    if s[3] is None or len(text) < len(s[3][0]):
                        s[3] = (text, where, d)
    print(f"{'construct':34} {'cases':>5} {'mismatch':>8} {'worst rel diff':>15}")
    for c in sorted(stats):
        cases, bad, worst, _ = stats[c]
        print(f"{c:34} {cases:5d} {bad:8d} {worst:15.3e}")
    for c in sorted(stats):
        if stats[c][3]:
            text, where, d = stats[c][3]
            print(f"\n== {c}: smallest failing case ({where}, {d:.3e})\n{text}")


if __name__ == "__main__":
    main()
