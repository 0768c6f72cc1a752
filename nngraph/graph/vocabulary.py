"""The words of the language, in one place, so checks and docs agree on them."""

ROLES = ("input", "output", "layer", "visible", "hidden", "noise", "sample")

# activation name -> its keyword parameters and their defaults
ACTIVATIONS = {
    "identity": {},
    "linear": {},  # alias of identity, as Keras spells it
    "sigmoid": {},
    "tanh": {},
    "relu": {},
    "leaky_relu": {"slope": 0.01},
    "elu": {"alpha": 1.0},
    "softplus": {},
    "softmax": {},
}
# gated recurrent cells -> how many blocks of H columns their net input has (one per gate). Every cell but the
# LSTM (which keeps a cell state c) reads its own recurrence as h_(t-1) @ U beside its net input and is one op,
# `NAME_gates(x_proj, h_prev @ U, h_prev) -> h` (ops/recurrent.py): a new cell of that kind is that op and a
# word here.
CELLS = {"lstm": 4, "gru": 3, "mgu": 2}
# normalisation of a unit's net input, before its activation -> options and defaults (PyTorch's)
NORMS = {"batchnorm": {"momentum": 0.1, "eps": 1e-5}, "layernorm": {"eps": 1e-5}}
STOCHASTIC = ("bernoulli", "gaussian")
NOISE_DISTRIBUTIONS = ("normal", "uniform")
SAMPLERS = ("normal",)

# unit flags other than activations / cells / kinds; unit settings (name=value) and their checks
UNIT_FLAGS = ("sequence", "nobias", "bidirectional")
UNIT_SETTINGS = ("dropout", "repeat", "max_length", "bias", "initial")
INITIAL_STATES = ("zeros", "learned")  # initial=: a loop unit's state before the first step

# edge kinds and their options with defaults; positional arguments fill options in this order
EDGE_KINDS = {
    "dense": {},
    "identity": {},  # adds its source unchanged, without weights (a residual link); shapes must be equal
    # a dense link through the transpose of another dense link's weight (`h -> r tied(x, h)`: W_xh^T), no weight
    # of its own; the gradients of both uses add up in the one parameter
    "tied": {"source": None, "target": None},
    "conv": {"filters": None, "kernel": None, "stride": 1, "padding": 0},
    "maxpool": {"kernel": 2, "stride": None, "padding": 0},
    "avgpool": {"kernel": 2, "stride": None, "padding": 0},
}

# ---- training -------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}
SCHEDULES = {
    "constant": {},
    "step": {"every": 10, "gamma": 0.1},
    "cosine": {"warmup": 0, "min_lr": 0.0},
}
METHODS = {
    "backprop": {},
    "cd": {"k": 1},
    "pcd": {"k": 1, "chains": 100},
    "boltzmann": {
        "anneal": None,  # list of [temperature, sweeps]; None: sample at temperature 1
        "sweeps": 10,
        "order": "random",  # random | sequential | parallel
        "mean_field": False,
        "noisy_clamp": 0.0,
        "chains": 0,  # > 0: persistent negative chains
    },
    "vae": {"samples": 1, "warmup": 0},
    # g_optimizer / d_optimizer: an optimizer call for that model alone; None: the train block's.
    # pack: the discriminator judges `pack` examples at once, concatenated (PacGAN, Lin et al. 2018)
    "gan": {"generator": None, "discriminator": None, "k": 1, "pack": 1, "g_optimizer": None,
            "d_optimizer": None},
}
LOSSES = {
    "mse": 1,  # number of unit arguments (a second, optional argument names the target unit)
    "bce": 1,
    "cross_entropy": 1,
    "kl": 1,
}
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")

# train settings: name -> a description used in errors; the checks live in graph/training.py
TRAIN_SETTINGS = (
    "model", "data", "loss", "method", "optimizer", "schedule", "batch", "epochs", "l1", "l2",
    "early_stopping", "clip", "validation", "test", "seed", "checkpoint", "bptt", "dtype",
)
