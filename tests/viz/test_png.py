"""The PNG drawing, and the promise that importing viz (or writing SVG/DOT) never loads matplotlib."""

import subprocess
import sys
import time
from itertools import pairwise

import numpy as np
import pytest
from matplotlib.image import imread

from nngraph.viz import draw_models
from nngraph.viz.canvas import layout_drawing
from nngraph.viz.drawing import Box, Drawing, Group, Link
from nngraph.viz.png import MAX_AREA, MAX_PIXELS, SHARPNESS, picture_scale, scene_to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


@pytest.mark.parametrize("spec", ["gan_ring", "vae_digits"], indirect=True)
def test_png_is_a_picture_of_reasonable_size(spec, tmp_path):
    picture = read_png(draw_models(spec, tmp_path / "model.png"))
    height, width = picture.shape[:2]
    assert 300 < height < 4000 and 200 < width < 4000
    assert len(np.unique(picture.reshape(-1, picture.shape[-1]), axis=0)) > 10  # not blank


@pytest.mark.parametrize("spec", ["sine_elman"], indirect=True)
def test_an_unrolled_png_is_wider_than_one_step(spec, tmp_path):
    once = read_png(draw_models(spec, tmp_path / "once.png"))
    unrolled = read_png(draw_models(spec, tmp_path / "unrolled.png", unroll=4))
    assert unrolled.shape[1] > 3 * once.shape[1]


def test_the_big_spec_renders(big_models, tmp_path):
    picture = read_png(draw_models(big_models, tmp_path / "big.PNG"))
    assert picture.shape[0] > picture.shape[1] > 500


def test_viz_imports_and_svg_dot_writing_do_not_load_matplotlib(tmp_path):
    script = (
        "import sys\n"
        "from nngraph.spec.parser import parse\n"
        "from nngraph.graph.check import check_spec\n"
        "import nngraph.viz as viz\n"
        "models = list(check_spec(parse('model m { input x[2]\\n output y[1]\\n x -> y }')).models.values())\n"
        f"viz.draw_models(models, {str(tmp_path / 'm.svg')!r})\n"
        f"viz.draw_models(models, {str(tmp_path / 'm.dot')!r})\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("size", [(300, 200), (100, 1e6), (6000, 7000), (1e5, 1e5)])
def test_a_picture_is_bounded_a_side_and_in_all(size):
    width, height = size
    scale = picture_scale(width, height)
    assert scale <= SHARPNESS and max(width, height) * scale <= MAX_PIXELS + 1e-6
    assert width * height * scale**2 <= MAX_AREA * (1 + 1e-9)
    if size == (300, 200):
        assert scale == SHARPNESS


def test_a_10000_unit_chain_renders_leaving_out_text_too_small_to_read(tmp_path):
    # at 12000 pixels for 1.2 million scene units its text was 0.1 pixel tall, and FreeType refused it
    names = [f"h_{i}" for i in range(10_000)]
    drawing = Drawing([Group("m")], [Box(f"m/{u}", u, ("[64]", "relu"), "layer", 0) for u in names])
    drawing.links = [Link(f"m/{a}", f"m/{b}") for a, b in pairwise(names)]
    start = time.process_time()
    scene_to_png(layout_drawing(drawing), tmp_path / "chain.png")
    assert time.process_time() - start < 20.0
    assert abs(read_png(tmp_path / "chain.png").shape[0] - MAX_PIXELS) <= 1
