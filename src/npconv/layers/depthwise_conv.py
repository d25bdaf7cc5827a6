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

import math

from .. import initializers, regularizers
from .._checks import positive_int
from ..ops.depthwise_conv import (
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from .conv import _WindowConv

__all__ = ["DepthwiseConv2D", "SeparableConv2D"]


def _regularizer(identifier, name, where):
    try:
        return regularizers.get(identifier)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{where}: {name}: {err}") from None


class _DepthwiseConv(_WindowConv):
    """The depthwise convolution of :class:`DepthwiseConv2D` and ``DepthwiseConv1D``
    (:mod:`npconv.layers.conv1d`) over :func:`depthwise_conv2d_forward`."""

    _kernel_weight = "kernel"
    _constraint_args = {"depthwise": "kernel", "bias": "bias"}

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        where = self._where
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", where)
        self.depthwise_initializer = initializers.get(depthwise_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.depthwise_regularizer = _regularizer(depthwise_regularizer,
                                                  "depthwise_regularizer", where)
        self.kernel = None

    def _out_channels(self, c_in):
        return None if c_in is None else c_in * self.depth_multiplier

    def _forward_cost(self, batch_size, out_values):
        """(multiply-adds, patch-matrix values): k per output value (one input channel's
        window); no patch matrix (a sum over the kernel offsets)."""
        return out_values * math.prod(self.kernel.shape[:-2]), 0

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
        y, self._cache = depthwise_conv2d_forward(x, self._op_value(self.kernel), bias,
                                                  self._strides_hw, self._op_padding,
                                                  self._dilation_hw)
        return y

    def call_backward(self, d_out):
        dx, d_kernel, d_bias = depthwise_conv2d_backward(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self._store_gradients(d_kernel, d_bias)
        return dx

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_args())}, name={self.name!r})"


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution (Keras semantics, NHWC inside).

    Weights in Keras order: ``kernel`` (kh, kw, C_in, depth_multiplier), then ``bias``
    (C_in * depth_multiplier,). ``depthwise_regularizer`` penalises the kernel,
    ``depthwise_constraint`` constrains it (``npconv.constraints``; ``bias_constraint`` too).
    """


class _SeparableConv(_WindowConv):
    """The depthwise-separable convolution of :class:`SeparableConv2D` and
    ``SeparableConv1D`` (:mod:`npconv.layers.conv1d`) over :func:`separable_conv2d_forward`."""

    _kernel_weight = "depthwise_kernel"
    _constraint_args = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel",
                        "bias": "bias"}

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        where = self._where
        self.filters = positive_int(filters, "filters", where)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", where)
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

    def _forward_cost(self, batch_size, out_values):
        """(multiply-adds, patch-matrix values): the depthwise step's k per value of its
        C_in * depth_multiplier channels, then the pointwise step's C_in * depth_multiplier per
        output value, whose patch matrix is the depthwise output."""
        positions = out_values // self.filters
        shape = self.depthwise_kernel.shape
        channels = shape[-2] * shape[-1]
        return positions * channels * (math.prod(shape[:-2]) + self.filters), positions * channels

    def build(self, input_shape):
        c_in = input_shape[-1]
        dm = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, c_in, dm), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self._rank + (c_in * dm, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = separable_conv2d_forward(
            x, self._op_value(self.depthwise_kernel), self._op_value(self.pointwise_kernel),
            bias, self._strides_hw, self._op_padding, self._dilation_hw)
        return y

    def call_backward(self, d_out):
        dx, d_depthwise, d_pointwise, d_bias = separable_conv2d_backward(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self.depthwise_kernel.grad = self._weight_grad(d_depthwise, self.depthwise_kernel)
        self.pointwise_kernel.grad = self._weight_grad(d_pointwise, self.pointwise_kernel)
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
        return (f"{type(self).__name__}({self.filters}, {', '.join(self._repr_args())}, "
                f"name={self.name!r})")


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution (Keras semantics, NHWC inside): a depthwise
    convolution, then a 1x1 convolution to ``filters`` channels, then the bias.

    Weights in Keras order: ``depthwise_kernel`` (kh, kw, C_in, depth_multiplier),
    ``pointwise_kernel`` (1, 1, C_in * depth_multiplier, filters), ``bias`` (filters,).
    """
