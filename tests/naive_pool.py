"""Seed 002's loop algorithm of pooling, corrected and generalised, as a second test reference.

``pool_forward``/``pool_backward`` walk over every example, output pixel and channel exactly as
seed 002 does, so they are slow and only for small test shapes. Differences from the seed:

- the window starts at ``h * stride`` in the backward pass too (the seed's ``vert_start = h`` is
  right only for stride 1);
- max pooling sends a window's gradient to its FIRST maximum in row-major order (the seed's
  ``create_mask_from_window`` marks every tied maximum);
- pool sizes and strides may differ per axis, and ``pads = ((top, bottom), (left, right))``
  adds padding cells that never take part: a window covers only its real pixels, so max pooling
  ignores them and average pooling divides by the number of real pixels.
"""

from __future__ import annotations

import numpy as np


def _windows(shape, pool, strides, pads):
    """Yield ``(h, w, rows, cols)``: each output pixel and the real input rows/cols it covers."""
    _, n_h_prev, n_w_prev, _ = shape
    (fh, fw), (sh, sw), ((top, bottom), (left, right)) = pool, strides, pads
    n_h = (n_h_prev + top + bottom - fh) // sh + 1
    n_w = (n_w_prev + left + right - fw) // sw + 1
    for h in range(n_h):
        vert_start = h * sh - top
        rows = slice(max(vert_start, 0), min(vert_start + fh, n_h_prev))
        for w in range(n_w):
            horiz_start = w * sw - left
            cols = slice(max(horiz_start, 0), min(horiz_start + fw, n_w_prev))
            yield h, w, rows, cols


def output_hw(shape, pool, strides, pads):
    _, n_h_prev, n_w_prev, _ = shape
    return ((n_h_prev + sum(pads[0]) - pool[0]) // strides[0] + 1,
            (n_w_prev + sum(pads[1]) - pool[1]) // strides[1] + 1)


def pool_forward(a_prev, pool, strides, pads=((0, 0), (0, 0)), mode="max"):
    """Seed 002's pool_forward: A[i, h, w, c] = max or mean of the window."""
    m, _, _, n_c = a_prev.shape
    n_h, n_w = output_hw(a_prev.shape, pool, strides, pads)
    a = np.zeros((m, n_h, n_w, n_c), dtype=np.float64)
    for i in range(m):
        for h, w, rows, cols in _windows(a_prev.shape, pool, strides, pads):
            for c in range(n_c):
                a_prev_slice = a_prev[i, rows, cols, c]
                if mode == "max":
                    a[i, h, w, c] = np.max(a_prev_slice)
                elif mode == "average":
                    a[i, h, w, c] = np.mean(a_prev_slice)
                else:
                    raise ValueError(mode)
    return a


def create_mask_from_window(x):
    """True at the first maximum of ``x`` in row-major order (seed 002 marks every tie)."""
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def distribute_value(dz, shape):
    """Seed 002's distribute_value: ``dz`` spread evenly over a ``shape`` window."""
    n_h, n_w = shape
    return np.ones(shape) * dz / (n_h * n_w)


def pool_backward(d_a, a_prev, pool, strides, pads=((0, 0), (0, 0)), mode="max"):
    """Seed 002's pool_backward, with the window at ``h * stride`` for any stride."""
    m, _, _, n_c = a_prev.shape
    d_a_prev = np.zeros(a_prev.shape, dtype=np.float64)
    for i in range(m):
        for h, w, rows, cols in _windows(a_prev.shape, pool, strides, pads):
            for c in range(n_c):
                if mode == "max":
                    mask = create_mask_from_window(a_prev[i, rows, cols, c])
                    d_a_prev[i, rows, cols, c] += mask * d_a[i, h, w, c]
                elif mode == "average":
                    shape = (rows.stop - rows.start, cols.stop - cols.start)
                    d_a_prev[i, rows, cols, c] += distribute_value(d_a[i, h, w, c], shape)
                else:
                    raise ValueError(mode)
    return d_a_prev
