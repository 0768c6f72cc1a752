"""nngraph vs PyTorch (CPU) on the generative methods' training steps, in one run; prints medians and ratios.

    pip install torch==2.13.0      # the CPU build on this machine's disk; not a project dependency
    python benchmarks/generative_vs_torch.py [--repeats 5] [--threads 1,2] [--only vae,gan]

Cases, the networks of specs/vae_digits.nn and specs/gan_digits.nn on random 8x8 binary images, batch 64:
- vae: encoder 64-512 (relu, dropout 0.3) to an 8-D Gaussian (mean and log-variance layers), one reparameterised
  draw, decoder 8-512-64 (relu, sigmoid); loss bce summed over pixels + KL, mean over the batch; Adam.
- gan: generator 32-256-256-64 (relu, sigmoid), discriminator 64-256-1 (leaky relu 0.2, dropout 0.3, sigmoid);
  one step = the discriminator on the real batch and as many generated points in one pass, then the generator
  on a fresh noise batch (non-saturating loss); Adam (2e-4, beta1 0.5) for each.
Both sides use the same thread count; samples/s is the batch over a whole step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python benchmarks/NAME.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pairing import paired_rates  # noqa: E402 (after the path set-up)

BATCH = 64
VAE = """
model vae {
  input  x[64]
  layer  e[512] relu dropout=0.3
  layer  mu[8] identity
  layer  logvar[8] identity
  sample z ~ normal(mu, logvar)
  layer  d[512] relu
  output x_hat[64] sigmoid
  x -> e; e -> mu; e -> logvar; z -> d -> x_hat
}
train { model vae; data digits(binarize=0.5); method vae(samples=1, warmup=0); loss bce(x_hat, x) + kl(z)
        optimizer adam(lr=3e-3); batch 64 }
"""
GAN = (Path(__file__).resolve().parents[1] / "specs" / "gan_digits.nn").read_text()


def nngraph_stepper(kind: str, x: np.ndarray):
    import nngraph
    from nngraph.backend import get_backend
    from nngraph.data.dataset import unsupervised
    from nngraph.session import build_method
    from nngraph.train.loop import run_train_step

    checked = nngraph.loads(VAE if kind == "vae" else GAN)
    method = build_method(checked, checked.train(), get_backend("numpy"))
    batch, rng = unsupervised(x, "random"), np.random.default_rng(0)
    return lambda: run_train_step(method, batch, rng)


def torch_stepper(kind: str, x: np.ndarray):
    import torch
    from torch import nn
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    torch.manual_seed(0)
    xt = torch.from_numpy(x)
    if kind == "vae":
        encoder = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Dropout(0.3))
        mu, logvar = nn.Linear(512, 8), nn.Linear(512, 8)
        decoder = nn.Sequential(nn.Linear(8, 512), nn.ReLU(), nn.Linear(512, 64))
        parts = (encoder, mu, logvar, decoder)
        opt = torch.optim.Adam([p for m in parts for p in m.parameters()], lr=3e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            e = encoder(xt)
            m, lv = mu(e), logvar(e)
            z = m + torch.exp(0.5 * lv) * torch.randn_like(m)
            recon = bce(decoder(z), xt, reduction="sum") / len(xt)
            kl = -0.5 * torch.sum(1 + lv - m * m - torch.exp(lv)) / len(xt)
            (recon + kl).backward()
            opt.step()
        return step

    gen = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64),
                        nn.Sigmoid())
    disc = nn.Sequential(nn.Linear(64, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(256, 1))
    g_opt, d_opt = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for m in (gen, disc))
    targets = torch.cat([torch.ones(len(xt), 1), torch.zeros(len(xt), 1)])

    def step():
        d_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = gen(torch.randn(len(xt), 32))
        bce(disc(torch.cat([xt, fake])), targets).backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        bce(disc(gen(torch.randn(len(xt), 32))), targets[:len(xt)]).backward()
        g_opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--only", default="vae,gan")
    args = parser.parse_args()
    import torch
    from nngraph.backend.threads import compute_threads

    x = (np.random.default_rng(0).random((BATCH, 64)) < 0.5).astype(np.float32)
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        with compute_threads(threads):
            for kind in args.only.split(","):
                ours, theirs, ratio = paired_rates(nngraph_stepper(kind, x), torch_stepper(kind, x), args.steps,
                                                   args.repeats)
                print(f"{kind} batch {BATCH}, {threads} thread(s): nngraph {ours * BATCH:,.0f} samples/s, "
                      f"torch {theirs * BATCH:,.0f}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
