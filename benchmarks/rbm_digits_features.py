"""scikit-learn's documented RBM-features example reproduced with an nngraph RBM, in one run.

    python benchmarks/rbm_digits_features.py [--hidden 768] [--epochs 30] [--seeds 0 1 2] [--skip-sklearn]

The example ("Restricted Boltzmann Machine features for digit classification"): the 8x8 digits shifted by one
pixel in each direction (5x the data), scaled to [0, 1], split 80/20 (random_state=0); an RBM with 100 hidden
units, learning rate 0.06, batch 10, 10 epochs; logistic regression (C=6000) on the hidden probabilities. The
documented tol=1 stops current LogisticRegression after 0 iterations, so its default tol is used. Raw pixels
get LogisticRegression(C=100). The nngraph RBM is scikit-learn's algorithm (PCD-1 with one chain per batch row)
written as a spec, trained by the nngraph loop on the same grey-level data (read as bernoulli probabilities, as
scikit-learn does; a spec run would refuse non-binary data for bernoulli units, so this goes through the API).

The nngraph setting differs from the example where that measured better on the held-out part: 768 hidden
units, 30 epochs, learning rate 0.03 with momentum 0.5 and a cosine decay; the logistic regression sees the RBM's
hidden probabilities standardised (StandardScaler fitted on its training rows). C is chosen from C_GRID on a
stratified 20% held-out part of the training split, then the classifier is refit on the whole training split;
the RBM settings were chosen on the mean over seeds 0, 1, 2 of that held-out accuracy (at the chosen C), never
on the test split. The RBM learns from the training split's images only (no labels).

Standardising lifted the figure most: on seed 0's features of the earlier setting (512 hidden, lr 0.02, no
decay) the raw probabilities' best held-out accuracy was 0.9534 (C=6000, lbfgs ~1000 iterations; C up to 1e5
did not help), the standardised ones' 0.9673 (C=10). Then the RBM settings, held-out mean / test mean (lowest
test seed): 512 hidden lr 0.02 0.9615 / 0.9616 (0.9594); the same for 60 epochs with cosine decay 0.9618 /
0.9622 (0.9605); lr 0.01 momentum 0.9 cosine 60 epochs 0.9618 / 0.9603 (0.9572); 1024 hidden l2 1e-4 cosine
0.9608 / 0.9622 (0.9605); 768 hidden 0.9627 / 0.9627 (0.9588); lr 0.03 cosine 0.9638 / 0.9662 (0.9649); lr 0.04
cosine 0.9627 / 0.9627 (0.9610); 1024 hidden lr 0.03 cosine 0.9636 / 0.9648 (0.9638); 768 hidden lr 0.03 cosine
0.9669 / 0.9668 (0.9655), 45 epochs of it 0.9669 / 0.9657 (0.9644; the tie goes to the cheaper run). On seed 0
only, held-out at C=10: a sparsity penalty (Hinton's cross-entropy form patched into a screening script,
not an nngraph option: target 0.05, cost 0.1) 0.9666, stronger ones 0.84-0.93; CD-1 0.9618; PCD-5 0.9638;
100 chains 0.9611 (against 0.9687). BLAS runs on THREADS threads, so that the RBM's float32
sums, and with them its Gibbs chains, do not depend on the machine's load (seed 0's features moved by up to
0.36 between a 1- and a 2-thread run).

Measured (2 cores under other load): `python -W ignore benchmarks/rbm_digits_features.py --seeds 0 1 2`
gives test 0.9677, 0.9655, 0.9672 (C chosen 3, 3, 10), mean 0.9668, in 75 s: issue 15's floor of 0.96 is met
on every seed; scikit-learn's own pipeline 0.9327 (ratio 1.0366), raw pixels 0.7819.

The visible biases start at zero here, as scikit-learn's do (`--visible-bias zero`, the default). With
`--visible-bias data` they start as `fit` starts them, from the training images' marginals (Hinton's practical
guide, section 8): test 0.9649, 0.9649, 0.9661 (mean 0.9653; held-out at the chosen C 0.9694, 0.9673, 0.9638,
mean 0.9668, the same mean as zero's 0.9715, 0.9631, 0.9659): within the seeds' spread, above the floor.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.ndimage import convolve
from sklearn import datasets, linear_model, metrics
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler, minmax_scale

import nngraph
from nngraph.backend import get_backend
from nngraph.backend.threads import compute_threads
from nngraph.data.dataset import unsupervised
from nngraph.session import build_method
from nngraph.train.loop import fit

SPEC = """
model rbm {{ visible v[64] bernoulli; hidden h[{hidden}] bernoulli; v <-> h }}
train {{ model rbm; data digits; method pcd(k=1, chains=10); optimizer sgd(lr=0.03, momentum=0.5)
        schedule cosine; batch 10; epochs {epochs} }}
"""
FLOOR = 0.96  # issue 15: nngraph RBM features + logistic regression, test accuracy
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)  # the logistic regression's C on standardised features, chosen on the
# training split's held-out part
THREADS = 1  # BLAS threads: float32 sums, and so the RBM's chains, then do not depend on the machine's load


def nudge_dataset(x, y):
    """The example's augmentation: every image also shifted by one pixel left, right, up and down."""
    directions = [[[0, 1, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
                  [[0, 0, 0], [0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 1, 0]]]
    shifted = [np.apply_along_axis(lambda image, w=w: convolve(image.reshape(8, 8), mode="constant",
                                                                weights=np.array(w)).ravel(), 1, x)
               for w in directions]
    return np.concatenate([x] + shifted), np.concatenate([y] * 5)


def accuracy(model, x_train, y_train, x_test, y_test) -> float:
    model.fit(x_train, y_train)
    return metrics.accuracy_score(y_test, model.predict(x_test))


def logistic(c: float, max_iter: int = 1000):
    return linear_model.LogisticRegression(C=c, max_iter=max_iter)


def feature_classifier(c: float):
    """Logistic regression on the RBM features standardised (mean and scale fitted on its training rows):
    lbfgs then converges in ~450 iterations at the chosen C, where the raw probabilities at C=6000 took ~1000."""
    return make_pipeline(StandardScaler(), logistic(c, max_iter=3000))


def choose_c(features, labels, seed: int) -> tuple[float, dict[float, float]]:
    """The C with the best accuracy on a stratified 20% of the training features, fitting on the other 80%."""
    fit_x, held_x, fit_y, held_y = train_test_split(features, labels, test_size=0.2, random_state=seed,
                                                    stratify=labels)
    held_accuracy = {c: accuracy(feature_classifier(c), fit_x, fit_y, held_x, held_y) for c in C_GRID}
    return max(held_accuracy, key=held_accuracy.get), held_accuracy


def nngraph_features(x_train, x_test, seed: int = 0, hidden: int = 100, epochs: int = 10, bias: str = "zero"):
    checked = nngraph.loads(SPEC.format(hidden=hidden, epochs=epochs))
    config = checked.train()
    method = build_method(checked, config, get_backend())
    # "zero": every bias starts at zero, as scikit-learn's; "data": the visible biases from the training
    # images' marginals, as `fit` starts them by default
    method.start_bias_from_data = bias == "data"
    fit(method, unsupervised(x_train.astype(np.float32), "digits"), None, config, rng=np.random.default_rng(seed))
    return method.predict(x_train.astype(np.float32)), method.predict(x_test.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=768, help="the nngraph RBM's hidden units")
    parser.add_argument("--epochs", type=int, default=30, help="the nngraph RBM's epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="RBM seeds; the mean is held to the floor")
    parser.add_argument("--skip-sklearn", action="store_true", help="only the nngraph RBM and raw pixels")
    parser.add_argument("--visible-bias", choices=("zero", "data"), default="zero",
                        help="the nngraph RBM's visible biases start at zero (scikit-learn's start) or from the "
                             "training images' marginals (fit's default)")
    args = parser.parse_args()
    with compute_threads(THREADS):
        run(args)


def run(args) -> None:
    digits = datasets.load_digits()
    x, y = nudge_dataset(np.asarray(digits.data, "float32"), digits.target)
    x = minmax_scale(x, feature_range=(0, 1))
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)

    if not args.skip_sklearn:
        start = time.perf_counter()
        rbm = BernoulliRBM(random_state=0, learning_rate=0.06, n_iter=10, n_components=100)
        pipeline = Pipeline([("rbm", rbm), ("logistic", linear_model.LogisticRegression(C=6000, max_iter=1000))])
        sklearn_accuracy = accuracy(pipeline, x_train, y_train, x_test, y_test)
        sklearn_time = time.perf_counter() - start

    print(f"test accuracy, {len(x_train)} train / {len(x_test)} test examples:")
    per_seed = []
    for seed in args.seeds:
        start = time.perf_counter()
        f_train, f_test = nngraph_features(x_train, x_test, seed=seed, hidden=args.hidden, epochs=args.epochs,
                                           bias=args.visible_bias)
        c, held_accuracy = choose_c(f_train, y_train, seed)
        per_seed.append(accuracy(feature_classifier(c), f_train, y_train, f_test, y_test))
        held = ", ".join(f"C={key:g}: {value:.4f}" for key, value in held_accuracy.items())
        print(f"  seed {seed}: nngraph RBM ({args.hidden} hidden, {args.epochs} epochs) + logistic regression "
              f"(C={c:g}; held-out {held})  {per_seed[-1]:.4f}  ({time.perf_counter() - start:.1f} s)", flush=True)
    ours = float(np.mean(per_seed))
    print(f"  nngraph RBM features, mean over seeds {args.seeds}  {ours:.4f}  "
          f"(floor >= {FLOOR}: {'met' if ours >= FLOOR else 'NOT met'}; lowest seed {min(per_seed):.4f}, "
          f"{'every seed' if min(per_seed) >= FLOOR else 'not every seed'} at the floor)")

    raw = accuracy(logistic(100), x_train, y_train, x_test, y_test)
    if not args.skip_sklearn:
        print(f"  scikit-learn BernoulliRBM + logistic  {sklearn_accuracy:.4f}  ({sklearn_time:.1f} s)")
    print(f"  logistic regression on raw pixels     {raw:.4f}")
    if not args.skip_sklearn:
        print(f"ratio nngraph / scikit-learn accuracy: {ours / sklearn_accuracy:.4f} (floor 1.0)")


if __name__ == "__main__":
    main()
