"""Class-conditional samples of a deep belief net whose top RBM learned the labels (`dbn(labels=true)`).

    python benchmarks/dbn_labels.py [--seeds 0,1,2] [--count 100] [--steps 200]

specs/dbn_digits_labels.nn is trained once per seed (`--set seed=S`, `epochs 0`: the pretrained generative
model). For each class c, `--count` samples are drawn top-down with the label clamped to c (`--steps` Gibbs steps
in the top RBM, the data units' probabilities), and a logistic regression fitted on the training split's digits
labels them; the score of a class is the share labelled c. Prints each seed's shares, their min and mean; the
test (tests/train/test_dbn_labels.py) holds the spec's seed to min >= 0.75, mean >= 0.90.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import nngraph
from nngraph.backend.threads import compute_threads
from nngraph.session import prepare
from nngraph.train.loop import fit

SPEC = Path(__file__).resolve().parents[1] / "specs" / "dbn_digits_labels.nn"


def class_shares(seed: int, count: int, steps: int) -> list[float]:
    session = prepare(nngraph.load(SPEC, [f"seed={seed}"]))
    train = session.splits.train
    with compute_threads(1):
        fit(session.method, train, None, session.config, rng=np.random.default_rng(seed))
    classifier = LogisticRegression(max_iter=2000).fit(train.x.reshape(len(train), -1), train.y)
    shares = []
    for label in range(10):
        samples = session.method.top_down(count, steps, np.random.default_rng(label), means=True, label=label)
        shares.append(float((classifier.predict(session.method.backend.to_numpy(samples)) == label).mean()))
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        shares = class_shares(seed, args.count, args.steps)
        print(f"seed {seed}: samples labelled as the class asked, classes 0-9: "
              + " ".join(f"{s:.2f}" for s in shares)
              + f"; min {min(shares):.2f}, mean {np.mean(shares):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
