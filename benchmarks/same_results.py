"""Do two versions of nngraph train to the same bits? A check for refactorings that must change no number.

    python benchmarks/same_results.py save before.npz      # on the old code
    python benchmarks/same_results.py save after.npz       # on the new code
    python benchmarks/same_results.py compare before.npz after.npz

`save` trains every spec under specs/ (and a few variants that exercise the methods' options: penalties and
clipping, Adam, persistent chains, annealing, KL warm-up, per-model GAN optimizers, truncated BPTT, early
stopping) for EPOCHS epochs (an agent for RL_STEPS environment steps) on one thread, and keeps every array of
each run's last checkpoint (parameters, optimizer state, chains...) and every number of its metrics.jsonl (wall
times left out). `compare` says which
arrays or metrics differ, bit for bit. Only the public API is used, so both versions run the same script.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

SPECS = Path(__file__).resolve().parents[1] / "specs"
MNIST = next((p for p in (SPECS.parent.parent / "shared", SPECS.parents[2] / "shared") if p.exists()), SPECS) / "data" / "mnist"
EPOCHS = 2
RL_STEPS = 512  # an agent's run is counted in environment steps (it has no epochs)
SMALL = {  # specs whose data is cut down, to keep the whole check within a few minutes
    "mnist_lenet.nn": [f'data=mnist(path="{MNIST}", limit=300, shape=[1, 28, 28])'],
    "rbm_digits.nn": ["data=digits(limit=300, binarize=0.5)"],
    "gan_digits.nn": ["data=digits(limit=300, scale=minmax)"],
}
VARIANTS = {  # (spec, overrides) runs that exercise what the specs leave at their defaults
    "xor_l1_l2_clip": ("xor.nn", ["l1=1e-3", "l2=1e-3", "clip=0.5", "optimizer=adam(lr=0.05)"]),
    "digits_mlp_early": ("digits_mlp.nn", ["validation=0.2", "early_stopping=1", "schedule=step(every=1)"]),
    "rbm_pcd": ("rbm_bars.nn", ["method=pcd(k=2, chains=8)", "l2=1e-4"]),
    "bm_parallel": ("bm_encoder424.nn", ["method=boltzmann(order=parallel, chains=4, noisy_clamp=0.1)"]),
    "bm_mean_field": ("bm_encoder424.nn", ["method=boltzmann(anneal=[[4, 2], [1, 2]], mean_field=true)"]),
    "vae_warmup": ("vae_digits.nn", ["method=vae(samples=2, warmup=3)", "clip=5"]),
    "gan_optimizers": ("gan_ring.nn", ["method=gan(generator=generator, discriminator=discriminator, k=2, "
                                       "pack=2, g_optimizer=sgd(lr=0.01, momentum=0.9))", "l2=1e-4",
                                       "data=ring(n=600)"]),
    "elman_bptt": ("sine_elman.nn", ["bptt=5", "l1=1e-4"]),
}


def runs() -> dict[str, tuple[str, list[str]]]:
    plain = {p.stem: (p.name, SMALL.get(p.name, [])) for p in sorted(SPECS.glob("*.nn"))}
    if not MNIST.exists():
        plain.pop("mnist_lenet", None)
    return {**plain, **VARIANTS}


def train(spec: str, overrides: list[str], folder: Path) -> dict[str, np.ndarray]:
    import nngraph
    from nngraph.session import run_training

    length = f"steps={RL_STEPS}" if nngraph.load(SPECS / spec).train().env is not None else f"epochs={EPOCHS}"
    checked = nngraph.load(SPECS / spec, [length, *overrides])
    run_training(checked, out=folder, threads=1)
    with np.load(folder / "checkpoint.npz", allow_pickle=False) as saved:
        arrays = {f"state/{k}": saved[k] for k in saved.files if k != "__meta__"}
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key != "time":
                arrays[f"metrics/{record['epoch']}/{key}"] = np.asarray(value, np.float64)
    return arrays


def save(path: str) -> None:
    everything = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (spec, overrides) in runs().items():
            print(f"training {name}", flush=True)
            for key, value in train(spec, overrides, Path(tmp) / name).items():
                everything[f"{name}/{key}"] = value
    np.savez(path, **everything)
    print(f"{len(everything)} arrays of {len(runs())} runs saved to {path}")


def compare(first: str, second: str) -> int:
    with np.load(first, allow_pickle=False) as a, np.load(second, allow_pickle=False) as b:
        only = sorted(set(a.files) ^ set(b.files))
        differ = [k for k in sorted(set(a.files) & set(b.files))
                  if a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
        for key in only:
            print(f"only in {'the first' if key in a.files else 'the second'}: {key}")
        for key in differ:
            print(f"differs: {key}")
        runs_seen = {k.split("/")[0] for k in a.files}
        print(f"{len(set(a.files) & set(b.files)) - len(differ)} arrays of {len(runs_seen)} runs are the same to "
              f"the bit; {len(differ)} differ, {len(only)} are in one file only")
    return 1 if differ or only else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
