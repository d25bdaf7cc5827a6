"""Keras's 1-D convolution layers, run by the 2-D ones on an ``(N, 1, steps, C)`` view.

    Conv1D(filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
           groups=1, activation=None, ...)            kernel (k, C_in / groups, filters)
    Conv1DTranspose(filters, kernel_size, strides=1, padding="valid", output_padding=None,
                    ...)                              kernel (k, filters, C_in)
    DepthwiseConv1D(kernel_size, strides=1, padding="valid", depth_multiplier=1, ...)
                                                      kernel (k, C_in, depth_multiplier)
    SeparableConv1D(filters, kernel_size, strides=1, padding="valid", data_format=None,
                    dilation_rate=1, depth_multiplier=1, ...)
                           depthwise_kernel (k, C_in, dm), pointwise_kernel (1, C_in * dm, filters)

    input (N, steps, C_in) -> output (N, steps_out, C_out)    ((N, C, steps) with channels_first)

A 1-D convolution is the 2-D one with a kernel one row high over an input one row high: each
layer here is its 2-D twin's code (``npconv.layers.conv._Conv`` ...) with the geometry hooks
of :class:`_Steps`: ``(k,)`` becomes ``(1, k)`` for the ops, the input ``(N, steps, C)``
becomes the view ``(N, 1, steps, C)``, and the weights, kept in Keras's 1-D shapes, are passed
as ``(1, ...)`` views of themselves (their gradients come back in the weights' shapes).

Output steps as Keras: "valid" ``floor((L - d * (k - 1) - 1) / s) + 1``, "same" ``ceil(L / s)``,
"causal" (Conv1D only) ``floor((L - 1) / s) + 1``: the input left-padded with
``d * (k - 1)`` zeros, so that output step t reads input steps <= t * s (WaveNet's causal
convolution; torch's ``conv1d(F.pad(x, (d * (k - 1), 0)))``). Transposed: as
:class:`npconv.layers.Conv2DTranspose` along the steps.
"""

from __future__ import annotations

from ._steps import LAYOUTS, StepsAsRow, as_single
from .conv import _Conv
from .conv_transpose import _ConvTranspose
from .depthwise_conv import _DepthwiseConv, _SeparableConv

__all__ = ["Conv1D", "Conv1DTranspose", "Convolution1D", "DepthwiseConv1D", "SeparableConv1D",
           "SeparableConvolution1D"]


class _Steps(StepsAsRow):
    """The geometry hooks that make a 2-D conv layer (``_WindowConv``'s subclasses) a 1-D one.

    Public attributes are Keras's 1-D ones (``kernel_size == (3,)``, weights of 1-D shapes,
    inputs of rank 3); the 2-D code reads ``_kernel_hw`` ``(1, k)``, ``_op_padding`` ... and
    runs on ``(N, 1, steps, C)``, its "internal" shape (:class:`StepsAsRow` makes the views).
    """

    _rank = 1
    _layouts = LAYOUTS
    _axis_units = ("rows", "steps")  # (error messages: only the steps can be too short)
    _paddings = ("valid", "same")

    def _window_arg(self, value, name, minimum=1):
        """``value``: an int, or a tuple/list of one int (Keras's ``standardize_tuple``)."""
        return as_single(value, name, self._where, minimum=minimum)

    def _parse_padding(self, padding):
        mode = padding.lower() if isinstance(padding, str) else None
        if mode not in self._paddings:
            *others, last = (repr(p) for p in self._paddings)
            allowed = f"{', '.join(others)} or {last}"
            note = ("" if "causal" in self._paddings or mode != "causal"
                    else " ('causal' is Conv1D's only)")
            raise ValueError(f"{self._where}: expected padding to be {allowed}{note}. "
                             f"Received: padding={padding!r}")
        return mode

    def _as_hw(self, values, fill):
        return (fill, *values)

    @property
    def _op_padding(self):
        if self.padding != "causal":
            return self.padding
        return ((0, 0), (self.dilation_rate[0] * (self.kernel_size[0] - 1), 0))

    def _op_value(self, weight):
        return weight.value[None]

    def _weight_grad(self, grad, weight):
        return grad.reshape(weight.shape)


class Conv1D(_Steps, _Conv):
    """1-D convolution layer (Keras semantics), e.g. over time: ``padding`` "valid", "same"
    or "causal"; ``groups`` as in :class:`npconv.layers.Conv2D`.

    Weights in Keras order: ``kernel`` (kernel_size, C_in / groups, filters), then ``bias``
    (filters,). Regularizers and constraints: ``kernel_``/``bias_regularizer``,
    ``activity_regularizer``, ``kernel_``/``bias_constraint``.
    """

    _paddings = ("valid", "same", "causal")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, data_format=data_format,
                         groups=groups, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


class Conv1DTranspose(_Steps, _ConvTranspose):
    """Transposed 1-D convolution layer (Keras semantics): ``padding`` "valid" or "same",
    ``output_padding`` None, an int or a tuple of one int below the stride.

    Weights in Keras order: ``kernel`` (kernel_size, filters, C_in), then ``bias`` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                         **kwargs)


class DepthwiseConv1D(_Steps, _DepthwiseConv):
    """Depthwise 1-D convolution (Keras semantics): each input channel convolved with its own
    ``depth_multiplier`` filters (output channel ``c * depth_multiplier + m``).

    Weights in Keras order: ``kernel`` (kernel_size, C_in, depth_multiplier), then ``bias``
    (C_in * depth_multiplier,).
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


class SeparableConv1D(_Steps, _SeparableConv):
    """Depthwise-separable 1-D convolution (Keras semantics): the depthwise convolution, a
    pointwise (size-1) convolution to ``filters`` channels, then the bias.

    Weights in Keras order: ``depthwise_kernel`` (kernel_size, C_in, depth_multiplier),
    ``pointwise_kernel`` (1, C_in * depth_multiplier, filters), ``bias`` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


Convolution1D = Conv1D  # Keras's aliases
SeparableConvolution1D = SeparableConv1D
