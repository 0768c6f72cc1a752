"""Models to draw: every spec shipped in specs/, and one larger spec with every kind of link."""

from pathlib import Path
from xml.etree import ElementTree

import pytest

from nngraph.graph.check import check_spec
from nngraph.spec.parser import parse, parse_file
from nngraph.viz import draw_models

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.nn"))
SVG = "{http://www.w3.org/2000/svg}"

# 20 units: branches, skips over several layers, pooling and conv labels, a gated cell, two self-loops on one
# unit, and a recurrent link back up the page
BIG_SPEC = """
model big {
  input  x[1, 16, 16]
  input  aux[8]
  layer  c1 relu
  layer  p1
  layer  c2 relu
  layer  p2
  layer  f[64] relu
  layer  a1[32] tanh
  layer  a2[32] tanh
  layer  m[64] relu
  layer  r[32] tanh
  layer  s[32] lstm
  layer  k[16] relu repeat=4
  layer  q[16] sigmoid
  output y[10] softmax
  output z[1] identity
  output w[4] identity
  x -> c1 conv(filters=8, kernel=3, padding=1) -> p1 maxpool(2) -> c2 conv(filters=16, kernel=3)
  c2 -> p2 avgpool(2) -> f
  aux -> a1 -> a2 -> m
  f -> m -> r -> y
  r -> r delay 1
  r -> r delay 2
  y -> r delay 1
  m -> s -> z
  aux -> k -> q -> w
  x -> k_2
  aux -> w
  f -> q
}
"""


def models_of(text: str, name: str = "test.nn"):
    return list(check_spec(parse(text, name)).models.values())


@pytest.fixture(params=SPECS, ids=lambda p: p.stem)
def spec_models(request):
    return list(check_spec(parse_file(request.param)).models.values())


@pytest.fixture(scope="session")
def big_models():
    return models_of(BIG_SPEC, "big.nn")


@pytest.fixture
def spec(request):
    """The checked models of one named spec in specs/ (parametrize indirectly with its stem)."""
    return list(check_spec(parse_file(SPECS[0].parent / f"{request.param}.nn")).models.values())


@pytest.fixture
def svg_of(tmp_path):
    """Draw models as SVG and return the parsed root element."""

    def draw(models, unroll=None, expand=False):
        path = draw_models(models, tmp_path / "model.svg", unroll=unroll, expand=expand)
        return ElementTree.parse(path).getroot()

    return draw
