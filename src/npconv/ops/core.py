"""Dense (fully connected), flatten and dropout: forward and backward.

    dense:    out = x @ kernel + bias          x (..., n_in), kernel (n_in, n_out), bias (n_out,)
              dx = d_out @ kernel.T,  d_kernel = x.T @ d_out,  d_bias = sum(d_out)
    flatten:  (N, d1, d2, ...) -> (N, d1 * d2 * ...), in C (row-major) order; backward reshapes back
    dropout:  out = x * mask / (1 - rate)      mask ~ Bernoulli(1 - rate), training only
              dx = d_out * mask / (1 - rate)   ("inverted" dropout: inference is the identity)
    alpha dropout (SELU's): out = a * (x * mask + alpha_p * (1 - mask)) + b, training only
              dx = d_out * a * mask
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import float_array
from ..random import make_generator

__all__ = [
    "dense_forward", "dense_backward",
    "flatten_forward", "flatten_backward",
    "dropout_forward", "dropout_backward",
    "alpha_dropout_forward", "alpha_dropout_backward",
]


def _check_d_out(d_out, shape, where: str) -> np.ndarray:
    d_out = np.asarray(d_out)
    if d_out.shape != tuple(shape):
        raise ValueError(f"{where}: expected d_out of shape {tuple(shape)} (the forward "
                         f"output's). Received shape {d_out.shape}")
    return d_out


# ---------------------------------------------------------------------------- dense
class DenseCache(NamedTuple):
    """What :func:`dense_backward` needs: the input, the kernel, whether there was a bias."""

    x: np.ndarray
    kernel: np.ndarray
    has_bias: bool


def dense_forward(x, kernel, bias=None):
    """``x @ kernel + bias``, contracting the last axis of ``x`` (rank >= 2).

    Shapes: x (N, ..., n_in), kernel (n_in, n_out), bias (n_out,) or None -> out (N, ..., n_out).
    """
    x = float_array(x, "dense")
    kernel = np.asarray(kernel)
    if x.ndim < 2:
        raise ValueError(f"dense: expected an input of rank >= 2 (batch, ..., features). "
                         f"Received an input of shape {x.shape}")
    if kernel.ndim != 2:
        raise ValueError(f"dense: expected a 2-D kernel (n_in, n_out). "
                         f"Received a kernel of shape {kernel.shape}")
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"dense: expected an input with last dimension {kernel.shape[0]} (the "
                         f"kernel's n_in). Received an input of shape {x.shape}")
    out = x @ kernel
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"dense: expected a bias of shape ({kernel.shape[1]},). "
                             f"Received shape {bias.shape}")
        out += bias
    return out, DenseCache(x, kernel, bias is not None)


def dense_backward(d_out, cache: DenseCache):
    """``(dx, d_kernel, d_bias)``; ``d_bias`` is None when the forward had no bias."""
    x, kernel, has_bias = cache
    d_out = _check_d_out(d_out, x.shape[:-1] + (kernel.shape[1],), "dense_backward")
    d2 = d_out.reshape(-1, kernel.shape[1])
    dx = d_out @ kernel.T
    d_kernel = x.reshape(-1, kernel.shape[0]).T @ d2
    d_bias = d2.sum(axis=0) if has_bias else None
    return dx, d_kernel, d_bias


# ---------------------------------------------------------------------------- flatten
def flatten_forward(x):
    """Reshape (N, d1, d2, ...) to (N, d1*d2*...); a 1-D (N,) input becomes (N, 1) as in Keras.

    Any dtype is kept (it is only a reshape). The cache is the input shape.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("flatten: expected an input with a batch dimension. Received a scalar")
    return x.reshape(x.shape[0], math.prod(x.shape[1:])), x.shape


def flatten_backward(d_out, cache):
    """Reshape the gradient back to the input shape."""
    shape = tuple(cache)
    d_out = _check_d_out(d_out, (shape[0], math.prod(shape[1:])), "flatten_backward")
    return d_out.reshape(shape)


# ---------------------------------------------------------------------------- dropout
class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs (mask and scale None: the forward was the
    identity)."""

    mask: np.ndarray | None    # bool, True = kept, of x's rank (broadcasts to x); None = identity
    scale: np.ndarray | None   # mask / (1 - rate) in x's dtype
    shape: tuple


def concrete_noise_shape(noise_shape, shape, where="dropout"):
    """The dropout mask's shape for an input of ``shape``, as ``keras.random.dropout`` reads
    ``noise_shape``: an entry None takes the input's size on the axis at the same position
    (counted from the first, also when ``noise_shape`` is shorter than the input's rank),
    then the mask broadcasts to the input with the trailing axes aligned (NumPy's rule).
    Returns a tuple of the input's rank (leading 1s added); ``shape`` may hold None (a
    symbolic batch axis), which is taken as able to match any size. A ValueError naming
    ``where`` when the mask does not broadcast."""
    shape = tuple(shape)
    given = tuple(noise_shape)
    if len(given) <= len(shape):
        filled = tuple(shape[i] if n is None else int(n) for i, n in enumerate(given))
        full = (1,) * (len(shape) - len(given)) + filled
        if all(n is None or s is None or n in (1, s) for n, s in zip(full, shape, strict=True)):
            return full
    raise ValueError(f"{where}: expected noise_shape (at most {len(shape)} entries; an entry "
                     f"None takes the input's size on the axis at its position; aligned with "
                     f"the input's trailing axes, each 1 or that axis's size) to broadcast to "
                     f"the input's shape {shape}. Received: noise_shape={given}")


def dropout_forward(x, rate, training, rng=None, noise_shape=None):
    """Inverted dropout: zero each value with probability ``rate``, scale the rest by 1/(1-rate).

    Identity when ``training`` is False or ``rate == 0``. ``rng``: a numpy Generator or an int
    seed (default: :func:`npconv.random.make_generator`). ``noise_shape`` (Keras, read as
    :func:`concrete_noise_shape`): drop whole slices, e.g. ``(N, 1, 1, C)`` drops channels,
    ``(C,)`` the same channels of every sample and pixel. Returns ``(out, cache)``;
    ``cache.mask`` is the drawn keep-mask.
    """
    number = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if not number or not 0 <= rate < 1:
        raise ValueError(f"dropout: expected rate to be a number in [0, 1). "
                         f"Received: rate={rate!r}")
    x = float_array(x, "dropout")
    if not training or rate == 0:
        return x, DropoutCache(None, None, x.shape)
    ns = x.shape if noise_shape is None else concrete_noise_shape(noise_shape, x.shape)
    rng = make_generator(rng)
    mask = rng.random(ns) >= rate  # P(keep) = 1 - rate
    scale = mask.astype(x.dtype) / x.dtype.type(1 - rate)
    return x * scale, DropoutCache(mask, scale, x.shape)


def dropout_backward(d_out, cache: DropoutCache):
    """``dx = d_out * mask / (1 - rate)``; the identity when the forward was."""
    d_out = _check_d_out(d_out, cache.shape, "dropout_backward")
    if cache.scale is None:
        return d_out
    return d_out * cache.scale


# ---------------------------------------------------------------------------- alpha dropout
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropoutCache(NamedTuple):
    """What :func:`alpha_dropout_backward` needs."""

    scale: np.ndarray | None   # a * mask in x's dtype (noise_shape); None = identity
    shape: tuple


def alpha_dropout_forward(x, rate, training, rng=None, noise_shape=None):
    """Keras 3's AlphaDropout: each value is kept with probability ``1 - rate``, the others
    are set to SELU's negative saturation ``alpha_p = -alpha * scale``, and an affine map
    keeps a zero-mean, unit-variance input so::

        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5,   b = -a * alpha_p * rate
        out = a * (x * mask + alpha_p * (1 - mask)) + b

    The identity when ``training`` is False or ``rate == 0``. ``rng`` and ``noise_shape`` as
    :func:`dropout_forward` (the mask is ``uniform >= rate``, as Keras draws it).
    """
    number = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if not number or not 0 <= rate < 1:
        raise ValueError(f"alpha_dropout: expected rate to be a number in [0, 1). "
                         f"Received: rate={rate!r}")
    x = float_array(x, "alpha_dropout")
    if not training or rate == 0:
        return x, AlphaDropoutCache(None, x.shape)
    ns = (x.shape if noise_shape is None
          else concrete_noise_shape(noise_shape, x.shape, "alpha_dropout"))
    mask = make_generator(rng).random(ns) >= rate
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    t = x.dtype.type
    scale = mask.astype(x.dtype) * t(a)
    shift = np.where(mask, t(b), t(a * alpha_p + b))  # a * alpha_p * (1 - mask) + b
    return x * scale + shift, AlphaDropoutCache(scale, x.shape)


def alpha_dropout_backward(d_out, cache: AlphaDropoutCache):
    """``dx = d_out * a * mask``; the identity when the forward was."""
    d_out = _check_d_out(d_out, cache.shape, "alpha_dropout_backward")
    if cache.scale is None:
        return d_out
    return d_out * cache.scale
