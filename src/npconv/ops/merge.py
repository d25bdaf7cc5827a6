"""Element-wise merges of several arrays (Keras's ``Add``, ``Multiply``, ``Subtract``,
``Average``, ``Maximum`` and ``Minimum``).

The inputs have one rank and, on each axis, either the same size or 1: an axis of size 1 is
broadcast (Keras's rule, e.g. a ``(N, H, W, 1)`` attention mask times ``(N, H, W, C)``
features), and its gradient is the sum over the broadcast axis (:func:`reduce_to_shape`).

Each merge is a pair of pure functions: ``*_forward(xs) -> (out, cache)`` and
``*_backward(d_out, cache) -> [dx_1, ..., dx_k]`` (one gradient per input, in its shape).

``multiply_forward([x_1, ..., x_k]) -> (x_1 * ... * x_k, cache)``; the backward gives each input
the product of the others times ``d_out``: ``dx_i = d_out * prod_{j != i} x_j``. It is
computed from prefix and suffix products (``2k`` multiplies, no division, so zeros in an input
are no special case), not as ``out / x_i``.

``subtract_forward([x_1, x_2])`` is ``x_1 - x_2`` (exactly two inputs, as Keras's
``Subtract``); ``average_forward`` is ``(x_1 + ... + x_k) / k`` (summed left to right, then
divided, as Keras); ``maximum_forward`` / ``minimum_forward`` reduce pairwise left to right,
``max(max(x_1, x_2), x_3) ...``, as Keras does, and their gradients follow PyTorch's
``torch.maximum`` / ``torch.minimum`` at every pair: the larger (smaller) operand takes the
whole gradient, and on a tie each operand takes half of it (so a tie of three inputs gives
``x_3`` one half and ``x_1``, ``x_2`` one quarter each).
"""

from __future__ import annotations

import numpy as np

from .._checks import float_array


def _check_inputs(where, xs, exactly=None):
    count = len(xs) if isinstance(xs, (list, tuple)) else type(xs).__name__
    if exactly is not None and count != exactly:
        raise ValueError(f"{where}: expected a list of exactly {exactly} arrays. "
                         f"Received {count}")
    if not isinstance(xs, (list, tuple)) or len(xs) < 2:
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
    """The element-wise product of ``xs`` (2 or more arrays of one rank whose axes agree or
    are 1: those broadcast, see the module docstring). Mixed float32 and float64 inputs give
    float64. Returns ``(out, cache)``, out of the broadcast shape; the cache holds the inputs
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


def _check_d_out(d_out, shapes, dtype, where):
    d_out = float_array(d_out, where, dtype)
    out_shape = np.broadcast_shapes(*shapes)
    if d_out.shape != out_shape:
        raise ValueError(f"{where}: expected d_out of shape {out_shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out


def subtract_forward(xs):
    """``x_1 - x_2`` for exactly two arrays (``xs = [x_1, x_2]``). Returns ``(out, cache)``;
    the cache holds only the input shapes and the dtype."""
    xs = _check_inputs("subtract_forward", xs, exactly=2)
    return xs[0] - xs[1], ((xs[0].shape, xs[1].shape), xs[0].dtype)


def subtract_backward(d_out, cache):
    """Gradients of :func:`subtract_forward`: ``[d_out, -d_out]``, each summed over the axes its
    input broadcast (new arrays)."""
    (s1, s2), dtype = cache
    d_out = _check_d_out(d_out, (s1, s2), dtype, "subtract_backward")
    d1 = reduce_to_shape(d_out, s1)
    return [d1.copy() if d1 is d_out else d1, reduce_to_shape(-d_out, s2)]


def average_forward(xs):
    """``(x_1 + ... + x_k) / k`` for 2 or more arrays (summed left to right, then divided by
    ``k``, as Keras's ``Average``). Returns ``(out, cache)``; the cache holds the shapes."""
    xs = _check_inputs("average_forward", xs)
    out = xs[0] + xs[1]
    for x in xs[2:]:
        out = out + x if x.shape != out.shape else np.add(out, x, out=out)
    out /= len(xs)
    return out, (tuple(x.shape for x in xs), out.dtype)


def average_backward(d_out, cache):
    """Gradients of :func:`average_forward`: ``d_out / k`` for every input (summed over the axes
    it broadcast; new arrays)."""
    shapes, dtype = cache
    d_out = _check_d_out(d_out, shapes, dtype, "average_backward")
    share = d_out / len(shapes)
    grads = []
    for shape in shapes:  # inputs of the output's shape get one array each, not one shared
        g = reduce_to_shape(share, shape)
        grads.append(g.copy() if g is share and any(h is share for h in grads) else g)
    return grads


def _pairwise_extreme_forward(xs, ufunc, where):
    xs = _check_inputs(where, xs)
    partials = [xs[0]]  # partials[i] = ufunc over x_1 .. x_{i+1}; each is a new array but x_1
    for x in xs[1:]:
        partials.append(ufunc(partials[-1], x))
    return partials[-1], (tuple(xs), tuple(partials[:-1]), ufunc)


def _pair_backward(grad, a, b, a_wins):
    """torch.maximum's / torch.minimum's backward of one pair: ``where(a == b, g / 2, g)``, zero
    for ``a`` where ``b`` wins and for ``b`` where ``a`` wins (``a_wins`` is ``a > b`` for the
    maximum, ``a < b`` for the minimum); a NaN compares unequal, as in torch."""
    tie = a == b
    shared = np.where(tie, grad / 2, grad)
    b_wins = ~(a_wins | tie)
    ga = np.where(b_wins, 0, shared).astype(grad.dtype, copy=False)
    gb = np.where(a_wins, 0, shared).astype(grad.dtype, copy=False)
    return reduce_to_shape(ga, a.shape), reduce_to_shape(gb, b.shape)


def _pairwise_extreme_backward(d_out, cache, where):
    xs, partials, ufunc = cache
    d_out = _check_d_out(d_out, [x.shape for x in xs], xs[0].dtype, where)
    compare = np.greater if ufunc is np.maximum else np.less
    grads = [None] * len(xs)
    grad = d_out  # the gradient of partials[i] (of the output, to start with)
    for i in range(len(xs) - 1, 0, -1):
        left = partials[i - 1]
        grad, grads[i] = _pair_backward(grad, left, xs[i], compare(left, xs[i]))
    grads[0] = grad
    return grads


def maximum_forward(xs):
    """The element-wise maximum of 2 or more arrays, reduced pairwise left to right as Keras's
    ``Maximum`` (``max(max(x_1, x_2), x_3)``; a NaN propagates). Returns ``(out, cache)``; the
    cache holds the inputs and the running maxima (references: do not modify the inputs before
    the backward)."""
    return _pairwise_extreme_forward(xs, np.maximum, "maximum_forward")


def maximum_backward(d_out, cache):
    """Gradients of :func:`maximum_forward`, torch's rule at every pair: the larger operand
    takes ``d``, the smaller 0, and tied operands ``d / 2`` each (then on through the running
    maximum to the earlier inputs); summed over broadcast axes."""
    return _pairwise_extreme_backward(d_out, cache, "maximum_backward")


def minimum_forward(xs):
    """The element-wise minimum of 2 or more arrays, pairwise left to right (see
    :func:`maximum_forward`)."""
    return _pairwise_extreme_forward(xs, np.minimum, "minimum_forward")


def minimum_backward(d_out, cache):
    """Gradients of :func:`minimum_forward` (torch's rule: ties share ``d / 2``, pairwise)."""
    return _pairwise_extreme_backward(d_out, cache, "minimum_backward")
