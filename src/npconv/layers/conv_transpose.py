"""Conv2DTranspose: Keras's transposed convolution over :mod:`npconv.ops.conv_transpose`.

    Conv2DTranspose(filters, kernel_size, strides=1, padding="valid", output_padding=None, ...)
    input (N, H, W, C_in) -> output (N, H_out, W_out, filters)     (NCHW with channels_first)
    kernel (kh, kw, filters, C_in) (Keras's order), bias (filters,)

Output size (Keras): "valid": ``H * s + max(d * (k - 1) + 1 - s, 0)``, "same": ``H * s``;
with ``output_padding=p``: ``(H - 1) * s + d * (k - 1) + 1 - 2 * pad + p`` (pad 0 for
"valid", ``(d * (k - 1) + 1) // 2`` for "same").
"""

from __future__ import annotations

import math

from .. import initializers
from .._checks import positive_int
from ..ops.conv_transpose import (
    _check_mode,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
    conv_transpose_output_size,
)
from .conv import _WindowConv

__all__ = ["Conv2DTranspose"]


class _ConvTranspose(_WindowConv):
    """The transposed convolution of :class:`Conv2DTranspose`, ``Conv1DTranspose``
    (:mod:`npconv.layers.conv1d`, over the 2-D op) and ``Conv3DTranspose``
    (:mod:`npconv.layers.conv3d_transpose`, which sets the three op hooks below to the 3-D
    op's)."""

    _forward_op = staticmethod(conv2d_transpose_forward)
    _backward_op = staticmethod(conv2d_transpose_backward)
    _output_size_op = staticmethod(conv_transpose_output_size)
    _kernel_weight = "kernel"
    _kernel_in_axis = -1
    _constraint_args = {"kernel": "kernel", "bias": "bias"}  # Keras's *_constraint arguments

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        where = f"{type(self).__name__} {kwargs.get('name') or ''}".strip()
        _check_mode(padding, where)
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        where = self._where
        self.filters = positive_int(filters, "filters", where)
        self.output_padding = (None if output_padding is None
                               else self._window_arg(output_padding, "output_padding",
                                                     minimum=0))
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides, strict=True)):
            raise ValueError(f"{where}: strides must be greater than output_padding. "
                             f"Received strides={self.strides}, "
                             f"output_padding={self.output_padding}")
        self.kernel_initializer = initializers.get(kernel_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.kernel = None

    def _out_channels(self, c_in):
        return self.filters

    def _forward_cost(self, batch_size, out_values):
        """(multiply-adds, patch-matrix values): each input value times its (k, filters)
        window of the kernel; no patch matrix (the forward is conv2d's col2im)."""
        in_values = batch_size * math.prod(d for d in self.input_shape[1:] if d is not None)
        return in_values * math.prod(self.kernel.shape[:-1]), 0

    @property
    def _output_padding_hw(self):
        return None if self.output_padding is None else self._as_hw(self.output_padding, 0)

    def _check_fits(self, shape, *sizes):
        empty = [unit for unit, size in zip(self._axis_units, sizes, strict=True) if size == 0]
        if empty:  # (the formulas would give an output of bias values from no input)
            raise ValueError(f"{self.name}: {type(self).__name__} expected an input without an "
                             f"empty spatial axis (0 {empty[0]}). Received an input of shape "
                             f"{shape}")
        if None not in sizes:
            try:
                self._output_sizes(*sizes)
            except ValueError:  # (in the layer's own geometry: the op's may be 2-D)
                raise ValueError(
                    f"{self.name}: {type(self).__name__} with kernel_size={self.kernel_size}, "
                    f"strides={self.strides}, padding={self.padding!r}, output_padding="
                    f"{self.output_padding}, dilation_rate={self.dilation_rate}: the output "
                    f"would be empty. Received an input of shape {shape}") from None

    def _output_sizes(self, *sizes):
        return self._output_size_op(sizes, self._kernel_hw, self._strides_hw, self.padding,
                                    self._output_padding_hw, self._dilation_hw, self._where)

    def compute_output_shape(self, input_shape):
        n, *sizes, _ = input_shape
        return (n, *self._output_sizes(*sizes), self.filters)

    def build(self, input_shape):
        c_in = input_shape[-1]
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, c_in),
                                      self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = self._forward_op(x, self._op_value(self.kernel), bias,
                                          self._strides_hw, self.padding,
                                          self._output_padding_hw, self._dilation_hw)
        return y

    def call_backward(self, d_out):
        dx, d_kernel, d_bias = self._backward_op(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self._store_gradients(d_kernel, d_bias)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "output_padding": (None if self.output_padding is None
                                   else list(self.output_padding)),
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    def __repr__(self) -> str:
        args = self._repr_args()
        if self.output_padding is not None:
            args.append(f"output_padding={self.output_padding}")
        return f"{type(self).__name__}({self.filters}, {', '.join(args)}, name={self.name!r})"


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution layer (Keras semantics, NHWC inside).

    Weights in Keras order: ``kernel`` (kh, kw, filters, C_in), then ``bias`` (filters,).
    ``padding`` is Keras's "valid" or "same"; ``output_padding`` None, an int or a pair,
    each below its stride.
    """
