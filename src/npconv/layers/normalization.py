"""BatchNormalization, LayerNormalization, GroupNormalization and UnitNormalization with
Keras's arguments, defaults and weight order.

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

from .. import initializers, regularizers
from ..ops.norm import (
    batch_norm_backward,
    batch_norm_forward,
    group_norm_backward,
    group_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
    unit_norm_backward,
    unit_norm_forward,
)
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization",
           "UnitNormalization"]


class _ChannelAxis:
    """Mixin of the layers with one channel ``axis`` (Keras's default -1): with
    ``data_format="channels_first"`` the default means the NCHW channels."""

    def _user_axis(self, rank: int) -> int:
        if self.data_format == "channels_first" and rank == 4 and self.axis == -1:
            return 1  # the default axis follows the data format: NCHW channels
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{self.name}: axis={self.axis} must name a non-batch axis of the "
                             f"{rank}-D input")
        return self.axis % rank

    def _checked_axis(self, shape) -> int:
        """The channel axis of an input of ``shape`` in the user's layout (rank >= 2)."""
        if len(shape) < 2:
            raise ValueError(f"{self.name}: {type(self).__name__} expects an input of rank "
                             f">= 2. Received an input of shape {tuple(shape)}")
        return self._user_axis(len(shape))

    def _internal_axis(self, rank: int) -> int:
        """The channel axis in the NHWC layout the base class hands to build and call."""
        axis = self._user_axis(rank)
        if self.data_format == "channels_first" and rank == 4:
            axis = (0, 2, 3, 1).index(axis)
        return axis


class BatchNormalization(_ChannelAxis, Layer):
    """Normalise each channel (along ``axis``, default -1 = channels last).

    Weights, in Keras order: gamma (if ``scale``), beta (if ``center``), moving_mean,
    moving_variance (the last two non-trainable), each of shape (C,).
    ``axis`` is in the caller's layout: ``axis=1`` on a 4-D input means NCHW channels; with
    ``data_format="channels_first"`` the default ``axis=-1`` also means the channels (axis 1).
    """

    batch_independent = True

    _constraint_args = {"beta": "beta", "gamma": "gamma"}  # Keras's *_constraint arguments

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
    def _check_input_shape(self, shape):
        axis = self._checked_axis(shape)
        if self.built and shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(f"{self.name}: expected {self.moving_mean.shape[0]} channels on "
                             f"axis {self.axis}. Received an input of shape {tuple(shape)}")

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self._internal_axis(rank)
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
        config = {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                  "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                  "beta_initializer": initializers.serialize(self.beta_initializer),
                  "gamma_initializer": initializers.serialize(self.gamma_initializer),
                  "moving_mean_initializer":
                      initializers.serialize(self.moving_mean_initializer),
                  "moving_variance_initializer":
                      initializers.serialize(self.moving_variance_initializer)}
        if self.data_format == "channels_first":  # (it moves the default axis: keep it)
            config["data_format"] = self.data_format
        return config


class LayerNormalization(Layer):
    """Normalise each sample over ``axis`` (Keras 3's LayerNormalization)::

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta

    mean and (biased) var over ``axis`` of each sample; gamma (if ``scale``) and beta (if
    ``center``) have the input's sizes on ``axis`` (sorted, e.g. ``axis=[1, 2, 3]`` on
    (N, 20, 30, 40) gives (20, 30, 40)). Same in training and inference; no moving statistics.
    ``axis`` is in the caller's layout (with ``data_format="channels_first"`` a 4-D input's
    axis 1 is its channels). ``axis=-1`` with ``epsilon=eps`` is torch's
    ``F.layer_norm(x, x.shape[-1:], weight, bias, eps)``. The maths: :mod:`npconv.ops.norm`.
    """

    batch_independent = True
    _constraint_args = {"beta": "beta", "gamma": "gamma"}  # Keras's *_constraint arguments

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        items = [axis] if isinstance(axis, (numbers.Integral, np.integer)) else (
            list(axis) if isinstance(axis, (list, tuple)) else [])
        if not items or not all(isinstance(a, (numbers.Integral, np.integer))
                                and not isinstance(a, bool) for a in items) \
                or len(set(items)) != len(items):
            raise ValueError(f"{self.name}: LayerNormalization expects axis to be an int or a "
                             f"list of distinct ints. Received: axis={axis!r}")
        self.axis = int(axis) if isinstance(axis, (numbers.Integral, np.integer)) \
            else [int(a) for a in items]
        if not isinstance(epsilon, numbers.Real) or isinstance(epsilon, bool) \
                or not epsilon > 0:
            raise ValueError(f"{self.name}: expected epsilon > 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer, self.name)
        self.gamma_initializer = initializers.get(gamma_initializer, self.name)
        self.gamma = self.beta = None
        self._cache = None
        self._axes = None

    def _user_axes(self, rank: int) -> tuple:
        items = [self.axis] if isinstance(self.axis, int) else self.axis
        if not all(-rank <= a < rank and a % rank != 0 for a in items) \
                or len({a % rank for a in items}) != len(items):
            raise ValueError(f"{self.name}: axis={self.axis} must name distinct non-batch axes "
                             f"of the {rank}-D input")
        return tuple(sorted(a % rank for a in items))

    def _transposed(self, rank: int) -> bool:
        # The base class hands 4-D channels_first input over as NHWC: normalise in NCHW.
        return self.data_format == "channels_first" and rank == 4

    def _check_input_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: LayerNormalization expects an input of rank >= 2 "
                             f"(batch, ...). Received an input of shape {tuple(shape)}")
        axes = self._user_axes(len(shape))
        if self.built:
            expected = self._param_shape
            got = tuple(shape[a] for a in axes)
            if got != expected:
                raise ValueError(f"{self.name}: expected sizes {expected} on axis {self.axis} "
                                 f"(the weights were built for them). Received an input of "
                                 f"shape {tuple(shape)}")

    def build(self, input_shape):
        shape = (tuple(input_shape[i] for i in (0, 3, 1, 2))
                 if self._transposed(len(input_shape)) else tuple(input_shape))
        self._axes = self._user_axes(len(shape))
        param_shape = tuple(shape[a] for a in self._axes)
        if any(d is None for d in param_shape):
            raise ValueError(f"{self.name}: the input's sizes on axis {self.axis} must be "
                             f"known. Received input_shape={shape}")
        self._param_shape = param_shape
        if self.scale:
            self.gamma = self.add_weight("gamma", param_shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", param_shape, self.beta_initializer)

    def call(self, x, training=False):
        transposed = self._transposed(x.ndim)
        if transposed:
            x = x.transpose(0, 3, 1, 2)
        y, self._cache = layer_norm_forward(
            x, None if self.gamma is None else self.gamma.value,
            None if self.beta is None else self.beta.value, self._axes, self.epsilon)
        return y.transpose(0, 2, 3, 1) if transposed else y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        d_out = np.asarray(d_out)
        transposed = self._transposed(d_out.ndim)
        if transposed:
            d_out = d_out.transpose(0, 3, 1, 2)
        dx, d_gamma, d_beta = layer_norm_backward(d_out, self._cache)
        if self.gamma is not None:
            self.gamma.grad = d_gamma
        if self.beta is not None:
            self.beta.grad = d_beta
        return dx.transpose(0, 2, 3, 1) if transposed else dx

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


class GroupNormalization(_ChannelAxis, Layer):
    """Keras 3's GroupNormalization (Wu & He 2018): the ``C`` channels on ``axis`` are cut into
    ``groups`` blocks of consecutive channels, and each sample's block is normalised over its
    channels and all other non-batch axes::

        y = gamma * (x - mean) / sqrt(var + epsilon) + beta       gamma, beta: (C,)

    Same in training and inference (per sample: a batch may run in parts). ``groups=-1``
    means one group per channel (instance normalization), ``groups=1`` the whole sample. For
    NCHW input give ``axis=1`` (as in Keras), or ``data_format="channels_first"``, with which
    the default ``axis=-1`` means the channels (as BatchNormalization's). Weights: gamma (if
    ``scale``), beta (if ``center``). torch's ``F.group_norm(x, groups, weight, bias, eps)``
    on NCHW. ``beta_constraint`` / ``gamma_constraint``: ``npconv.constraints``. The maths:
    :mod:`npconv.ops.norm`.
    """

    batch_independent = True
    _constraint_args = {"beta": "beta", "gamma": "gamma"}  # Keras's *_constraint arguments

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(beta_constraint=beta_constraint, gamma_constraint=gamma_constraint,
                         **kwargs)
        if not _is_int(groups) or not (groups >= 1 or groups == -1):
            raise ValueError(f"{self.name}: GroupNormalization expects groups to be an int "
                             f">= 1, or -1 (one group per channel). Received: groups={groups!r}")
        self.groups = int(groups)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if not _is_int(axis):
            raise ValueError(f"{self.name}: GroupNormalization expects axis to be one int (the "
                             f"channel axis). Received: axis={axis!r}")
        self.axis = int(axis)
        if not isinstance(epsilon, numbers.Real) or isinstance(epsilon, bool) \
                or not epsilon > 0:
            raise ValueError(f"{self.name}: expected epsilon > 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer, self.name)
        self.gamma_initializer = initializers.get(gamma_initializer, self.name)
        for name, value in (("beta_regularizer", beta_regularizer),
                            ("gamma_regularizer", gamma_regularizer)):
            try:
                setattr(self, name, regularizers.get(value))
            except (TypeError, ValueError) as err:
                raise type(err)(f"{self.name}: {name}: {err}") from None
        self.gamma = self.beta = None
        self._cache = None
        self._inner_axis = None
        self._groups = None


    def _check_input_shape(self, shape):
        axis = self._checked_axis(shape)
        dim = shape[axis]
        if dim is None:
            raise ValueError(f"{self.name}: axis {self.axis} of the input should have a "
                             f"defined dimension. Received an input of shape {tuple(shape)}")
        if self._groups is not None:
            if len(shape) != self._rank:
                raise ValueError(f"{self.name}: expected a {self._rank}-D input (the weights "
                                 f"were built for one). Received an input of shape "
                                 f"{tuple(shape)}")
            if dim != self._channels:
                raise ValueError(f"{self.name}: expected {self._channels} channels on axis "
                                 f"{self.axis} (the weights were built for them). Received an "
                                 f"input of shape {tuple(shape)}")
            return
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ValueError(f"{self.name}: the number of groups ({groups}) cannot be more "
                             f"than the number of channels ({dim}) on axis {self.axis}. "
                             f"Received an input of shape {tuple(shape)}")
        if dim % groups:
            raise ValueError(f"{self.name}: the number of groups ({groups}) must divide the "
                             f"number of channels ({dim}) on axis {self.axis}. Received an "
                             f"input of shape {tuple(shape)}")

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self._internal_axis(rank)
        self._inner_axis, self._rank = axis, rank
        self._channels = dim = input_shape[axis]
        self._groups = dim if self.groups == -1 else self.groups
        if self.scale:
            self.gamma = self.add_weight(shape=(dim,), initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape=(dim,), initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, name="beta")

    def call(self, x, training=False):
        y, self._cache = group_norm_forward(
            x, None if self.gamma is None else self.gamma.value,
            None if self.beta is None else self.beta.value, self._groups, self._inner_axis,
            self.epsilon)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        dx, d_gamma, d_beta = group_norm_backward(d_out, self._cache)
        if self.gamma is not None:
            self.gamma.grad = d_gamma
        if self.beta is not None:
            self.beta.grad = d_beta
        return dx

    def get_config(self):
        config = {**super().get_config(), "groups": self.groups, "axis": self.axis,
                  "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                  "beta_initializer": initializers.serialize(self.beta_initializer),
                  "gamma_initializer": initializers.serialize(self.gamma_initializer),
                  "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                  "gamma_regularizer": regularizers.serialize(self.gamma_regularizer)}
        if self.data_format == "channels_first":  # (it moves the default axis: keep it)
            config["data_format"] = self.data_format
        return config


class UnitNormalization(Layer):
    """Keras 3's UnitNormalization: each sample scaled to an L2 norm of 1 over ``axis`` (an
    int or a list of ints, in the caller's layout)::

        y = x / sqrt(max(sum(x**2), 1e-12))

    (torch's ``F.normalize(x, dim=axis)`` divides by ``max(norm, 1e-12)``: the same wherever
    ``sum(x**2) >= 1e-12``.) No weights; the same in training and inference.
    """

    batch_independent = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not items or not all(_is_int(a) for a in items) or len(set(items)) != len(items):
            raise TypeError(f"{self.name}: invalid value for axis: expected an int or a "
                            f"list/tuple of distinct ints. Received: axis={axis!r}")
        self.axis = [int(a) for a in items] if isinstance(axis, (list, tuple)) else int(axis)
        self._cache = None

    def _user_axes(self, rank: int) -> tuple:
        items = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-rank <= a < rank and a % rank != 0 for a in items) \
                or len({a % rank for a in items}) != len(items):
            raise ValueError(f"{self.name}: axis={self.axis} must name distinct non-batch axes "
                             f"of the {rank}-D input")
        return tuple(a % rank for a in items)

    def _check_input_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: UnitNormalization expects an input of rank >= 2 "
                             f"(batch, ...). Received an input of shape {tuple(shape)}")
        self._user_axes(len(shape))

    def _inner_axes(self, rank: int) -> tuple:
        axes = self._user_axes(rank)
        if self.data_format == "channels_first" and rank == 4:  # the base hands us NHWC
            axes = tuple((0, 2, 3, 1).index(a) for a in axes)
        return axes

    def call(self, x, training=False):
        y, self._cache = unit_norm_forward(x, self._inner_axes(x.ndim), 1e-12)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return unit_norm_backward(d_out, self._cache)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
