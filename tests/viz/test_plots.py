"""Training plots: each writes a valid PNG; wrong shapes are DataErrors (ValueErrors) that say what is wrong."""

import numpy as np
import pytest
from matplotlib.image import imread

from nngraph.errors import DataError, ValidationError
from nngraph.viz import filter_grid, image_grid, latent_scatter, plot_curves, scatter_samples
from nngraph.viz.curves import metric_panels, split_key
from nngraph.viz.grids import as_images

rng = np.random.default_rng(0)


def png_shape(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(path).shape


HISTORY = [
    {
        "epoch": e,
        "loss": 1 / e,
        "val_loss": 1.1 / e,
        "d_loss": 0.6,
        "accuracy": e / 10,
        "val_accuracy": e / 11,
        "test_mse": None if e == 2 else 0.1,
        "note": "text",
    }
    for e in range(1, 6)
]


def test_metric_families_share_panels():
    assert split_key("val_accuracy") == ("accuracy", "val")
    assert split_key("loss") == ("loss", "train") and split_key("val_") == ("val_", "train")
    assert metric_panels(HISTORY) == {
        "loss": ["loss", "val_loss", "d_loss"],
        "accuracy": ["accuracy", "val_accuracy"],
        "mse": ["test_mse"],
    }


def test_plot_curves_writes_a_png(tmp_path):
    height, width, _ = png_shape(plot_curves(HISTORY, tmp_path / "sub" / "curves.png"))
    assert width == 1000 and height == 2 * 340
    assert png_shape(plot_curves(HISTORY[:1], tmp_path / "one.png"))[0] > 100


@pytest.mark.parametrize("history", [[], "loss", [{"epoch": 1, "note": "x"}], [1, 2]])
def test_plot_curves_rejects_what_it_cannot_plot(history, tmp_path):
    with pytest.raises(DataError):
        plot_curves(history, tmp_path / "c.png")


@pytest.mark.parametrize(
    "images, options",
    [
        (rng.random((10, 8, 8)), {}),
        (rng.random((10, 1, 8, 8)), {}),
        (rng.random((10, 64)), {}),
        (rng.random((10, 64)), {"shape": (8, 8)}),
        (rng.random((10, 48)), {"shape": (4, 12)}),
    ],
)
def test_image_grid_tiles_every_layout_of_images(images, options, tmp_path):
    # 10 images, 5 a row: 2 x 5 images of 8 x 8 pixels, each enlarged 12 times (the grid's 40 pixels to 480),
    # 3-pixel gaps; 4 x 12 images: 60 pixels wide, enlarged 8 times
    height, width = png_shape(image_grid(images, tmp_path / "g.png", nrow=5, **options))[:2]
    if options.get("shape") == (4, 12):
        assert (height, width) == (2 * (4 * 8 + 3) + 3, 5 * (12 * 8 + 3) + 3)
    else:
        assert (height, width) == (2 * (8 * 12 + 3) + 3, 5 * (8 * 12 + 3) + 3)


def test_small_images_are_enlarged_until_the_grid_can_be_read(tmp_path):
    # the filters of an RBM on 3 x 3 bars: 16 of them were a 204-pixel picture
    height, width = png_shape(filter_grid(rng.random((9, 16)), tmp_path / "f.png", (3, 3)))[:2]
    assert (height, width) == (4 * (3 * 40 + 3) + 3,) * 2  # each 3-pixel image 120 pixels
    assert png_shape(image_grid(rng.random((1, 300, 5000)), tmp_path / "big.png"))[:2] == (306, 5006)


def test_image_grid_colour_images_and_clipping(tmp_path):
    picture = imread(image_grid(rng.random((4, 3, 5, 5)) * 3 - 1, tmp_path / "rgb.png"))
    assert picture.shape[2] in (3, 4) and picture.max() <= 1.0
    assert as_images(np.full((1, 2, 2), np.nan)).max() == 0.0


@pytest.mark.parametrize(
    "images, options",
    [
        (rng.random((10, 10)), {}),  # rows of 10 values are not square
        (rng.random((10, 64)), {"shape": (7, 9)}),
        (rng.random((2, 4, 8, 8)), {}),
        (rng.random(64), {}),
        (rng.random((0, 8, 8)), {}),
        ([["a", "b"]], {}),
        (rng.random((3, 8, 8)), {"nrow": 0}),
    ],
)
def test_image_grid_rejects_wrong_shapes(images, options, tmp_path):
    with pytest.raises(DataError) as e:
        image_grid(images, tmp_path / "g.png", **options)
    assert isinstance(e.value, ValueError)


def test_filter_grid_shows_each_hidden_unit_scaled_on_its_own(tmp_path):
    weights = rng.standard_normal((64, 30))
    weights[:, 0] = 5.0  # a flat filter is drawn grey, not a division by zero
    weights[:, 1] *= 1000
    height, width = png_shape(filter_grid(weights, tmp_path / "f.png", (8, 8)))[:2]
    # 30 filters: 5 rows of 6, each enlarged 10 times (the grid's 48 pixels to 480), 3-pixel gaps
    assert (height, width) == (5 * (80 + 3) + 3, 6 * (80 + 3) + 3)


@pytest.mark.parametrize(
    "weights, shape", [(rng.random((64, 5)), (7, 7)), (rng.random(64), (8, 8))]
)
def test_filter_grid_rejects_wrong_shapes(weights, shape, tmp_path):
    with pytest.raises(DataError):
        filter_grid(weights, tmp_path / "f.png", shape)


def test_scatter_samples_with_and_without_data(tmp_path):
    assert png_shape(
        scatter_samples(
            rng.standard_normal((100, 2)), rng.standard_normal((300, 2)), tmp_path / "s.png"
        )
    )[:2] == (500, 550)
    assert (
        png_shape(scatter_samples(rng.standard_normal((100, 2)), None, tmp_path / "t.png"))[0]
        == 500
    )


@pytest.mark.parametrize(
    "labels",
    [
        None,
        rng.integers(0, 10, 50),
        np.eye(3)[rng.integers(0, 3, 50)],
        rng.integers(0, 40, 50),
        rng.integers(0, 15, 50),
    ],
)
def test_latent_scatter_colours_by_label(labels, tmp_path):
    assert png_shape(latent_scatter(rng.standard_normal((50, 2)), labels, tmp_path / "z.png"))[
        :2
    ] == (500, 550)


@pytest.mark.parametrize(
    "call",
    [
        lambda p: scatter_samples(rng.random((10, 3)), None, p),
        lambda p: scatter_samples(rng.random((10, 2)), rng.random(5), p),
        lambda p: latent_scatter(rng.random((10, 4)), None, p),
        lambda p: latent_scatter(rng.random((10, 2)), np.arange(9), p),
        lambda p: latent_scatter(np.zeros((0, 2)), None, p),
    ],
)
def test_scatters_reject_wrong_shapes(call, tmp_path):
    with pytest.raises(DataError):
        call(tmp_path / "s.png")


def test_plots_refuse_unknown_file_types(tmp_path):
    with pytest.raises(ValidationError, match="'.jpg'"):
        image_grid(rng.random((2, 4, 4)), tmp_path / "g.jpg")
    with pytest.raises(ValidationError):
        plot_curves(HISTORY, tmp_path / "curves")
