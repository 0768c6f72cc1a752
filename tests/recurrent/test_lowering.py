"""The recurrent lowering: loops become scans, the rest time-parallel ops; names, refusals."""

from pathlib import Path

import nngraph
from nngraph.compile import lower_model

SPECS = Path(__file__).resolve().parents[2] / "specs"


def plan_of(name):
    checked = nngraph.load(SPECS / name)
    return lower_model(checked.models[checked.train().model], checked.train().loss)


def scans(plan):
    return [i for i in plan.instrs if i.op.name == "scan"]


def test_only_the_recurrent_units_loop():
    plan = plan_of("sine_elman.nn")
    (scan,) = scans(plan)
    body = scan.attrs["body"]
    assert scan.output == ("h",) and [c.name for c in body.carries] == ["h"]
    assert [i.inputs[0] for i in body.prologue] == ["x"]  # the input projection: all steps at once
    assert [i.op.name for i in plan.instrs[plan.instrs.index(scan) + 1:plan.body]] == ["dense"]  # y, outside


def test_feedback_between_groups_makes_one_loop():
    plan = plan_of("stacked_elman.nn")
    (scan,) = scans(plan)
    assert scan.output == ("h1", "h2")
    assert [(s.unit, s.blocks) for s in plan.initial] == [("h1", 1), ("h2", 1)]


def test_parameters_are_named_as_in_feedforward_models():
    assert set(plan_of("adding_lstm.nn").params) == {"x->h.weight", "h->h@1.weight", "h.bias", "h->y.weight",
                                                     "y.bias"}
    shapes = {n: p.shape for n, p in plan_of("char_rnn.nn").params.items()}
    assert shapes["x->h1.weight"] == (64, 384) and shapes["h1->h1@1.weight"] == (128, 384)


def test_dropout_inside_a_loop_draws_one_mask_per_sequence():
    checked = nngraph.loads("model m { input x[2] sequence; layer h[4] tanh dropout=0.5; output y[1]\n"
                            "x -> h -> y; h -> h delay 1 }\ntrain { data sine; loss mse(y) }")
    plan = lower_model(checked.models["m"], checked.train().loss)
    assert [(r.slot, r.per_sequence) for r in plan.random] == [("random:h.dropout", True)]
    assert "dropout" in [i.op.name for i in scans(plan)[0].attrs["body"].step]
