"""Backprop through time against central finite differences in float64, on every backend."""

import numpy as np
import pytest

from tests.recurrent.helpers import assert_gradients_match, batch, grads_of, loss_of, output, program, rows, run

ELMAN = ("layer h[4] tanh\n output y[2] identity", "x -> h\n h -> h delay 1\n h -> y")
CASES = {
    "elman": ELMAN,
    "lstm": ("layer h[4] lstm\n output y[2] identity", "x -> h -> y"),
    "gru": ("layer h[4] gru\n output y[2] identity", "x -> h -> y"),
    "mgu": ("layer h[4] mgu\n output y[2] identity", "x -> h -> y"),
    "delay2_and_feedback": ("layer h[4] tanh\n output y[2] identity",
                            "x -> h\n h -> h delay 2\n h -> y\n y -> h delay 1"),
    "stacked_cells_top_down": ("layer h1[3] gru\n layer g[3] tanh\n layer h2[3] lstm\n output y[2] identity",
                               "x -> h1 -> g -> h2 -> y\n h2 -> h1 delay 1\n x -> y delay 2"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_sequence_gradients(case, backend_name):
    units, connections = CASES[case]
    x, y = batch()
    assert_gradients_match(program(units, connections, backend_name=backend_name), x, rows(y))


def test_softmax_cross_entropy_per_step(backend_name):
    prog = program("layer h[4] tanh\n output y[3] softmax", "x -> h\n h -> h delay 1\n h -> y",
                   "cross_entropy(y)", backend_name)
    x, y = batch(labels=True, width=3)
    assert_gradients_match(prog, x, rows(y))


def test_masks_per_step_and_last_valid_step(backend_name):
    prog = program(*ELMAN, backend_name=backend_name)
    x, y = batch()
    lengths = np.array([5, 2, 4])
    assert_gradients_match(prog, x, rows(y, lengths))
    x, y_final = batch(per_step=False)
    assert_gradients_match(prog, x, rows(y_final, lengths, per_step=False, steps=5))


def test_padded_steps_contribute_nothing():
    prog = program(*ELMAN)
    x, y = batch()
    lengths = np.array([5, 2, 4])
    noisy = x.copy()
    noisy[1, 2:] += 100.0  # beyond sequence 1's length
    noisy[2, 4:] -= 50.0
    clean = grads_of(prog, x, rows(y, lengths))
    padded = grads_of(prog, noisy, rows(y, lengths))
    for name in clean:
        np.testing.assert_allclose(padded[name], clean[name], err_msg=name)


def test_truncated_window_gradients_from_a_carried_state(backend_name):
    """A window of truncated BPTT: its state comes from the previous window and is a constant."""
    prog = program(*CASES["lstm"], backend_name=backend_name)
    x, y = batch(steps=6)
    state = prog.final_state(run(prog, x[:, :3]), 3)
    window = rows(y, start=3, steps=3, total=6)
    assert_gradients_match(prog, x[:, 3:], window, state)


def test_windows_carry_the_state_exactly():
    prog = program(*CASES["delay2_and_feedback"])
    x, _ = batch(steps=7)
    whole = output(prog, run(prog, x), "y", 3)
    state, parts = None, []
    for start in (0, 3, 5):
        values = run(prog, x[:, start:start + (3 if start == 0 else 2)], state)
        parts.append(output(prog, values, "y", 3))
        state = prog.final_state(values, 3)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-12)


def test_learned_initial_state_gradients(backend_name):
    prog = program("layer h[4] lstm\n output y[2] identity", "x -> h -> y", backend_name=backend_name,
                   learn_initial=True)
    assert {"h.initial", "h.initial_cell"} <= set(prog.params)
    prog.set("h.initial", np.linspace(-0.5, 0.5, 4))
    x, y = batch()
    assert_gradients_match(prog, x, rows(y))


def test_a_last_step_classifier_runs_and_backprops_at_the_loss_rows_only(backend_name):
    """Read once per sequence through its logits, the output layer is computed at each sequence's last
    valid step only (and its gradient stays there); loss and gradients as with the full forward pass,
    which the finite differences use."""
    prog = program("layer h[4] lstm\n output y[3] softmax", "x -> h -> y", "cross_entropy(y)", backend_name)
    x, labels = batch(per_step=False, labels=True, width=3)
    targets = rows(labels, np.array([5, 3, 4]), per_step=False, steps=5)
    loss, _, _, values = prog.loss_and_grads({"x": x}, targets.data, rows=targets.rows)
    assert prog.train_plan.at_rows == {"y"} and values[prog.train_plan.slot("y:z")].shape == (3, 3)
    full = run(prog, x)
    assert full[prog.train_plan.slot("y:z")].shape == (15, 3)
    picked = full[prog.train_plan.slot("y:z")][targets.rows]
    log_p = picked - np.log(np.exp(picked).sum(axis=1, keepdims=True))
    assert np.isclose(loss, -log_p[np.arange(3), targets.data].mean(), rtol=1e-12)
    assert_gradients_match(prog, x, targets)
