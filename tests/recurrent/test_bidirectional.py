"""`layer h[H] CELL bidirectional` (issue 18, item 17): a forward and a reverse scan over the same steps, each with
its own parameters (the backward direction's named `.reverse`), the value both states side by side, forward
first, as PyTorch's bidirectional layers."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.compile import compile_model
from nngraph.errors import ErrorList

BI = """model m {
  input x[2] sequence
  layer h[3] CELL bidirectional
  output y[1]
  x -> h -> y
}
"""
ONE = BI.replace(" bidirectional", "")


def _program(text, cell):
    return compile_model(nngraph.loads(text.replace("CELL", cell)).models["m"],
                         backend=get_backend("numpy", "float64"), seed=5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mgu"])
def test_each_direction_is_the_one_way_layer_over_its_order_of_steps(cell):
    both, one = _program(BI, cell), _program(ONE, cell)
    x = np.random.default_rng(0).standard_normal((4, 6, 2))
    assert {n for n in both.params if "reverse" in n} == {"x->h.reverse.weight", "h->h@1.reverse.weight",
                                                          "h.reverse.bias"}
    h = both.forward({"x": x})["h"]
    for name in one.params:
        if name.startswith(("x->h", "h->h", "h.")):
            one.set(name, both.get(name))
    np.testing.assert_allclose(h[..., :3], one.forward({"x": x})["h"], rtol=1e-12)
    for name in one.params:
        if name.startswith(("x->h", "h->h", "h.")):
            head, _, tail = name.rpartition(".")
            one.set(name, both.get(f"{head}.reverse.{tail}"))
    np.testing.assert_allclose(h[..., 3:], one.forward({"x": x[:, ::-1]})["h"][:, ::-1], rtol=1e-12)


def test_an_elman_layer_runs_both_ways_too():
    text = "model m { input x[2] sequence; layer h[3] tanh bidirectional; output y[1]; x -> h -> y\nh -> h delay 1 }"
    program = _program(text, "")
    assert program.forward({"x": np.ones((2, 4, 2))})["h"].shape == (2, 4, 6)


@pytest.mark.parametrize("text, message", [
    (BI.replace("CELL", "tanh"), "bidirectional unit 'h' has no recurrence to run both ways"),
    (BI.replace("CELL", "gru").replace("x -> h -> y", "x -> h -> y\n  y -> h delay 1"),
     "bidirectional unit 'h' must be a loop of its own: y -> h joins it"),
    (BI.replace("CELL", "gru").replace("layer h[3]", "output h[3]"), "a bidirectional unit must be a layer"),
    (BI.replace("CELL", "gru") + "train { data sine; loss mse(y); bptt 4 }", "bptt cannot cut the sequences"),
    (BI.replace("CELL", "gru") + 'train { data npz("d.npz", lengths="n"); loss mse(y) }', "ragged sequences"),
])
def test_what_a_bidirectional_layer_cannot_do_is_refused_by_the_check(text, message):
    with pytest.raises(ErrorList, match=message):
        nngraph.loads(text)


def test_inspect_counts_both_directions():
    model = nngraph.loads(BI.replace("CELL", "lstm")).models["m"]
    from nngraph.graph.shapes import total_parameters

    assert model.shapes["h"] == (6,)
    assert total_parameters(model) == 2 * (2 * 12 + 3 * 12 + 12) + 6 + 1


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_both_directions_run_the_fused_kernels_and_agree_with_the_generic_scan(cell):
    """The kernels read steps first to last: the backward direction hands them its steps reversed."""
    checked = nngraph.loads(BI.replace("CELL", cell) + "train { data sine; loss mse(y) }")
    programs = [compile_model(checked.models["m"], checked.train().loss, get_backend("numpy", "float32"), seed=5)
                for _ in range(2)]
    scans = [ins for ins in programs[0].train_plan.instrs if ins.op.name == "scan"]
    assert [ins.attrs["body"].reverse for ins in scans] == [False, True]
    assert all(ins.attrs["body"].pattern is not None for ins in scans)
    for plan in (programs[1].train_plan, programs[1].eval_plan):
        for ins in plan.instrs:
            ins.attrs.pop("fused", None)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 7, 2)).astype(np.float32), rng.standard_normal((35, 1)).astype(np.float32)
    fused, generic = (p.loss_and_grads({"x": x}, y) for p in programs)
    assert all(np.abs(g).sum() > 0 for g in fused[2].values())
    for name in fused[2]:
        np.testing.assert_allclose(fused[2][name], generic[2][name], rtol=2e-4, atol=1e-5, err_msg=name)
