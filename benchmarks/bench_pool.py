"""Max pooling, npconv vs PyTorch: forward + backward on the seed-001 MNIST CNN's pool shapes.

    python benchmarks/bench_pool.py [--repeats 30] [--batches 64 256] [--mode max|avg]

The contenders run alternately in one process (round-robin, so machine noise hits all of them),
and the table gives medians in milliseconds and npconv's speed-up (torch time / npconv time).
npconv works on NHWC float32 arrays; PyTorch gets NCHW tensors, once as contiguous NCHW (its
default) and once in ``torch.channels_last`` memory format (NHWC in memory, like npconv).
PyTorch runs with its default thread count (printed; ``--torch-threads 1`` for a single-thread
comparison); numpy's pooling is single-threaded.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from npconv.ops.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

# (height, width, channels) entering the seed-001 CNN's two MaxPooling2D(pool_size=2) layers
SHAPES = [(26, 26, 32), (11, 11, 64)]


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_contenders(x, d_out, mode):
    forward, backward = {
        "max": (max_pool2d_forward, max_pool2d_backward),
        "avg": (avg_pool2d_forward, avg_pool2d_backward),
    }[mode]
    torch_pool = {"max": torch.nn.functional.max_pool2d,
                  "avg": torch.nn.functional.avg_pool2d}[mode]

    def npconv_step():
        _, cache = forward(x, 2)
        backward(d_out, cache)

    def torch_step(memory_format):
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        dt = torch.from_numpy(d_out.transpose(0, 3, 1, 2).copy())
        xt = xt.contiguous(memory_format=memory_format).requires_grad_()
        dt = dt.contiguous(memory_format=memory_format)

        def step():
            xt.grad = None
            torch_pool(xt, 2).backward(dt)

        return step

    return {
        "npconv NHWC": npconv_step,
        "torch NCHW": torch_step(torch.contiguous_format),
        "torch channels_last": torch_step(torch.channels_last),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--mode", choices=["max", "avg"], default="max")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    print(f"numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), {args.mode} pool 2x2 stride 2, float32, "
          f"forward+backward, median of {args.repeats} (ms)")
    header = f"{'input (N, H, W, C)':<22}{'npconv':>9}{'torch NCHW':>12}{'torch NHWC':>12}"
    print(header + f"{'x NCHW':>9}{'x NHWC':>9}")
    rng = np.random.default_rng(0)
    for batch in args.batches:
        for h, w, c in SHAPES:
            x = np.maximum(rng.standard_normal((batch, h, w, c), dtype=np.float32), 0)  # ReLU
            d_out = rng.standard_normal((batch, h // 2, w // 2, c), dtype=np.float32)
            contenders = make_contenders(x, d_out, args.mode)
            for step in contenders.values():   # warm-up
                step()
            times = {name: [] for name in contenders}
            for _ in range(args.repeats):
                for name, step in contenders.items():
                    times[name].append(timed(step))
            ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
            ours, nchw, nhwc = ms["npconv NHWC"], ms["torch NCHW"], ms["torch channels_last"]
            print(f"{str((batch, h, w, c)):<22}{ours:>9.3f}{nchw:>12.3f}{nhwc:>12.3f}"
                  f"{nchw / ours:>8.2f}x{nhwc / ours:>8.2f}x")


if __name__ == "__main__":
    main()
