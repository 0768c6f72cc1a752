"""The words of the language, in one place, so checks and docs agree on them."""

from nngraph.spec.options import Option

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
# a sample unit's prior p(z) (`prior=mixture(50)`) -> options and defaults: N(0, I), or an equal-weight mixture
# of `components` diagonal Gaussians whose means and log-variances are learned (kl(z) then has no closed form)
PRIORS = {"normal": {}, "mixture": {"components": None}}

# unit flags other than activations / cells / kinds; unit settings (name=value) and their checks
UNIT_FLAGS = ("sequence", "nobias", "bidirectional")
UNIT_SETTINGS = ("dropout", "repeat", "max_length", "bias", "initial", "prior")
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
    # upsampling (super-resolution, decoders): interpolation without weights; a transposed convolution (the
    # adjoint of conv: each input pixel scatters a kernel, [C, H, W] -> [filters, (H - 1) stride - 2 padding
    # + kernel, ...]); ESPCN's sub-pixel step, [C r^2, H, W] -> [C, H r, W r] after a conv to C r^2 filters
    "upsample": {"factor": 2, "mode": "nearest"},
    "deconv": {"filters": None, "kernel": None, "stride": 1, "padding": 0},
    "pixelshuffle": {"factor": 2},
    # ProGAN's minibatch standard deviation (ops/minibatch.py), in a gan's discriminator only: the source's
    # values plus one more, the mean spread of each group of `group` consecutive examples; no weights
    "minibatch_std": {"group": 4},
    # a dense link masked as MADE's (Germain et al. 2015, ops/dense.py autoregressive_dense): output value i reads
    # only source values j < i in flattened order; both ends hold as many values. The decoder of an
    # autoregressive VAE reads the data through it; alone it is a fully visible sigmoid belief net
    "autoregressive": {},
}
UPSAMPLE_MODES = ("nearest", "bilinear", "bicubic")

# ---- training -------------------------------------------------------------------------
# Optimizers and schedules with their options: types, defaults and ranges, which `check` enforces (a
# method's options are declared beside its fit check, in graph/methods.py).

OPTIMIZERS = {
    "sgd": {"lr": Option("float", 0.01, above=0), "momentum": Option("float", 0.0, minimum=0, below=1),
            "nesterov": Option("bool", False)},
    "adam": {"lr": Option("float", 1e-3, above=0), "beta1": Option("float", 0.9, minimum=0, below=1),
             "beta2": Option("float", 0.999, minimum=0, below=1), "eps": Option("float", 1e-8, minimum=0)},
}
SCHEDULES = {
    "constant": {},
    "step": {"every": Option("int", 10, minimum=1), "gamma": Option("float", 0.1, above=0)},
    "cosine": {"warmup": Option("int", 0, minimum=0), "min_lr": Option("float", 0.0)},
    "linear": {"min_lr": Option("float", 0.0)},  # stable-baselines3's `lin_`: down to min_lr at the end
}
LOSSES = {
    "mse": 1,  # number of unit arguments (a second, optional argument names the target unit)
    "bce": 1,
    "cross_entropy": 1,
    "kl": 1,
}
# A training step's figures are averaged over the epoch's steps as the parameters move (dropout on): their
# names end in RUNNING ("loss_running") in metrics.jsonl, so that "loss" always means a whole split measured
# in eval mode, as `nngraph eval` measures it ("val_loss"; summary.json's "train").
RUNNING = "_running"
MONITORS = ("val_loss", "val_accuracy", "loss" + RUNNING, "accuracy" + RUNNING)

# train settings: name -> a description used in errors; the checks live in graph/training.py
TRAIN_SETTINGS = (
    "model", "data", "loss", "method", "optimizer", "schedule", "batch", "epochs", "l1", "l2",
    "early_stopping", "clip", "validation", "test", "seed", "checkpoint", "bptt", "dtype",
    "env", "gamma", "steps",  # reinforcement learning: the environment is the data, steps are its steps
    "augment",
)

# `augment shift=2 rotate=10 noise=0.05`: each training image's random transform (data/augment.py), drawn anew
# every step; 0 leaves that transform out
AUGMENT_OPTIONS = {
    "shift": Option("int", 0, minimum=0),  # whole pixels, uniform in [-shift, shift] along each axis
    "rotate": Option("float", 0.0, minimum=0, maximum=180),  # degrees, uniform in [-rotate, rotate]
    "noise": Option("float", 0.0, minimum=0),  # the standard deviation of Gaussian noise added to each pixel
}

# ---- reinforcement learning -------------------------------------------------------------------
# `env NAME(options)`: short names of gymnasium's classic-control environments; `env gym("ID", ...)` takes
# any registered id. The options are every environment's (graph/envs.py binds them).
ENVIRONMENTS = {
    "cartpole": "CartPole-v1",
    "acrobot": "Acrobot-v1",
    "mountaincar": "MountainCar-v0",
    "mountaincar_continuous": "MountainCarContinuous-v0",
    "pendulum": "Pendulum-v1",
}
ENV_OPTIONS = {
    "n": Option("int", 1, minimum=1, maximum=1024),  # copies stepped together (a sync vector env)
    "normalize_obs": Option("bool", False),  # running mean and std of the observations
    "normalize_reward": Option("bool", False),  # rewards over the running std of the discounted return
    "clip_obs": Option("float", 10.0, above=0),  # normalised observations are clipped to +-clip_obs
    # of the deterministic evaluation (summary.json, `nngraph eval`); at most MAX_EPISODES
    "episodes": Option("int", 100, minimum=1, maximum=10_000),
}
# episodes one evaluation (or `sample` of an agent) plays: ~12 us a copy's step (mountaincar, 8 copies: 200 episodes
# of 200 steps in 0.5 s), so 10,000 episodes of 500 steps (CartPole's, Acrobot's limit) are about a minute;
# episodes=1000000000 evaluated at the end of training for ever
MAX_EPISODES = ENV_OPTIONS["episodes"].maximum
