"""Core layers with Keras names: Dense, Flatten, Dropout, SpatialDropout2D/1D, Activation.

    Dense(units, activation=None)   y = activation(x @ kernel + bias)   kernel (n_in, units)
    Flatten()                       (N, d1, d2, ...) -> (N, d1*d2*...)
    Dropout(rate)                   training: zero a fraction ``rate``, scale the rest by 1/(1-rate)
                                    inference: the identity
    SpatialDropout2D(rate)          Dropout of whole channels (one draw per sample and channel)
    SpatialDropout1D(rate)          the same for sequences (batch, steps, channels)
    Activation(activation)          y = activation(x)
    Identity()                      y = x
    ActivityRegularization(l1, l2)  y = x; adds l1 * sum|y| + l2 * sum(y**2) to the loss

The maths lives in :mod:`npconv.ops.core` and :mod:`npconv.ops.activations`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import initializers, regularizers
from .._checks import positive_int
from ..ops import activations
from ..ops.core import (
    concrete_noise_shape,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
)
from ..random import make_generator
from ._steps import StepsAsRow, refuse_data_format
from .base import Layer

__all__ = ["Dense", "Flatten", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "Activation",
           "Identity", "ActivityRegularization"]


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)`` on the last axis of ``x``.

    Input (N, ..., n_in) -> output (N, ..., units). Weights in Keras order: kernel (n_in, units),
    bias (units,). ``input_dim=n`` / ``input_shape=(n,)`` are accepted as in Keras.
    ``kernel_constraint`` / ``bias_constraint`` (``npconv.constraints``) are applied by the
    optimizer after each update.
    """

    batch_independent = True
    _constraint_args = {"kernel": "kernel", "bias": "bias"}  # Keras's *_constraint arguments

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", f"Dense {self.name}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.kernel = self.bias = None
        self._cache = None

    def _check_input_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.name}: Dense expects an input of rank >= 2 (batch, ..., "
                             f"features). Received an input of shape {tuple(shape)}")
        if self.built and shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected an input with last dimension "
                             f"{self.kernel.shape[0]} (the kernel was built for it). "
                             f"Received an input of shape {tuple(shape)}")

    def build(self, input_shape):
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError(f"{self.name}: the last dimension of the input to Dense must be "
                             f"known. Received input_shape={tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", (n_in, self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = dense_forward(x, self.kernel.value, bias)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        dx, d_kernel, d_bias = dense_backward(d_out, self._cache)
        self.kernel.grad = d_kernel
        if self.use_bias:
            self.bias.grad = d_bias
        return dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Flatten(Layer):
    """Flatten all but the batch axis: (N, d1, d2, ...) -> (N, d1*d2*...); (N,) -> (N, 1).

    As in Keras, ``data_format="channels_first"`` inputs (N, C, ...) are first put in
    channels-last order (N, ..., C), so the flattened vector has the same order for both
    data formats and a following Dense's weights carry over (PyTorch's ``nn.Flatten`` on NCHW
    instead flattens in C, H, W order). Any dtype is kept, integers included.
    """

    batch_independent = True

    keeps_integer_input = True

    def __init__(self, data_format="channels_last", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._cache = None
        self._moved = False

    def call(self, x, training=False):
        # The base class already made 4-D channels_first input NHWC; other ranks are moved here.
        self._moved = self.data_format == "channels_first" and (x.ndim == 3 or x.ndim > 4)
        if self._moved:
            x = np.moveaxis(x, 1, -1)
        y, self._cache = flatten_forward(x)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        dx = flatten_backward(d_out, self._cache)
        return np.moveaxis(dx, -1, 1) if self._moved else dx

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def checked_noise_shape(noise_shape, where: str):
    """A dropout layer's ``noise_shape`` as a tuple (None stays None), or a clear error."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (list, tuple)) or not all(
            n is None or (isinstance(n, (numbers.Integral, np.integer))
                          and not isinstance(n, bool) and n >= 1) for n in noise_shape):
        raise ValueError(f"{where}: expected noise_shape to be a list or tuple of None or "
                         f"ints >= 1. Received: noise_shape={noise_shape!r}")
    return tuple(None if n is None else int(n) for n in noise_shape)


def check_noise_broadcast(noise_shape, shape, where: str) -> None:
    """Refuse a ``noise_shape`` that does not broadcast to an input of ``shape`` (Keras's
    reading: :func:`npconv.ops.core.concrete_noise_shape`)."""
    if noise_shape is not None:
        concrete_noise_shape(noise_shape, shape, where)


def internal_noise_shape(layer, x):
    """A dropout layer's mask shape for ``x`` (in the layer's internal NHWC layout): its
    ``noise_shape`` read against the input as the user gives it, then moved to NHWC;
    None without a ``noise_shape``."""
    if layer.noise_shape is None:
        return None
    user_shape = layer._from_internal_shape(x.shape)
    return layer._to_internal_shape(concrete_noise_shape(layer.noise_shape, user_shape,
                                                         layer.name))


class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability ``rate`` and scale the
    others by ``1 / (1 - rate)``; at inference (``training=False``) the identity.

    ``noise_shape`` (Keras): the mask's shape, broadcast to the input's as
    ``keras.random.dropout`` does (None = the input's size on that axis, counted from the
    first; a shorter shape aligns with the trailing axes), e.g. ``(None, 1, 1, None)`` drops
    whole channels of an NHWC input, ``(1, C)`` the same channels for the whole batch.
    ``seed``: an int gives the layer its own generator (reproducible masks); None draws each
    mask from a child of npconv's shared generator (so ``set_random_seed`` fixes them).
    """

    batch_independent = True

    def splits_batch(self, training) -> bool:
        # While training, the mask is drawn for the whole batch from one generator.
        return not (training and self.rate > 0) and super().splits_batch(training)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        number = isinstance(rate, (numbers.Real, np.floating)) and not isinstance(rate, bool)
        if not number or not 0 <= rate < 1:
            raise ValueError(f"{self.name}: {type(self).__name__} expects rate to be a number "
                             f"in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.noise_shape = checked_noise_shape(noise_shape, self.name)
        if seed is not None and (not isinstance(seed, (numbers.Integral, np.integer))
                                 or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{self.name}: {type(self).__name__} expects seed to be None or a "
                             f"non-negative int. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None  # a seeded layer's own generator, made at its first draw
        self._cache = None

    def _check_input_shape(self, shape):
        check_noise_broadcast(self.noise_shape, shape, self.name)

    def call(self, x, training=False):
        noise_shape = internal_noise_shape(self, x)
        rng = None
        if training and self.rate > 0:  # a draw: only then a generator (none in inference)
            rng = make_generator() if self.seed is None else self.own_generator()
        y, self._cache = dropout_forward(x, self.rate, bool(training), rng, noise_shape)
        return y

    def own_generator(self):
        """A seeded layer's generator (made on first use), or None without a seed."""
        if self.seed is not None and self._rng is None:
            self._rng = make_generator(self.seed)
        return self._rng

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return dropout_backward(d_out, self._cache)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


class _SpatialDropout(Dropout):
    """Shared by SpatialDropout2D and SpatialDropout1D: Dropout with one draw per sample and
    channel of NHWC images (the mask (N, 1, 1, C)); ``noise_shape`` is not an argument."""

    _mask_layout = "(N, 1, 1, C)"

    def __init__(self, rate, seed=None, **kwargs):
        if "noise_shape" in kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): "
                            f"noise_shape (the mask's shape is {self._mask_layout}, from the "
                            "input)")
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, x, training=False):
        # The base class hands us NHWC whatever the data format: one draw per (sample, channel)
        rng = None
        if training and self.rate > 0:
            rng = make_generator() if self.seed is None else self.own_generator()
        y, self._cache = dropout_forward(x, self.rate, bool(training), rng,
                                         (x.shape[0], 1, 1, x.shape[3]))
        return y

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps (Keras's ``SpatialDropout2D``, torch's ``Dropout2d``).

    In training, each channel of each sample is zeroed with probability ``rate`` and the kept
    ones are scaled by ``1 / (1 - rate)``: Dropout with the mask shape (N, 1, 1, C) for NHWC
    input ((N, C, 1, 1) for ``data_format="channels_first"``). At inference the identity.
    ``seed`` as Dropout's: an int gives the layer its own generator; None draws each mask
    from a child of npconv's shared generator. The input must be 4-D.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format=data_format, **kwargs)

    def _check_input_shape(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: SpatialDropout2D expects a 4-D input (batch, rows, "
                             f"cols, channels) or, with data_format='channels_first', (batch, "
                             f"channels, rows, cols). Received an input of shape {tuple(shape)}")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout1D(StepsAsRow, _SpatialDropout):
    """Dropout of whole channels of sequences (Keras's ``SpatialDropout1D``, torch's
    ``Dropout1d``): input ``(batch, steps, channels)``.

    In training, each channel of each sample is zeroed over all its steps with probability
    ``rate`` and the kept ones are scaled by ``1 / (1 - rate)`` (the mask (N, 1, C)); at
    inference the identity. ``seed`` as Dropout's. Keras's SpatialDropout1D takes no
    ``data_format``.
    """

    _mask_layout = "(N, 1, C)"

    def __init__(self, rate, seed=None, **kwargs):
        refuse_data_format(kwargs, "SpatialDropout1D")
        super().__init__(rate, seed=seed, **kwargs)

    def _check_input_shape(self, shape):
        self._check_rank3(shape)


class Activation(Layer):
    """Apply an activation: ``Activation("relu")``, ``Activation(npconv.activations.tanh)``.

    The base class applies ``self.activation`` after ``call`` (here the identity) and
    differentiates it in ``backward``, so this layer's own call is trivial.
    """

    batch_independent = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x, training=False):
        return x

    def call_backward(self, d_out):
        return d_out

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Identity(Layer):
    """Keras's ``Identity``: returns its input (a placeholder, e.g. a block's switched-off
    part); the backward returns the gradient."""

    batch_independent = True

    def call(self, x, training=False):
        return x

    def call_backward(self, d_out):
        return d_out


class ActivityRegularization(Layer):
    """Keras's ``ActivityRegularization(l1=0.0, l2=0.0)``: returns its input and, at each
    call, adds ``l1 * sum(|x|) + l2 * sum(x**2)`` of the whole batch to the training loss
    (``layer.losses``); the backward adds the penalty's gradient to d_out. It is npconv's
    ``activity_regularizer=L1L2(l1, l2)`` (see :mod:`npconv.layers.base`) on an identity, so a
    batch it sees is never split into parts. Its config holds ``l1`` and ``l2``, as Keras's."""

    batch_independent = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        where = kwargs.get("name") or "ActivityRegularization"
        if "activity_regularizer" in kwargs:
            raise TypeError(f"{where}: takes l1 and l2, not activity_regularizer")
        try:
            regularizer = regularizers.L1L2(l1=l1, l2=l2)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        super().__init__(activity_regularizer=regularizer, **kwargs)
        self.l1, self.l2 = regularizer.l1, regularizer.l2

    def call(self, x, training=False):
        return x

    def call_backward(self, d_out):
        return d_out

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
