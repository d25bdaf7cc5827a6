"""Element-wise merges of several same-shape arrays (Keras's ``Multiply``).

``multiply_forward([x_1, ..., x_k]) -> (x_1 * ... * x_k, cache)``; the backward gives each input
the product of the others times ``d_out``: ``dx_i = d_out * prod_{j != i} x_j``. It is
computed from prefix and suffix products (``2k`` multiplies, no division, so zeros in an input
are no special case), not as ``out / x_i``.
"""

from __future__ import annotations

import numpy as np

from .._checks import float_array


def _check_inputs(where, xs):
    if not isinstance(xs, (list, tuple)) or len(xs) < 2:
        count = len(xs) if isinstance(xs, (list, tuple)) else type(xs).__name__
        raise ValueError(f"{where}: expected a list of at least 2 arrays. Received {count}")
    xs = [float_array(x, where) for x in xs]
    shapes = [x.shape for x in xs]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"{where}: expected inputs of identical shapes. Received shapes {shapes}")
    dtype = np.result_type(*xs)
    return [x.astype(dtype, copy=False) for x in xs]


def multiply_forward(xs):
    """The element-wise product of ``xs`` (2 or more arrays of one shape). Mixed float32 and
    float64 inputs give float64. Returns ``(out, cache)``; the cache holds the inputs
    (references: do not modify them before the backward)."""
    xs = _check_inputs("multiply_forward", xs)
    out = xs[0] * xs[1]
    for x in xs[2:]:
        out *= x
    return out, tuple(xs)


def multiply_backward(d_out, cache):
    """Gradients of :func:`multiply_forward`: a list ``[dx_1, ..., dx_k]``."""
    xs = cache
    d_out = float_array(d_out, "multiply_backward", xs[0].dtype)
    if d_out.shape != xs[0].shape:
        raise ValueError(f"multiply_backward: expected d_out of shape {xs[0].shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    k = len(xs)
    if k == 2:
        return [d_out * xs[1], d_out * xs[0]]
    # prefix[i] = d_out * x_0 * ... * x_{i-1}; then multiply by the suffix x_{i+1} ... x_{k-1}
    grads = [None] * k
    prefix = d_out
    prefixes = []
    for i in range(k):
        prefixes.append(prefix)
        if i < k - 1:
            prefix = prefix * xs[i]
    suffix = None
    for i in range(k - 1, -1, -1):
        grads[i] = prefixes[i] if suffix is None else prefixes[i] * suffix  # i=k-1: a new array
        suffix = xs[i] if suffix is None else suffix * xs[i]  # never written into
    return grads
