"""`convert` keeps comments: a .nn spec's become YAML comments where they were, a YAML spec's become .nn
comments; over every spec in specs/ and over random specs with comments sprinkled in."""

import random
from pathlib import Path

import pytest

from nngraph.spec.format import format_commented
from nngraph.spec.parser import parse_commented
from nngraph.spec.yaml_surface import parse_yaml_commented, to_yaml, yaml_comments
from tests.property.random_specs import random_spec
from tests.spec.test_fmt import sprinkled

SPECS = Path(__file__).resolve().parents[2] / "specs"


def texts(comments):
    return [c.text for c in comments]


def assert_round_trip_keeps_comments(nn_text: str) -> None:
    spec, comments = parse_commented(nn_text)
    yaml_text = to_yaml(spec, comments)
    from_yaml, yaml_found = parse_yaml_commented(yaml_text, "c.yaml")
    assert from_yaml == spec
    assert texts(yaml_found) == texts(comments)
    back, back_comments = parse_commented(format_commented(from_yaml, yaml_found))
    assert back == spec and texts(back_comments) == texts(comments)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.nn")), ids=lambda p: p.name)
def test_every_example_spec_keeps_its_comments_through_yaml_and_back(path):
    assert_round_trip_keeps_comments(path.read_text())


@pytest.mark.parametrize("seed", range(25))
def test_random_specs_keep_their_comments_through_yaml_and_back(seed):
    assert_round_trip_keeps_comments(sprinkled(random_spec(seed), random.Random(seed)))


def test_comments_sit_beside_their_statements_in_yaml():
    text = ("# a model\nmodel m {  # the header\n  input x[2]  # in\n  # before y\n  output y[1] sigmoid\n"
            "  x -> y\n  # closing\n}\ntrain {\n  model m  # which\n  data xor\n  loss bce(y)\n}\n# the end\n")
    assert to_yaml(*parse_commented(text)) == (
        "# a model\nmodel m:  # the header\n  units:\n    - input x[2]  # in\n    # before y\n"
        "    - output y[1] sigmoid\n  connections:\n    - x -> y\n    # closing\n\n"
        "train:\n  model: m  # which\n  data: xor\n  loss: bce(y)\n\n# the end\n")


def test_yaml_comments_are_found_where_yaml_has_them_and_nowhere_else():
    text = ('# top\nmodel m:  # key\n  units:\n    - "input x[2]"  # after a quoted scalar\n'
            '    - output y[1] "#x"\n  note: |\n    # text of a block scalar\n  # indented\n')
    assert [(c.line, c.column, c.text) for c in yaml_comments(text)] == [
        (1, 1, "# top"), (2, 11, "# key"), (4, 21, "# after a quoted scalar"), (8, 3, "# indented")]
