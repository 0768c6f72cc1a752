"""Op-level timings of convolution and pooling on LeNet-5's shapes (batch 64), forward and vjp apart.

    python benchmarks/conv_ops.py [--threads 1] [--repeats 7] [--torch]
    NNGRAPH_KERNELS=0 python benchmarks/conv_ops.py ...    # the numpy twins instead of the compiled kernels

Each figure is the best of `repeats` runs of a short loop, in microseconds per call: on a shared machine
the minimum is the figure least disturbed by other work. `--torch` adds the matching torch ops (forward,
and forward + backward) at the same thread count, for scale.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nngraph.ops import get_op

# (label, op, input shapes, attrs): LeNet-5 on 1x28x28, batch 64
CASES = [
    ("conv1 1->6 5x5 (data input)", "conv2d", [(64, 1, 28, 28), (6, 1, 5, 5), (6,)], {"needs_input_grad": False}),
    ("pool1 6@24x24 max 2", "maxpool2d", [(64, 6, 24, 24)], {"kernel": 2}),
    ("conv2 6->16 5x5", "conv2d", [(64, 6, 12, 12), (16, 6, 5, 5), (16,)], {}),
    ("pool2 16@8x8 max 2", "maxpool2d", [(64, 16, 8, 8)], {"kernel": 2}),
    ("avgpool 16@8x8 2", "avgpool2d", [(64, 16, 8, 8)], {"kernel": 2}),
    # a convolution with its relu as one op (compile/fuse.py's for_host) against the two apart: conv + relu
    ("conv1 + relu, rectified", "conv2d_rectified", [(64, 1, 28, 28), (6, 1, 5, 5), (6,)],
     {"needs_input_grad": False, "activation": "relu", "parameter": 0.0}),
    ("relu 6@24x24", "relu", [(64, 6, 24, 24)], {}),
    ("conv2 + relu, rectified", "conv2d_rectified", [(64, 6, 12, 12), (16, 6, 5, 5), (16,)],
     {"activation": "relu", "parameter": 0.0}),
    ("relu 16@8x8", "relu", [(64, 16, 8, 8)], {}),
    ("conv 16->16 3x3 same", "conv2d", [(64, 16, 12, 12), (16, 16, 3, 3), (16,)], {"padding": "same"}),
    ("conv 6->16 3x3 stride 2", "conv2d", [(64, 6, 24, 24), (16, 6, 3, 3), (16,)], {"stride": 2}),
]


def best_time(fn, loops: int, repeats: int) -> float:
    """Seconds per call: the best of `repeats` means over `loops` calls."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - start) / loops)
    return min(times)


def time_op(name: str, shapes, attrs, loops: int, repeats: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(s).astype(np.float32) for s in shapes)
    op = get_op(name)
    out, ctx = op.forward(np, inputs, attrs)
    g = rng.standard_normal(out.shape).astype(np.float32)
    forward = best_time(lambda: op.forward(np, inputs, attrs), loops, repeats)
    vjp = best_time(lambda: op.vjp(np, g, ctx, inputs, attrs), loops, repeats)
    return forward, vjp


def torch_time(name: str, shapes, attrs, loops: int, repeats: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    x = torch.randn(*shapes[0], requires_grad=attrs.get("needs_input_grad", True))
    if name in ("conv2d", "conv2d_rectified"):  # (torch's side of a rectified one: the convolution alone)
        w, b = (torch.randn(*s, requires_grad=True) for s in shapes[1:])
        pad = attrs.get("padding", 0)
        run = lambda: F.conv2d(x, w, b, stride=attrs.get("stride", 1), padding=pad)
    elif name == "relu":
        run = lambda: F.relu(x)
    else:
        pool = F.max_pool2d if name == "maxpool2d" else F.avg_pool2d
        run = lambda: pool(x, attrs["kernel"])
    with torch.no_grad():
        forward = best_time(run, loops, repeats)
    g = torch.randn_like(run())
    both = best_time(lambda: run().backward(g), loops, repeats)
    return forward, both - forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--torch", action="store_true", help="time torch's ops alongside")
    args = parser.parse_args()
    from nngraph.backend.threads import blas_yields_to_kernel_threads, compute_threads

    if args.torch:
        import torch
        torch.set_num_threads(args.threads)
    print(f"{'case':30s} {'forward us':>11s} {'vjp us':>9s}" + ("  torch fwd   torch bwd" if args.torch else ""))
    # as a convolutional net's training step sets them: the compiled kernels on `threads` threads and the
    # BLAS on one where they split their work, else the BLAS on `threads`
    with compute_threads(args.threads), blas_yields_to_kernel_threads(np):
        for label, name, shapes, attrs in CASES:
            fwd, vjp = time_op(name, shapes, attrs, args.loops, args.repeats)
            line = f"{label:30s} {fwd * 1e6:11.0f} {vjp * 1e6:9.0f}"
            if args.torch:
                tf, tb = torch_time(name, shapes, attrs, args.loops, args.repeats)
                line += f"  {tf * 1e6:9.0f} {tb * 1e6:11.0f}"
            print(line)


if __name__ == "__main__":
    main()
