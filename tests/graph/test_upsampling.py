"""Upsampling links: the shapes they deliver, their parameters, and refusals at the link."""

import pytest

from nngraph.errors import ShapeError, ValidationError
from nngraph.graph.shapes import total_parameters, unit_bias, unit_parameters

from .helpers import check, the_only_error


def model(*lines: str, source: str = "x[2, 4, 5]") -> str:
    body = "\n".join(f"  {line}" for line in lines)
    return f"model m {{\n  input {source}\n{body}\n}}\n"


@pytest.mark.parametrize("link, shape", [
    ("upsample", (2, 8, 10)),
    ("upsample(3)", (2, 12, 15)),
    ("upsample(factor=[1, 2], mode=bilinear)", (2, 4, 10)),
    ("upsample(2, bicubic)", (2, 8, 10)),
    ("deconv(filters=3, kernel=4, stride=2, padding=1)", (3, 8, 10)),
    ("deconv(filters=1, kernel=[3, 1], stride=[1, 2])", (1, 6, 9)),
    ("deconv(filters=5, kernel=3, padding=same)", (5, 4, 5)),
])
def test_upsampling_shapes(link, shape):
    graph = check(model("layer u", f"x -> u {link}")).models["m"]
    assert graph.shapes["u"] == shape


def test_pixel_shuffle_trades_channels_for_size():
    graph = check(model("layer u", "x -> u pixelshuffle(2)", source="x[8, 3, 4]")).models["m"]
    assert graph.shapes["u"] == (2, 6, 8)


def test_deconv_takes_its_filters_from_a_declared_target():
    graph = check(model("layer u[6, 9, 11] relu", "x -> u deconv(kernel=3, stride=2)")).models["m"]
    assert graph.shapes["u"] == (6, 9, 11)


def test_a_deconv_has_a_kernel_per_channel_pair_and_a_bias_per_filter():
    graph = check(model("layer u relu", "layer v", "x -> u deconv(filters=3, kernel=4, stride=2, padding=1)",
                        "u -> v upsample(2)")).models["m"]
    assert unit_bias(graph, "u") == (3, True)
    assert unit_parameters(graph, "u") == 2 * 3 * 4 * 4 + 3
    assert unit_parameters(graph, "v") == 0  # interpolation has no weights, so no bias either
    assert total_parameters(graph) == 2 * 3 * 4 * 4 + 3


@pytest.mark.parametrize("link, message, hint", [
    ("upsample(2, mode=bilinar)", "upsample mode .bilinar. is not one of nearest, bilinear, bicubic", "bilinear"),
    ("upsample(factor=0)", "upsample factor must be at least 1", None),
    ("pixelshuffle(2)", r"pixelshuffle\(2\) needs channels in multiples of 4; 'x' has 2", "conv"),
    ("pixelshuffle([2, 1])", "pixelshuffle factor: expected a whole number", None),
    ("deconv(filters=3)", "deconv needs a kernel size", "kernel=4"),
    ("deconv(kernel=3)", "deconv needs filters=N", "declare"),
    ("deconv(filters=2, kernel=1, padding=1)", "leaves no output", "less padding"),
])
def test_bad_upsampling_links_are_refused_at_the_link(link, message, hint):
    text = model("layer u", f"x -> u {link}", source="x[2, 1, 1]" if "padding=1" in link else "x[2, 4, 5]")
    the_only_error(text, message, 4, 5, hint, kind=ShapeError)


def test_upsampling_needs_an_image():
    the_only_error(model("layer u", "x -> u upsample(2)", source="x[6]"),
                   r"upsample needs a \[channels, height, width\] input", 4, 5, "declare it as an image",
                   kind=ShapeError)


def test_an_unknown_upsampling_option_is_named():
    the_only_error(model("layer u", "x -> u upsample(scale=2)"), "connection 'upsample' has no option 'scale'",
                   4, 19, kind=ValidationError)


@pytest.mark.parametrize("link", ["deconv(filters=2, kernel=3, stride=0)", "conv(filters=2, kernel=3, stride=0)",
                                  "maxpool(kernel=2, stride=0)"])
def test_a_stride_of_zero_is_refused_not_read_as_the_kernel(link):
    the_only_error(model("layer u", f"x -> u {link}"), "kernel and stride must be >= 1", 4, 5, kind=ShapeError)
