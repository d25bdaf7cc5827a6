"""Activation layers with Keras names and defaults: ReLU, LeakyReLU, Softmax, ELU, PReLU.

    ReLU(max_value=None, negative_slope=0.0, threshold=0.0)
        y = min(x, max_value) where x > threshold, else negative_slope * (x - threshold)
    LeakyReLU(negative_slope=0.3)      y = x if x > 0 else negative_slope * x
    Softmax(axis=-1)                   y = exp(x) / sum(exp(x)) along axis
    ELU(alpha=1.0)                     y = x if x > 0 else alpha * (exp(x) - 1)
    PReLU(shared_axes=None)            y = x if x > 0 else alpha * x, alpha a learned weight

Note the Keras defaults: the LeakyReLU *layer* uses 0.3, ``keras.activations.leaky_relu`` 0.2.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import initializers, regularizers
from ..ops.activations import (
    elu_backward,
    elu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    prelu_backward,
    prelu_forward,
    relu_backward,
    relu_forward,
    softmax_backward,
    softmax_forward,
)
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU"]


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
    """Softmax along ``axis`` (an int, default -1, or as Keras 3 a list of ints: one
    distribution over those axes together), in the layout the user passes in."""

    batch_independent = True

    def splits_batch(self, training) -> bool:
        return not self._is_batch_axis(self.axis) and super().splits_batch(training)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        several = isinstance(axis, (list, tuple))
        items = list(axis) if several else [axis]
        if not items or not all(isinstance(a, (numbers.Integral, np.integer))
                                and not isinstance(a, (bool, np.bool_)) for a in items):
            raise ValueError(f"{self.name}: expected axis to be an int or a list of ints. "
                             f"Received: axis={axis!r}")
        if len(set(items)) != len(items):
            raise ValueError(f"{self.name}: expected distinct axes. Received: axis={axis!r}")
        self.axis = [int(a) for a in items] if several else int(axis)

    def _axes(self) -> list[int]:
        return self.axis if isinstance(self.axis, list) else [self.axis]

    def _check_input_shape(self, shape):
        rank = len(shape)
        axes = self._axes()
        if not all(-rank <= a < rank for a in axes):
            raise ValueError(f"{self.name}: axis={self.axis} is out of range for an input of "
                             f"shape {tuple(shape)}")
        if len({a % rank for a in axes}) != len(axes):
            raise ValueError(f"{self.name}: expected distinct axes for an input of shape "
                             f"{tuple(shape)}. Received: axis={self.axis}")

    def _forward(self, x):
        axes = self._axes()
        if self.data_format == "channels_first" and x.ndim == 4:
            # The base class gave us NHWC; find where the user's (NCHW) axes went.
            axes = [(0, 2, 3, 1).index(a % 4) for a in axes]
        return softmax_forward(x, tuple(axes) if isinstance(self.axis, list) else axes[0])

    def _backward(self, d_out, cache):
        return softmax_backward(d_out, cache)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ELU(_Elementwise, Layer):
    """Keras's ``ELU(alpha=1.0)``: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``
    (torch's ``nn.ELU(alpha)``); derivative 1, or ``alpha * exp(x)`` where x <= 0."""

    batch_independent = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(alpha, (numbers.Real, np.floating)) or isinstance(alpha, bool) \
                or not np.isfinite(alpha):
            raise ValueError(f"{self.name}: expected alpha to be a finite number. "
                             f"Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def _forward(self, x):
        return elu_forward(x, self.alpha)

    def _backward(self, d_out, cache):
        return elu_backward(d_out, cache)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Keras 3's parametric ReLU: ``x`` where x > 0, ``alpha * x`` elsewhere, ``alpha`` a
    trainable weight of the input's shape without the batch axis (Keras's default: one alpha
    per value), of size 1 on ``shared_axes`` (axes of the input, 1 = the first after the
    batch): ``shared_axes=[1, 2]`` after an NHWC convolution learns one alpha per channel,
    torch's ``nn.PReLU(num_parameters=C)``. ``alpha_initializer`` defaults to zeros (Keras;
    torch starts at 0.25); ``alpha_regularizer`` penalises it, ``alpha_constraint``
    (``npconv.constraints``) constrains it after each optimizer update. The input's sizes must stay
    those alpha was built for, except on the shared axes. PReLU works in its input's own
    layout (NCHW maps share over ``[2, 3]``), so it takes no ``data_format``.
    """

    batch_independent = True
    _constraint_args = {"alpha": "alpha"}

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        where = kwargs.get("name") or "PReLU"
        if "data_format" in kwargs:
            raise TypeError(f"{where}: PReLU takes no data_format: it works in its input's "
                            "own layout (for NCHW feature maps, shared_axes=[2, 3])")
        super().__init__(alpha_constraint=alpha_constraint, **kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer, self.name)
        try:
            self.alpha_regularizer = regularizers.get(alpha_regularizer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{self.name}: alpha_regularizer: {err}") from None
        if shared_axes is None:
            self.shared_axes = None
        else:
            items = list(shared_axes) if isinstance(shared_axes, (list, tuple)) \
                else [shared_axes]
            if not all(isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, bool)
                       and a >= 1 for a in items) or len(set(items)) != len(items):
                raise ValueError(f"{self.name}: expected shared_axes to be distinct ints >= 1 "
                                 "(axes of the input after the batch axis). "
                                 f"Received: shared_axes={shared_axes!r}")
            self.shared_axes = [int(a) for a in items]
        self.alpha = None
        self._cache = None

    def _check_input_shape(self, shape):
        rank = len(shape)
        if rank < 2:
            raise ValueError(f"{self.name}: PReLU expects an input of rank >= 2 (batch, ...). "
                             f"Received an input of shape {tuple(shape)}")
        if self.shared_axes and max(self.shared_axes) >= rank:
            raise ValueError(f"{self.name}: shared_axes={self.shared_axes} must name axes of "
                             f"the {rank}-D input after the batch axis (1 to {rank - 1}). "
                             f"Received an input of shape {tuple(shape)}")
        if self.alpha is not None:
            expected = self.alpha.shape
            shared = set(self.shared_axes or ())
            if rank - 1 != len(expected) or any(
                    shape[i] not in (None, expected[i - 1]) for i in range(1, rank)
                    if i not in shared):
                raise ValueError(f"{self.name}: expected an input of shape "
                                 f"(batch, {', '.join(map(str, expected))}) (alpha was built "
                                 f"for it; any size on shared_axes={self.shared_axes}). "
                                 f"Received an input of shape {tuple(shape)}")

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the input's sizes must be known on every axis that "
                             f"is not shared (shared_axes={self.shared_axes}). Received "
                             f"input_shape={tuple(input_shape)}")
        self.alpha = self.add_weight(shape=tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, name="alpha")

    def call(self, x, training=False):
        y, self._cache = prelu_forward(x, self.alpha.value)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        dx, self.alpha.grad = prelu_backward(d_out, self._cache)
        return dx

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes)}
