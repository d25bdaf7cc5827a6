"""A per-pixel loop version of Keras's affine_transform, the tests' reference for
npconv.ops.affine: every image, output pixel, stencil corner and channel visited in turn, the
fill modes written as the extensions their pictures draw (``d c b a | a b c d | d c b a`` ...)
by walking the index back into the image one reflection or period at a time. Slow: small
shapes only.
"""

from __future__ import annotations

import math


def _extend(i, n, fill_mode):
    """Index ``i`` of the extended axis of ``n`` pixels -> a pixel of the image, or None
    (outside, ``"constant"``)."""
    if 0 <= i < n:
        return i
    if fill_mode == "constant":
        return None
    if n == 1 or fill_mode == "nearest":
        return 0 if i < 0 else n - 1
    while not 0 <= i < n:
        if fill_mode == "wrap":          # a b c d | a b c d
            i = i + n if i < 0 else i - n
        elif fill_mode == "reflect":     # d c b a | a b c d | d c b a
            i = -1 - i if i < 0 else 2 * n - 1 - i
        else:                            # mirror: d c b | a b c d | c b a
            i = -i if i < 0 else 2 * n - 2 - i
    return i


def _round_half_away(v):
    return math.floor(v + 0.5) if v >= 0 else math.ceil(v - 0.5)


def _stencil(x_in, y_in, interpolation):
    """[(row, col, weight), ...] of the pixels (extended indices) one output pixel reads."""
    if interpolation == "nearest":
        return [(_round_half_away(y_in), _round_half_away(x_in), 1.0)]
    y0, x0 = math.floor(y_in), math.floor(x_in)
    fy, fx = y_in - y0, x_in - x0
    return [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
            (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]


def _source(t, x, y):
    a0, a1, a2, b0, b1, b2, c0, c1 = (float(v) for v in t)
    k = c0 * x + c1 * y + 1.0
    return (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k


def affine_forward(images, transforms, interpolation, fill_mode, fill_value):
    """The output of ``affine_transform`` (float64 nested loops over NHWC ``images``)."""
    import numpy as np

    n, h, w, c = images.shape
    out = np.zeros((n, h, w, c))
    for b in range(n):
        for y in range(h):
            for x in range(w):
                x_in, y_in = _source(transforms[b], x, y)
                for row, col, weight in _stencil(x_in, y_in, interpolation):
                    i, j = _extend(row, h, fill_mode), _extend(col, w, fill_mode)
                    for ch in range(c):
                        value = fill_value if i is None or j is None else images[b, i, j, ch]
                        out[b, y, x, ch] += weight * value
    return out


def affine_backward(d_out, transforms, interpolation, fill_mode):
    """The adjoint: each output gradient sent back to the pixels it read, with their weights."""
    import numpy as np

    n, h, w, c = d_out.shape
    dx = np.zeros((n, h, w, c))
    for b in range(n):
        for y in range(h):
            for x in range(w):
                x_in, y_in = _source(transforms[b], x, y)
                for row, col, weight in _stencil(x_in, y_in, interpolation):
                    i, j = _extend(row, h, fill_mode), _extend(col, w, fill_mode)
                    if i is None or j is None:
                        continue
                    for ch in range(c):
                        dx[b, i, j, ch] += weight * d_out[b, y, x, ch]
    return dx
