"""Keras's noise layers: random in training, the identity at inference.

    GaussianNoise(0.1)     y = x + n,  n ~ N(0, stddev^2) per value;  backward: the identity
    GaussianDropout(0.2)   y = x * m,  m ~ N(1, rate / (1 - rate)) per value;  backward: d * m
    AlphaDropout(0.1)      SELU's dropout: dropped values go to alpha_p = -1.7581, then
                           y = a * x' + b keeps mean 0 and variance 1;  backward: d * a * mask
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..ops.core import alpha_dropout_backward, alpha_dropout_forward
from ._seeded import SeededDraws, is_seed
from .base import Layer
from .core import check_noise_broadcast, checked_noise_shape, internal_noise_shape

__all__ = ["AlphaDropout", "GaussianDropout", "GaussianNoise"]


class _Noise(SeededDraws, Layer):
    batch_independent = True

    def splits_batch(self, training) -> bool:
        return not training and super().splits_batch(training)  # one draw per batch

    def _init_noise(self, name, value, seed, kwargs, upper_open=False):
        where = type(self).__name__
        number = (isinstance(value, (numbers.Real, np.floating, np.integer))
                  and not isinstance(value, bool))
        ok = number and (0 <= value < 1 if upper_open else 0 <= value <= 1)
        if not ok:
            interval = "[0, 1)" if upper_open else "[0, 1]"
            raise ValueError(f"{where}: expected {name} to be a number in {interval}. "
                             f"Received: {name}={value!r}")
        if not is_seed(seed):
            raise ValueError(f"{where}: expected seed to be None or a non-negative int. "
                             f"Received: seed={seed!r}")
        super().__init__(**kwargs)
        self._set_seed(seed)
        self._cache = None
        return float(value)


class GaussianNoise(_Noise):
    """Keras's ``GaussianNoise(stddev, seed=None)``: in training, zero-centred Gaussian noise of
    standard deviation ``stddev`` (in [0, 1], as Keras checks) added to every value (a
    regularizer against overfitting); at inference the identity. The backward pass is the
    identity (the noise does not depend on the input)."""

    def __init__(self, stddev, seed=None, **kwargs):
        self.stddev = self._init_noise("stddev", stddev, seed, kwargs)

    def call(self, x, training=False):
        if not (training and self.stddev > 0):
            return x
        noise = self._generator().standard_normal(x.shape)
        return x + (noise * self.stddev).astype(x.dtype)

    def call_backward(self, d_out):
        return d_out

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Keras's ``GaussianDropout(rate, seed=None)``: in training each value is multiplied by
    Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` (rate in
    [0, 1): Keras's 1 divides by zero); at inference the identity. The backward multiplies the
    gradient by the same noise."""

    def __init__(self, rate, seed=None, **kwargs):
        self.rate = self._init_noise("rate", rate, seed, kwargs, upper_open=True)

    def call(self, x, training=False):
        self._cache = None
        if not (training and self.rate > 0):
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        mask = (1.0 + stddev * self._generator().standard_normal(x.shape)).astype(x.dtype)
        self._cache = mask
        return x * mask

    def call_backward(self, d_out):
        return d_out if self._cache is None else d_out * self._cache

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Noise):
    """Keras 3's ``AlphaDropout(rate, noise_shape=None, seed=None)``, the dropout for SELU
    networks: in training each value is kept with probability ``1 - rate``, the others set to
    ``alpha_p = -alpha * scale`` (SELU's saturation), then ``y = a * x + b`` with ``a =
    ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5`` and ``b = -a * alpha_p * rate``, which
    keeps a zero-mean, unit-variance input so; at inference the identity. ``noise_shape`` and
    ``seed`` as Dropout's (an int: the layer's own generator; None: npconv's shared one).
    ``rate`` in [0, 1) (Keras's 1 would make ``a`` infinite). The maths: ``npconv.ops.core``.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        self.rate = self._init_noise("rate", rate, seed, kwargs, upper_open=True)
        self.noise_shape = checked_noise_shape(noise_shape, self.name)

    def _check_input_shape(self, shape):
        check_noise_broadcast(self.noise_shape, shape, self.name)

    def call(self, x, training=False):
        noise_shape = internal_noise_shape(self, x)
        rng = self._generator() if training and self.rate > 0 else None
        y, self._cache = alpha_dropout_forward(x, self.rate, bool(training), rng, noise_shape)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return alpha_dropout_backward(d_out, self._cache)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}
