"""BatchNormalization with Keras's arguments, defaults and weight order.

    y = gamma * (x - mean) / sqrt(var + epsilon) + beta     per channel (the ``axis``)

``training=True``: mean/var of the batch (over every other axis), and the moving statistics
are updated in place: ``moving = moving * momentum + batch * (1 - momentum)`` (Keras uses the
biased batch variance here; PyTorch's ``running_var`` the unbiased one, and PyTorch's
``momentum`` is ``1 - momentum``). ``training=False``: the moving statistics.
As in Keras 2.1+, a layer with ``trainable=False`` always runs in inference mode.
The maths lives in :mod:`npconv.ops.norm`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import initializers
from ..ops.norm import batch_norm_backward, batch_norm_forward
from .base import Layer

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalise each channel (along ``axis``, default -1 = channels last).

    Weights, in Keras order: gamma (if ``scale``), beta (if ``center``), moving_mean,
    moving_variance (the last two non-trainable), each of shape (C,).
    ``axis`` is in the caller's layout: ``axis=1`` on a 4-D input means NCHW channels; with
    ``data_format="channels_first"`` the default ``axis=-1`` also means the channels (axis 1).
    """

    batch_independent = True

    def splits_batch(self, training) -> bool:
        # While training, it normalizes with statistics of the whole batch.
        return not training and super().splits_batch(training)

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not isinstance(axis, (numbers.Integral, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"{self.name}: BatchNormalization expects axis to be one int (the "
                             f"channel axis). Received: axis={axis!r}")
        self.axis = int(axis)
        if not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"{self.name}: expected momentum in [0, 1]. "
                             f"Received: momentum={momentum!r}")
        if not isinstance(epsilon, numbers.Real) or not epsilon > 0:
            raise ValueError(f"{self.name}: expected epsilon > 0. Received: epsilon={epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer, self.name)
        self.gamma_initializer = initializers.get(gamma_initializer, self.name)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, self.name)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer,
                                                            self.name)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._cache = None
        self._inner_axis = None

    # ------------------------------------------------------------------ shapes
    def _user_axis(self, rank: int) -> int:
        if self.data_format == "channels_first" and rank == 4 and self.axis == -1:
            return 1  # the default axis follows the data format: NCHW channels
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{self.name}: axis={self.axis} must name a non-batch axis of the "
                             f"{rank}-D input")
        return self.axis % rank

    def _check_input_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: BatchNormalization expects an input of rank >= 2. "
                             f"Received an input of shape {tuple(shape)}")
        axis = self._user_axis(len(shape))
        if self.built and shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(f"{self.name}: expected {self.moving_mean.shape[0]} channels on "
                             f"axis {self.axis}. Received an input of shape {tuple(shape)}")

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self._user_axis(rank)
        if self.data_format == "channels_first" and rank == 4:
            axis = (0, 2, 3, 1).index(axis)  # the base class hands us NHWC
        self._inner_axis = axis
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis {self.axis} of the input must be "
                             f"known. Received input_shape={tuple(input_shape)}")
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)

    # ------------------------------------------------------------------ passes
    def call(self, x, training=False):
        training = bool(training) and self.trainable
        last = self._inner_axis == x.ndim - 1
        if not last:  # normalise over every axis but the channel one: put it last
            x = np.moveaxis(x, self._inner_axis, -1)
        y, self._cache = batch_norm_forward(
            x,
            None if self.gamma is None else self.gamma.value,
            None if self.beta is None else self.beta.value,
            self.moving_mean.value, self.moving_variance.value,
            training, self.momentum, self.epsilon,
        )
        if training:
            self.moving_mean.assign(self._cache.new_moving_mean, self.name)
            self.moving_variance.assign(self._cache.new_moving_var, self.name)
        return y if last else np.moveaxis(y, -1, self._inner_axis)

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        d_out = np.asarray(d_out)
        last = self._inner_axis == d_out.ndim - 1
        if not last:
            d_out = np.moveaxis(d_out, self._inner_axis, -1)
        dx, d_gamma, d_beta = batch_norm_backward(d_out, self._cache)
        if self.gamma is not None:
            self.gamma.grad = d_gamma
        if self.beta is not None:
            self.beta.grad = d_beta
        return dx if last else np.moveaxis(dx, -1, self._inner_axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer)}
