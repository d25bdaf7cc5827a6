"""Activation layers with Keras names and defaults: ReLU, LeakyReLU, Softmax.

    ReLU(max_value=None, negative_slope=0.0, threshold=0.0)
        y = min(x, max_value) where x > threshold, else negative_slope * (x - threshold)
    LeakyReLU(negative_slope=0.3)      y = x if x > 0 else negative_slope * x
    Softmax(axis=-1)                   y = exp(x) / sum(exp(x)) along axis

Note the Keras defaults: the LeakyReLU *layer* uses 0.3, ``keras.activations.leaky_relu`` 0.2.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..ops.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    softmax_backward,
    softmax_forward,
)
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Softmax"]


def _non_negative(value, name: str, where: str, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (numbers.Real, np.floating)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}: expected {name} to be a number >= 0"
                         f"{' or None' if allow_none else ''}. Received: {name}={value!r}")
    return float(value)


class _Elementwise:
    """Mixin: a weightless layer around one activation op pair (``_forward``, ``_backward``)."""

    def call(self, x, training=False):
        y, self._cache = self._forward(x)
        return y

    def call_backward(self, d_out):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return self._backward(d_out, self._cache)


class ReLU(_Elementwise, Layer):
    """Rectified linear unit with Keras's options (all >= 0).

    Derivative: 1 for ``threshold < x < max_value``, ``negative_slope`` for ``x <= threshold``
    (so 0 at x == 0 for the plain ReLU, as PyTorch), 0 for ``x >= max_value``.
    """

    batch_independent = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", self.name, allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", self.name)
        self.threshold = _non_negative(threshold, "threshold", self.name)

    def _forward(self, x):
        return relu_forward(x, self.negative_slope, self.max_value, self.threshold)

    def _backward(self, d_out, cache):
        return relu_backward(d_out, cache)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise, Layer):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (Keras layer default 0.3).

    Keras 2's ``alpha=`` is accepted as an alias of ``negative_slope``.
    """

    batch_independent = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", self.name)

    def _forward(self, x):
        return leaky_relu_forward(x, self.negative_slope)

    def _backward(self, d_out, cache):
        return leaky_relu_backward(d_out, cache)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(_Elementwise, Layer):
    """Softmax along ``axis`` (an int, default -1), in the layout the user passes in."""

    batch_independent = True

    def splits_batch(self, training) -> bool:
        return not self._is_batch_axis(self.axis) and super().splits_batch(training)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (numbers.Integral, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"{self.name}: expected axis to be an int. Received: axis={axis!r}")
        self.axis = int(axis)

    def _check_input_shape(self, shape):
        if not -len(shape) <= self.axis < len(shape):
            raise ValueError(f"{self.name}: axis={self.axis} is out of range for an input of "
                             f"shape {tuple(shape)}")

    def _forward(self, x):
        axis = self.axis
        if self.data_format == "channels_first" and x.ndim == 4:
            # The base class gave us NHWC; find where the user's (NCHW) axis went.
            axis = (0, 2, 3, 1).index(axis % 4)
        return softmax_forward(x, axis)

    def _backward(self, d_out, cache):
        return softmax_backward(d_out, cache)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
