"""Training: the shared loop and its parts; one module per method (backprop, cd, ...) beside them.

In the order a step uses them: `regularize` (penalties, clipping) -> `optimizers` (in-place
updates) -> `loop` (epochs, schedules, validation, early stopping, checkpoints, outputs).
"""

from nngraph.train.checkpoint import (
    load_checkpoint,
    nest,
    restore_rng,
    rng_state,
    save_checkpoint,
    unnest,
)
from nngraph.train.loop import History, Method, fit, restore, resume
from nngraph.train.optimizers import SGD, Adam, Optimizer, make_optimizer
from nngraph.train.outputs import RunDir, make_run_dir, spec_hash, summarize
from nngraph.train.regularize import add_penalties, clip_by_global_norm, penalty_value
from nngraph.train.schedules import learning_rate
from nngraph.train.stopping import EarlyStopping

__all__ = [
    "SGD",
    "Adam",
    "EarlyStopping",
    "History",
    "Method",
    "Optimizer",
    "RunDir",
    "add_penalties",
    "clip_by_global_norm",
    "fit",
    "learning_rate",
    "load_checkpoint",
    "make_optimizer",
    "make_run_dir",
    "nest",
    "penalty_value",
    "restore",
    "restore_rng",
    "resume",
    "rng_state",
    "save_checkpoint",
    "spec_hash",
    "summarize",
    "unnest",
]
