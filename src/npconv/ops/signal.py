"""Seed 001's teaching utilities: 1-D and 2-D convolution and correlation of plain arrays.

Convolution slides the *flipped* kernel over the input; correlation (what a CNN's Conv2D layer
computes) slides it unflipped::

    convolve(f, g)[n]        = sum_k f[k] * g[n - k]            (numpy.convolve)
    correlate2d(I, K)[y, x]  = sum_{i,j} I[y + i, x + j] * K[i, j]
    convolve2d(I, K)         = correlate2d(I, K flipped up-down and left-right)

Modes (as numpy/scipy): ``"full"`` every overlap (length m + n - 1), ``"same"`` the size of the
first input, centred on the full result, ``"valid"`` only where the kernel fits entirely.

Both are built on the same sliding-window view as :mod:`npconv.ops.conv`: pad, view every window,
multiply with the kernel and sum -- no loop over pixels, and integer inputs stay integer.
Example (seed 001): ``convolve([1, 2, 3], [4, 5])`` is ``[4, 13, 22, 15]``; the sum of two dice
is ``convolve(die, die)`` with ``die = [1/6] * 6``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import check_choice

_MODES = {"full", "same", "valid"}


def _as_array(x, ndim: int, name: str, where: str) -> np.ndarray:
    arr = np.array(x, copy=None, ndmin=1)  # a scalar is a 1-sample signal, as in numpy
    if arr.ndim != ndim:
        raise ValueError(f"{where}: expected {name} to be a {ndim}-D array. "
                         f"Received shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{where}: expected {name} to be non-empty. Received shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected a real numeric {name}. Received dtype {arr.dtype}")
    return arr


def _correlate_padded(x: np.ndarray, kernel: np.ndarray, pads) -> np.ndarray:
    """Valid correlation of ``x`` zero-padded by ``pads`` (one ``(before, after)`` per axis)."""
    dtype = np.result_type(x, kernel)
    xp = np.pad(x.astype(dtype, copy=False), pads)
    windows = sliding_window_view(xp, kernel.shape)  # (*out_shape, *kernel.shape), a view
    axes = tuple(range(x.ndim, 2 * x.ndim))
    return np.tensordot(windows, kernel.astype(dtype, copy=False),
                        axes=(axes, tuple(range(x.ndim))))


def _pads(mode: str, kernel_shape, flipped: bool):
    """Zero padding per axis for ``mode``; "same" centres like numpy/scipy."""
    if mode == "valid":
        return [(0, 0)] * len(kernel_shape)
    if mode == "full":
        return [(k - 1, k - 1) for k in kernel_shape]
    # "same": the first output sample sits at offset o of the full result; o = (k - 1) // 2 for
    # convolution (kernel flipped) and k // 2 for correlation, as numpy.convolve and scipy do.
    pads = []
    for k in kernel_shape:
        offset = (k - 1) // 2 if flipped else k // 2
        pads.append((k - 1 - offset, offset))
    return pads


def convolve(a, v, mode: str = "full") -> np.ndarray:
    """1-D discrete convolution, equal to ``numpy.convolve(a, v, mode)``.

    a: ``(m,)``, v: ``(n,)``; returns ``(m + n - 1,)`` for "full", ``(max(m, n),)`` for "same",
    ``(max(m, n) - min(m, n) + 1,)`` for "valid".
    """
    where = "convolve"
    mode = check_choice(mode, "mode", _MODES, where)
    a = _as_array(a, 1, "a", where)
    v = _as_array(v, 1, "v", where)
    if v.size > a.size:  # convolution is commutative; slide the shorter one, as numpy does
        a, v = v, a
    kernel = v[::-1]
    return _correlate_padded(a, kernel, _pads(mode, kernel.shape, flipped=True))


def _two_d(in1, in2, mode, where):
    mode = check_choice(mode, "mode", _MODES, where)
    in1 = _as_array(in1, 2, "in1", where)
    in2 = _as_array(in2, 2, "in2", where)
    swap = False
    if mode == "valid":
        bigger = all(s1 >= s2 for s1, s2 in zip(in1.shape, in2.shape, strict=True))
        smaller = all(s1 <= s2 for s1, s2 in zip(in1.shape, in2.shape, strict=True))
        if not (bigger or smaller):
            raise ValueError(
                f"{where}: for 'valid' mode one input must be at least as large as the other in "
                f"every dimension. Received shapes {in1.shape} and {in2.shape}"
            )
        swap = not bigger
    return mode, in1, in2, swap


def correlate2d(in1, in2, mode: str = "full") -> np.ndarray:
    """2-D cross-correlation (no kernel flip), equal to ``scipy.signal.correlate2d``.

    in1: ``(H, W)`` image, in2: ``(kh, kw)`` kernel. "full": ``(H + kh - 1, W + kw - 1)``,
    "same": ``(H, W)``, "valid": ``(H - kh + 1, W - kw + 1)`` (the inputs swap if in2 is larger).
    """
    mode, in1, in2, swap = _two_d(in1, in2, mode, "correlate2d")
    if swap:  # scipy slides the smaller array, and flips the result to keep it a correlation
        return _correlate_padded(in2, in1, _pads(mode, in1.shape, flipped=False))[::-1, ::-1]
    return _correlate_padded(in1, in2, _pads(mode, in2.shape, flipped=False))


def convolve2d(in1, in2, mode: str = "full") -> np.ndarray:
    """2-D convolution (kernel flipped in both axes), equal to ``scipy.signal.convolve2d``.

    Shapes as :func:`correlate2d`.
    """
    mode, in1, in2, swap = _two_d(in1, in2, mode, "convolve2d")
    if swap:  # convolution is commutative
        in1, in2 = in2, in1
    kernel = in2[::-1, ::-1]
    return _correlate_padded(in1, kernel, _pads(mode, kernel.shape, flipped=True))
