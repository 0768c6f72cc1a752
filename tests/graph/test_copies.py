"""`UnitSpec.repeat`: which `repeat=` copies a unit is part of, recorded where stacks are expanded."""

import dataclasses

from nngraph.graph.check import check_spec
from nngraph.spec.load import convert, load_spec_text

from .helpers import check

SPEC = """
block blk(w) {
  input  in
  layer  a[w] relu repeat=2
  layer  b[w] tanh
  in -> a -> b
}
model m {
  input  x[4]
  layer  h[4] relu repeat=3
  use    r = blk(4) repeat=2
  use    s = blk(4)
  output y[1]
  x -> h -> r -> s -> y
}
"""


def copies(checked):
    return {u.name: u.repeat for u in checked.models["m"].units}


def test_each_copy_knows_its_stacks_outermost_first():
    assert copies(check(SPEC)) == {
        "x": (),
        "h_1": (("h", 1, 3),),
        "h_2": (("h", 2, 3),),
        "h_3": (("h", 3, 3),),
        "r_1.in": (("r", 1, 2),),
        "r_1.a_1": (("r", 1, 2), ("r_1.a", 1, 2)),
        "r_1.a_2": (("r", 1, 2), ("r_1.a", 2, 2)),
        "r_1.b": (("r", 1, 2),),
        "r_2.in": (("r", 2, 2),),
        "r_2.a_1": (("r", 2, 2), ("r_2.a", 1, 2)),
        "r_2.a_2": (("r", 2, 2), ("r_2.a", 2, 2)),
        "r_2.b": (("r", 2, 2),),
        "s.in": (),
        "s.a_1": (("s.a", 1, 2),),
        "s.a_2": (("s.a", 2, 2),),
        "s.b": (),
        "y": (),
    }


def test_where_a_unit_came_from_is_not_part_of_what_it_is():
    unit = check(SPEC).models["m"].unit("h_2")
    plain = dataclasses.replace(unit, repeat=())
    assert unit == plain and hash(unit) == hash(plain)


def test_the_yaml_surface_records_the_same_copies():
    yaml = convert(load_spec_text(SPEC, "t.nn"), "yaml")
    assert copies(check_spec(load_spec_text(yaml, "t.yaml"))) == copies(check(SPEC))
