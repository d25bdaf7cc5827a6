"""Central finite differences in float64: the reference every backward is checked against."""

import numpy as np


def central_differences(f, x, eps=1e-6):
    """d f / d x for a scalar ``f()`` that reads ``x``, by perturbing ``x`` in place.

    Each element is moved by +eps and -eps in turn and restored; ``x`` must be float64.
    """
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = f()
        x[idx] = old - eps
        minus = f()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad
