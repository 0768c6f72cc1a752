"""Training: the shared loop and its parts; one module per method (registered in nngraph/graph/methods.py).

A method (`method.Method`: backprop, rbm, boltzmann, vae, gan) computes gradients and hands them to its one
update step: `regularize` (penalties, clipping) -> `optimizers` (in-place updates). `loop` runs it over
epochs (schedules, validation, early stopping, checkpoints, outputs).
"""
