"""npconv conv2d against torch.nn.functional.conv2d, side by side (never part of CI's pass/fail).

Times forward+backward (training, dx included on both sides) and forward alone (inference) for
the convolutions of seed 001's MNIST CNN and of LeNet-5, plus stride-2, dilation-2 and "same"
cases. npconv and torch run alternately in one process on the same data (torch in NCHW), and the
medians over repeats are compared: ratio = torch time / npconv time (> 1: npconv is faster).

    python benchmarks/bench_conv.py [--repeats 30] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from npconv.ops.conv import conv2d_backward, conv2d_forward
from npconv.ops.padding import resolve_padding

# name, batch, (H, W, C_in), (kh, kw, C_out), strides, padding, dilation, mode
CASES = [
    ("seed001 conv1 28x28x1->32", 64, (28, 28, 1), (3, 3, 32), 1, "valid", 1, "train"),
    ("seed001 conv2 13x13x32->64", 64, (13, 13, 32), (3, 3, 64), 1, "valid", 1, "train"),
    ("seed001 conv3 5x5x64->128", 64, (5, 5, 64), (3, 3, 128), 1, "valid", 1, "train"),
    ("seed001 conv1", 256, (28, 28, 1), (3, 3, 32), 1, "valid", 1, "infer"),
    ("seed001 conv2", 256, (13, 13, 32), (3, 3, 64), 1, "valid", 1, "infer"),
    ("seed001 conv3", 256, (5, 5, 64), (3, 3, 128), 1, "valid", 1, "infer"),
    ("LeNet-5 C1 32x32x1->6 5x5", 64, (32, 32, 1), (5, 5, 6), 1, "valid", 1, "train"),
    ("LeNet-5 C3 14x14x6->16 5x5", 64, (14, 14, 6), (5, 5, 16), 1, "valid", 1, "train"),
    ("LeNet-5 C5 5x5x16->120 5x5", 64, (5, 5, 16), (5, 5, 120), 1, "valid", 1, "train"),
    ("LeNet-5 C1", 256, (32, 32, 1), (5, 5, 6), 1, "valid", 1, "infer"),
    ("LeNet-5 C3", 256, (14, 14, 6), (5, 5, 16), 1, "valid", 1, "infer"),
    ("stride 2 pad 1 28x28x1->32", 64, (28, 28, 1), (3, 3, 32), 2, 1, 1, "train"),
    ("stride 2 pad 1 14x14x32->64", 64, (14, 14, 32), (3, 3, 64), 2, 1, 1, "train"),
    ("dilation 2 16x16x16->32", 64, (16, 16, 16), (3, 3, 32), 1, "valid", 2, "train"),
    ("same 14x14x32->64", 64, (14, 14, 32), (3, 3, 64), 1, "same", 1, "train"),
    ("same 2x2 kernel 32x32x3->16", 64, (32, 32, 3), (2, 2, 16), 1, "same", 1, "train"),
    ("1x1 14x14x64->32", 64, (14, 14, 64), (1, 1, 32), 1, "valid", 1, "train"),
]


def _median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def time_case(case, rng, repeats):
    """Median ms of npconv and of torch for one case, run alternately."""
    name, n, (h, w, c_in), (kh, kw, c_out), s, padding, d, mode = case
    x = rng.standard_normal((n, h, w, c_in), dtype=np.float32)
    kernel = rng.standard_normal((kh, kw, c_in, c_out), dtype=np.float32) * 0.1
    bias = rng.standard_normal(c_out, dtype=np.float32)
    out, _ = conv2d_forward(x, kernel, bias, s, padding, d)
    g = rng.standard_normal(out.shape, dtype=np.float32)

    (top, bottom), (left, right) = resolve_padding(padding, (h, w), (kh, kw), s, d)
    train = mode == "train"
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(train)
    wt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    wt.requires_grad_(train)
    bt = torch.from_numpy(bias).requires_grad_(train)
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    symmetric = top == bottom and left == right

    def torch_forward():
        inp = xt if symmetric else F.pad(xt, (left, right, top, bottom))
        return F.conv2d(inp, wt, bt, stride=s, padding=(top, left) if symmetric else 0,
                        dilation=d)

    if train:
        def ours():
            _, cache = conv2d_forward(x, kernel, bias, s, padding, d)
            conv2d_backward(g, cache)

        def theirs():
            xt.grad = wt.grad = bt.grad = None
            torch_forward().backward(gt)
    else:
        def ours():
            conv2d_forward(x, kernel, bias, s, padding, d)

        def theirs():
            with torch.inference_mode():
                torch_forward()

    for _ in range(3):  # warm up both
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # alternate, so load changes hit both sides alike
        t_ours.append(_median_ms(ours, 1))
        t_theirs.append(_median_ms(theirs, 1))
    return float(np.median(t_ours)), float(np.median(t_theirs))


def run(repeats: int) -> None:
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), float32, median of {repeats} (ms)")
    print(f"{'case':32s} {'batch':>5s} {'mode':>5s} {'npconv':>8s} {'torch':>8s} {'ratio':>6s}")
    ratios = []
    for case in CASES:
        a, b = time_case(case, rng, repeats)
        ratios.append(b / a)
        print(f"{case[0]:32s} {case[1]:5d} {case[7]:>5s} {a:8.3f} {b:8.3f} {b / a:6.2f}")
    print(f"geometric mean ratio (torch / npconv): {float(np.exp(np.mean(np.log(ratios)))):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.repeats)
