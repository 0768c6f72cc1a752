"""`nngraph sample` for the generative methods: image grids, reconstructions, latent and point scatters."""

import matplotlib.image as mpimg
import numpy as np

import nngraph
from nngraph.session import prepare

from .helpers import SPECS, trained


def _request(path, count=16):
    return {"output": path, "count": count, "prime": None, "length": 200, "temperature": 1.0, "fill": None,
            "steps": 1, "seed": 3}


def test_vae_writes_prior_draws_reconstructions_and_latent_means(tmp_path):
    session = trained("vae_digits_2d.nn", ["epochs=2"])
    message = session.method.sample(_request(tmp_path / "vae.png"), session.splits)
    for name in ("vae.png", "vae_recon.png", "vae_latent.png"):
        assert str(tmp_path / name) in message
        assert mpimg.imread(tmp_path / name).shape[0] > 100
    again = tmp_path / "again.npy"
    session.method.sample(_request(again), session.splits)
    draws = np.load(again)
    assert draws.shape == (16, 64) and 0 <= draws.min() and draws.max() <= 1
    session.method.sample(_request(tmp_path / "third.npy"), session.splits)
    assert np.array_equal(np.load(tmp_path / "third.npy"), draws)  # the seed fixes the draws


def test_vae_reconstruction_uses_the_latent_mean():
    session = prepare(nngraph.load(SPECS / "vae_digits_2d.nn"))
    x = session.splits.test.x[:4]
    first, second = session.method.predict(x), session.method.predict(x)
    assert np.array_equal(first, second) and first.shape == (4, 64)


def test_gan_writes_a_scatter_for_points_and_a_grid_for_images(tmp_path):
    ring = prepare(nngraph.load(SPECS / "gan_ring.nn"))
    assert "8 generated" in ring.method.sample(_request(tmp_path / "ring.png", 8), ring.splits)
    digits = prepare(nngraph.load(SPECS / "gan_digits.nn"))
    digits.method.sample(_request(tmp_path / "digits.png", 8), digits.splits)
    for name in ("ring.png", "digits.png"):
        assert mpimg.imread(tmp_path / name).ndim == 3


def test_every_method_writes_an_array_for_a_npy_output_whatever_its_case(tmp_path):
    """One writer for every method's samples: `.NPY` is an array for a VAE as for a Boltzmann machine."""
    vae = prepare(nngraph.load(SPECS / "vae_digits_2d.nn"))
    message = vae.method.sample(_request(tmp_path / "draws.NPY", 4), vae.splits)
    assert "4 decoded prior draws" in message and np.load(tmp_path / "draws.NPY").shape == (4, 64)
