"""Element-wise merges of several arrays (Keras's ``Add`` and ``Multiply``).

The inputs have one rank and, on each axis, either the same size or 1: an axis of size 1 is
broadcast (Keras's rule, e.g. a ``(N, H, W, 1)`` attention mask times ``(N, H, W, C)``
features), and its gradient is the sum over the broadcast axis (:func:`reduce_to_shape`).

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
    broadcast_shape([x.shape for x in xs], where)
    dtype = np.result_type(*xs)
    return [x.astype(dtype, copy=False) for x in xs]


def broadcast_shape(shapes, where) -> tuple:
    """The merged shape of ``shapes`` (one rank; per axis one size, or 1 beside it; None is
    an unknown size), or a ValueError naming them."""
    shapes = [tuple(s) for s in shapes]
    if any(len(s) != len(shapes[0]) for s in shapes):
        raise ValueError(f"{where}: expected inputs of one rank. Received shapes {shapes}")
    out = []
    for axis, sizes in enumerate(zip(*shapes, strict=True)):
        known = {d for d in sizes if d is not None}
        if axis == 0 and len(known) > 1:
            raise ValueError(f"{where}: cannot merge tensors with different batch sizes. "
                             f"Received shapes {shapes}")
        wide = known - {1}
        if len(wide) > 1:
            raise ValueError(f"{where}: inputs have incompatible shapes: on axis {axis} the "
                             f"sizes must agree or be 1. Received shapes {shapes}")
        if wide:
            out.append(wide.pop())
        else:
            out.append(None if None in sizes else (1 if known else None))
    return tuple(out)


def reduce_to_shape(grad, shape) -> np.ndarray:
    """``grad`` summed over the axes that ``shape`` broadcast (size 1 there), in ``shape``."""
    axes = tuple(a for a, (g, n) in enumerate(zip(grad.shape, shape, strict=True))
                 if n == 1 and g != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def multiply_forward(xs):
    """The element-wise product of ``xs`` (2 or more arrays of one shape). Mixed float32 and
    float64 inputs give float64. Returns ``(out, cache)``; the cache holds the inputs
    (references: do not modify them before the backward)."""
    xs = _check_inputs("multiply_forward", xs)
    out = xs[0] * xs[1]
    for x in xs[2:]:
        out = out * x if x.shape != out.shape else np.multiply(out, x, out=out)
    return out, tuple(xs)


def multiply_backward(d_out, cache):
    """Gradients of :func:`multiply_forward`: a list ``[dx_1, ..., dx_k]``."""
    xs = cache
    d_out = float_array(d_out, "multiply_backward", xs[0].dtype)
    out_shape = np.broadcast_shapes(*(x.shape for x in xs))
    if d_out.shape != out_shape:
        raise ValueError(f"multiply_backward: expected d_out of shape {out_shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    k = len(xs)
    if k == 2:
        return [reduce_to_shape(d_out * xs[1], xs[0].shape),
                reduce_to_shape(d_out * xs[0], xs[1].shape)]
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
    return [reduce_to_shape(np.broadcast_to(g, out_shape) if g.shape != out_shape else g,
                            x.shape) for g, x in zip(grads, xs, strict=True)]
