"""Would a compiled loop beat npconv's NumPy convolutions of LeNet-5? A probe, not a path.

    pip install numba          # not a dependency of npconv; only this probe uses it
    python benchmarks/numba_probe.py [--images 128]

Times, on one core, LeNet-5's two convolutions written as plain numba loops (the output
row accumulated in a small buffer, the loops LLVM is asked to vectorise) against npconv's
``conv2d_forward`` (conv1: the banded GEMM; conv2: the banded GEMM with 6 input channels),
and checks that both give the same numbers. Round 9 (2026-12-03, numba 0.68.1): conv1
2.33 ms against 1.21 ms at 128 images, conv2 6.1 ms against 0.81 ms, so the NumPy paths
stayed. Never part of CI's pass/fail.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _median_ms(fn, repeats=50):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def _kernels(numba):
    @numba.njit(fastmath=True, nogil=True, cache=False)
    def conv_one_channel(xp, w, bias, out):
        """xp (N, Hp, Wp) padded, w (kh, kw, C_out), out (N, H_out, W_out, C_out)."""
        n_img, _, _ = xp.shape
        kh, kw, c_out = w.shape
        _, h_out, w_out, _ = out.shape
        acc = np.empty((c_out, w_out), np.float32)
        for n in range(n_img):
            for y in range(h_out):
                for f in range(c_out):
                    for x in range(w_out):
                        acc[f, x] = bias[f]
                for i in range(kh):
                    for j in range(kw):
                        for f in range(c_out):
                            wv = w[i, j, f]
                            for x in range(w_out):
                                acc[f, x] += xp[n, y + i, x + j] * wv
                for x in range(w_out):
                    for f in range(c_out):
                        out[n, y, x, f] = acc[f, x]

    @numba.njit(fastmath=True, nogil=True, cache=False)
    def conv_channels(x, w, bias, out):
        """x (N, H, W, C_in), w (kh, kw, C_in, C_out), out (N, H_out, W_out, C_out)."""
        n_img, _, _, c_in = x.shape
        kh, kw, _, c_out = w.shape
        _, h_out, w_out, _ = out.shape
        acc = np.empty((w_out, c_out), np.float32)
        for n in range(n_img):
            for y in range(h_out):
                for p in range(w_out):
                    for o in range(c_out):
                        acc[p, o] = bias[o]
                for i in range(kh):
                    for j in range(kw):
                        for c in range(c_in):
                            for p in range(w_out):
                                v = x[n, y + i, p + j, c]
                                for o in range(c_out):
                                    acc[p, o] += v * w[i, j, c, o]
                for p in range(w_out):
                    for o in range(c_out):
                        out[n, y, p, o] = acc[p, o]

    return conv_one_channel, conv_channels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    args = parser.parse_args(argv)
    try:
        import numba
    except ImportError:
        print("numba_probe: needs numba (pip install numba); npconv itself does not use it")
        return 1
    from threadpoolctl import threadpool_limits

    from npconv.ops.conv import conv2d_forward

    threadpool_limits(1)
    conv_one_channel, conv_channels = _kernels(numba)
    rng = np.random.default_rng(0)
    n = args.images
    print(f"numba {numba.__version__}, numpy {np.__version__}, {n} images, one core")

    x1 = rng.standard_normal((n, 28, 28, 1)).astype(np.float32)
    k1 = (rng.standard_normal((5, 5, 1, 6)) * 0.2).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    ref1, _ = conv2d_forward(x1, k1, b1, 1, "same")
    xp1 = np.pad(x1[..., 0], ((0, 0), (2, 2), (2, 2)))
    w1 = np.ascontiguousarray(k1[:, :, 0, :])
    out1 = np.empty_like(ref1)
    conv_one_channel(xp1, w1, b1, out1)
    assert np.allclose(out1, ref1, atol=1e-4), "conv1 differs"

    x2 = rng.standard_normal((n, 14, 14, 6)).astype(np.float32)
    k2 = (rng.standard_normal((5, 5, 6, 16)) * 0.2).astype(np.float32)
    b2 = rng.standard_normal(16).astype(np.float32)
    ref2, _ = conv2d_forward(x2, k2, b2, 1, "valid")
    out2 = np.empty_like(ref2)
    conv_channels(x2, k2, b2, out2)
    assert np.allclose(out2, ref2, atol=1e-4), "conv2 differs"

    rows = [
        ("conv1 (1 -> 6 channels, 5x5, same)",
         _median_ms(lambda: conv2d_forward(x1, k1, b1, 1, "same")),
         _median_ms(lambda: conv_one_channel(xp1, w1, b1, out1))),
        ("conv2 (6 -> 16 channels, 5x5, valid)",
         _median_ms(lambda: conv2d_forward(x2, k2, b2, 1, "valid")),
         _median_ms(lambda: conv_channels(x2, k2, b2, out2))),
    ]
    print(f"{'forward':40s} {'npconv ms':>10s} {'numba ms':>10s}")
    for name, ours, theirs in rows:
        print(f"{name:40s} {ours:10.3f} {theirs:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
