"""nngraph against an independent PyTorch twin written from docs/language.md.

Random small specs are generated from the documented constructs, compiled by nngraph (the Python API, in
float64) and computed again by a twin that follows the documentation's formulas with torch (F.conv2d,
F.max_pool2d, ... where the documentation names PyTorch's convention; the formula by hand where it gives its
own, e.g. bicubic's a = -0.5 or GRU's `b_hn` = 0). Parameters are nngraph's, copied into torch by name. Compared:
every unit's forward value (eval and training mode; dropout masks and a VAE's eps are drawn once and handed
to both), the loss, every parameter gradient, running statistics, and the parameters after three steps of
penalties (l1, l2), clipping and the optimizer (sgd with momentum/nesterov, adam). Specs reach odd sizes (1-unit
layers, a batch of one row, sequences of one step), every loss with every target form section 7 allows, and
stacks and blocks (`repeat=`, `use`, ports), written with that syntax and expanded for the twin. The `fit` and
`bptt_fit` families run `nngraph.fit` on an npz file (one full batch an epoch, or shuffled minibatches with a
last partial one; with `bptt` windows) and compare the checkpoint's parameters with the twin's own epochs; `fit`
also splits off validation and test rows by section 7's rule, stops early (every monitor, patience, min_delta,
the best epoch's parameters and running statistics restored), and compares every record of metrics.jsonl (the
running figures, each step weighted by its rows, and the validation figures) and summary.json's figures of
every split (loss, each term, accuracy, mse, label and exact-match accuracy, each label's). The method families drive `method vae`, `gan`, `cd`, `pcd` and `boltzmann` step by
step as the training loop does (the schedule's rate at each epoch's start, one full batch a step), and `dbn`'s
pretraining through the loop itself, with a generator that hands nngraph numbers and keeps them, and give the
twin those draws in the order the documentation gives (eps, G's noise, instance noise, the Gibbs samplers'
uniform draws, sweep orders, epochs' row orders); they compare each step's metrics and the parameters after the
last step.

Families (`--only`): feedforward, optimizer, blocks (repeat= and blocks), combos (weighted terms on several
outputs, a loss on a hidden unit, tied + identity + dense links into one unit, a tied weight read through
dropout; with the optimizer lines), tied, vae, recurrent, conv_loop, gan
(minibatch_std), schedule, fit, bptt_fit, init (initial parameters against section 2's distributions), vae_steps, gan_steps, rbm_steps (cd and pcd), boltzmann_steps
(general machines: annealing, sweep orders, mean field, noisy clamping, persistent chains), dbn_steps (greedy
pretraining, labels, then fine-tuning), augment (its changed images: float32 data, so compared to 1e-5 whatever
`--tol`), rl_steps (section 16's ppo, a2c and reinforce losses and their gradients on a random rollout
minibatch, discrete and gaussian policies; dqn's step on random transitions, double or not)), rl_rollouts (one or two whole updates of ppo, a2c, reinforce and dqn against a scripted environment side:
the rollout's arrays with GAE and time limits, ppo's epochs and minibatches, dqn's epsilon, replay ring and
target copies; the record's metrics and the parameters after), sampling (a character model's `sample` at a
temperature, the uniform numbers of its seed), vae_inference (the importance-sampled likelihood, refined
posteriors, the ELBO under them, `--fill` rounds; nngraph's generators caught as they are made), init_draws
(Boltzmann weights and a mixture prior's means against their stated normals by statistics on large draws; its
figure is each statistic over its threshold, so it passes at 1 whatever `--tol`), boltzmann_fill (`sample
--fill` of restricted and general machines: groups by mask, clamped sweeps, its draws handed over), gan_fill (a GAN's
`sample --fill`: Adam on 4 noise starts per example, the best kept), sequence_fill (a next-step model's
`sample --fill`: its predictions fed into the gaps), boltzmann_sample (free-running `sample` of restricted and general
machines), dbn_sample (a DBN's top-down `sample`, `--label`), ar_vae (an autoregressive VAE's `sample` and
`--fill`, values drawn in order). `--dtype float32` runs nngraph in float32 (its compiled kernels) against the float64 twin;
give it `--tol 1e-4`. Measured: docs/performance.md, "The same numbers as an independent twin".

What is compared, construct by construct, and what is not: COVERAGE.md beside this file.

Usage: python benchmarks/twin_check.py (or python -m benchmarks.twin) [--cases N] [--seed S] [--only FAMILY]
       [--tol 1e-9] [--dtype float32]
Prints per construct: cases, mismatches, the worst relative difference, and the spec of the smallest failing
case of each construct. Needs torch (`pip install torch==2.13.0`); nngraph itself never imports it.

Modules: net (a model rendered as .nn text), generate (random specs), formulas and torch_twin (the twin),
compare (feedforward comparisons and optimizer steps), recurrent, discriminator, whole_runs (`nngraph.fit` runs
and schedules), records (a run's splits, metrics, running figures and early stopping, from section 7), initial, stepping (a method driven step by step, the draws handed over), vae_steps, gan_steps,
rbm_steps, boltzmann_steps, dbn_steps, augment, rl_steps, rl_rollouts, sampling, vae_inference, initial_draws, boltzmann_fill, gan_fill, sequence_fill, dbn_sample, ar_vae, run (the command line).
"""
