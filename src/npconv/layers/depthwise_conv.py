"""DepthwiseConv2D and SeparableConv2D: Keras's layers over :mod:`npconv.ops.depthwise_conv`.

    DepthwiseConv2D(kernel_size, strides=1, padding="valid", depth_multiplier=1, ...)
    input (N, H, W, C) -> output (N, H_out, W_out, C * depth_multiplier)
    kernel (kh, kw, C, depth_multiplier), bias (C * depth_multiplier,); output channel
    c * depth_multiplier + m is input channel c's filter m (torch's groups=C order)

    SeparableConv2D(filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, ...)
    input (N, H, W, C) -> depthwise (as above, no bias) -> 1x1 conv -> (N, H_out, W_out, filters)
    depthwise_kernel (kh, kw, C, depth_multiplier), pointwise_kernel (1, 1, C * dm, filters),
    bias (filters,)

Output size, padding forms and data_format as in :class:`npconv.layers.Conv2D`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import initializers, regularizers
from .._checks import as_pair
from ..ops import activations
from ..ops.depthwise_conv import (
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from ..ops.padding import resolve_padding
from .base import Layer
from .conv import _check_padding, _output_size, check_kernel_fits

__all__ = ["DepthwiseConv2D", "SeparableConv2D"]


def _positive_int(value, name, where):
    if (not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool)
            or value < 1):
        raise ValueError(f"{where}: expected {name} to be a positive int. "
                         f"Received: {name}={value!r}")
    return int(value)


def _regularizer(identifier, name, where):
    try:
        return regularizers.get(identifier)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{where}: {name}: {err}") from None


class _WindowConv(Layer):
    """What the windowed convolutions share: geometry arguments, input checks, output size,
    the common part of get_config and repr. Subclasses set ``_kernel_weight`` (the weight
    whose axis ``_kernel_in_axis`` is the input's channels) and ``_out_channels``."""

    batch_independent = True
    _kernel_in_axis = 2

    def __init__(self, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                 data_format, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        where = self._where
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.strides = as_pair(strides, "strides", where)
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", where)
        self.padding = _check_padding(padding, where)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias = None
        self._cache = None

    @property
    def _where(self):
        return f"{type(self).__name__} {self.name}"

    def _pads(self, height, width):
        return resolve_padding(self.padding, (height or 1, width or 1), self.kernel_size,
                               self.strides, self.dilation_rate, self._where)

    def _check_input_shape(self, shape):
        shape = tuple(shape)
        kind = type(self).__name__
        if len(shape) != 4:
            layout = ("(batch, channels, height, width)" if self.data_format == "channels_first"
                      else "(batch, height, width, channels)")
            raise ValueError(f"{self.name}: {kind} expects a 4-D input {layout}. "
                             f"Received an input of shape {shape}")
        _, h, w, c = self._to_internal_shape(shape)
        if c is None:
            raise ValueError(f"{self.name}: the channel dimension of the input to {kind} must "
                             f"be known. Received an input of shape {shape}")
        kernel = getattr(self, self._kernel_weight, None)
        if self.built and c != kernel.shape[self._kernel_in_axis]:
            raise ValueError(f"{self.name}: expected an input with "
                             f"{kernel.shape[self._kernel_in_axis]} channels "
                             f"(the {self._kernel_weight} {kernel.shape} was built for it). "
                             f"Received an input of shape {shape} with {c} channels")
        self._check_fits(shape, h, w)

    def _check_fits(self, shape, h, w):
        check_kernel_fits(self, shape, h, w)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        pads = self._pads(h, w)
        return (n,
                _output_size(h, self.kernel_size[0], self.strides[0], self.dilation_rate[0],
                             pads[0]),
                _output_size(w, self.kernel_size[1], self.strides[1], self.dilation_rate[1],
                             pads[1]),
                self._out_channels(c))

    def _backward_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return self._cache

    def get_config(self):
        padding = (self.padding if isinstance(self.padding, str)
                   else [list(p) for p in self.padding])
        return {**super().get_config(), "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": padding,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "data_format": self.data_format}

    def _repr_args(self):
        args = [f"kernel_size={self.kernel_size}"]
        if self.strides != (1, 1):
            args.append(f"strides={self.strides}")
        if self.padding != "valid":
            args.append(f"padding={self.padding!r}")
        if self.dilation_rate != (1, 1):
            args.append(f"dilation_rate={self.dilation_rate}")
        if getattr(self, "depth_multiplier", 1) != 1:
            args.append(f"depth_multiplier={self.depth_multiplier}")
        if self.activation is not None:
            args.append(f"activation={activations.serialize(self.activation)!r}")
        if not self.use_bias:
            args.append("use_bias=False")
        if self.data_format != "channels_last":
            args.append(f"data_format={self.data_format!r}")
        return args


class DepthwiseConv2D(_WindowConv):
    """Depthwise 2-D convolution (Keras semantics, NHWC inside).

    Weights in Keras order: ``kernel`` (kh, kw, C_in, depth_multiplier), then ``bias``
    (C_in * depth_multiplier,). ``depthwise_regularizer`` penalises the kernel.
    """

    _kernel_weight = "kernel"

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        where = self._where
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", where)
        self.depthwise_initializer = initializers.get(depthwise_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.depthwise_regularizer = _regularizer(depthwise_regularizer,
                                                  "depthwise_regularizer", where)
        self.kernel = None

    def _out_channels(self, c_in):
        return None if c_in is None else c_in * self.depth_multiplier

    def build(self, input_shape):
        c_in = input_shape[-1]
        self.kernel = self.add_weight("kernel", (*self.kernel_size, c_in, self.depth_multiplier),
                                      self.depthwise_initializer,
                                      regularizer=self.depthwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (c_in * self.depth_multiplier,),
                                        self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = depthwise_conv2d_forward(x, self.kernel.value, bias, self.strides,
                                                  self.padding, self.dilation_rate)
        return y

    def call_backward(self, d_out):
        dx, d_kernel, d_bias = depthwise_conv2d_backward(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self.kernel.grad = d_kernel
        if self.use_bias:
            self.bias.grad = d_bias
        return dx

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer)}

    def __repr__(self) -> str:
        return f"DepthwiseConv2D({', '.join(self._repr_args())}, name={self.name!r})"


class SeparableConv2D(_WindowConv):
    """Depthwise-separable 2-D convolution (Keras semantics, NHWC inside): a depthwise
    convolution, then a 1x1 convolution to ``filters`` channels, then the bias.

    Weights in Keras order: ``depthwise_kernel`` (kh, kw, C_in, depth_multiplier),
    ``pointwise_kernel`` (1, 1, C_in * depth_multiplier, filters), ``bias`` (filters,).
    """

    _kernel_weight = "depthwise_kernel"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        where = self._where
        self.filters = _positive_int(filters, "filters", where)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", where)
        self.depthwise_initializer = initializers.get(depthwise_initializer, self.name)
        self.pointwise_initializer = initializers.get(pointwise_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.depthwise_regularizer = _regularizer(depthwise_regularizer,
                                                  "depthwise_regularizer", where)
        self.pointwise_regularizer = _regularizer(pointwise_regularizer,
                                                  "pointwise_regularizer", where)
        self.depthwise_kernel = self.pointwise_kernel = None

    def _out_channels(self, c_in):
        return self.filters

    def build(self, input_shape):
        c_in = input_shape[-1]
        dm = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, c_in, dm), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, c_in * dm, self.filters), self.pointwise_initializer,
            regularizer=self.pointwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = separable_conv2d_forward(
            x, self.depthwise_kernel.value, self.pointwise_kernel.value, bias, self.strides,
            self.padding, self.dilation_rate)
        return y

    def call_backward(self, d_out):
        dx, d_depthwise, d_pointwise, d_bias = separable_conv2d_backward(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self.depthwise_kernel.grad = d_depthwise
        self.pointwise_kernel.grad = d_pointwise
        if self.use_bias:
            self.bias.grad = d_bias
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer)}

    def __repr__(self) -> str:
        return (f"SeparableConv2D({self.filters}, {', '.join(self._repr_args())}, "
                f"name={self.name!r})")
