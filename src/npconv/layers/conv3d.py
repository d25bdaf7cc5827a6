"""Conv3D: Keras's 3-D convolution layer (volumes, video) over :mod:`npconv.ops.conv3d`.

    Conv3D(filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True, ...)
    input (N, D, H, W, C_in) -> output (N, D_out, H_out, W_out, filters)
                                                (N, C, D, H, W) with channels_first
    y = activation(conv3d(x, kernel) + bias)    kernel (kd, kh, kw, C_in / groups, filters)

Output size per axis as the 2-D layer's: "valid" ``floor((n - d * (k - 1) - 1) / s) + 1``,
"same" ``ceil(n / s)`` (the odd pixel of padding at the end, as Keras). Besides Keras's
strings, ``padding`` may be an int, a triple or ``((front, back), (top, bottom), (left,
right))``, as the 2-D layer takes explicit pads.

The layer is :class:`npconv.layers.conv._Conv` (weights, arguments, config, the summary's
cost) with 3-D geometry and its own two passes over the 3-D op. Inside it works in NDHWC;
``channels_first`` arrays are transposed at the boundary by the volume layers' mixin
:class:`npconv.layers._volumes.VolumeLayout` (the base Layer transposes only 4-D ones).
"""

from __future__ import annotations

from ..ops.conv3d import conv3d_backward, conv3d_forward, normalize_pads3d, resolve_padding3d
from ._volumes import VolumeLayout
from .conv import _Conv, _output_size

__all__ = ["Conv3D", "Convolution3D"]


class _VolumeConv(_Conv):
    """The 3-D convolution's own geometry (padding strings or explicit pads as triples, the
    output size) and its two passes over the 3-D op, in NDHWC: :class:`VolumeLayout` (before
    it in :class:`Conv3D`) moves ``channels_first`` arrays around ``call`` and
    ``call_backward``."""

    def _parse_padding(self, padding):
        if isinstance(padding, str):
            if padding.lower() not in ("valid", "same"):
                raise ValueError(f"{self._where}: expected padding to be 'valid', 'same' or "
                                 f"explicit pads. Received: padding={padding!r}")
            return padding.lower()
        return normalize_pads3d(padding, self._where, modes="'valid', 'same', ")

    def _pads(self, *sizes):
        return resolve_padding3d(self.padding, tuple(s or 1 for s in sizes), self.kernel_size,
                                 self.strides, self.dilation_rate, self._where)

    def compute_output_shape(self, input_shape):
        """The NDHWC output shape of an NDHWC ``input_shape`` (as the 2-D layers: in the
        layer's internal layout)."""
        n, *sizes, c = input_shape
        pads = self._pads(*sizes)
        return (n, *(_output_size(size, k, s, d, p) for size, k, s, d, p in zip(
            sizes, self.kernel_size, self.strides, self.dilation_rate, pads, strict=True)),
            self._out_channels(c))

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        y, self._cache = conv3d_forward(x, self.kernel.value, bias, self.strides, self.padding,
                                        self.dilation_rate, groups=self.groups)
        return y

    def call_backward(self, d_out):
        dx, d_kernel, d_bias = conv3d_backward(
            d_out, self._backward_cache(), need_dx=getattr(self, "need_input_grad", True))
        self._store_gradients(d_kernel, d_bias)
        return dx


class Conv3D(VolumeLayout, _VolumeConv):
    """3-D convolution layer (Keras semantics, NDHWC inside).

    Weights in Keras order: ``kernel`` (kd, kh, kw, C_in / groups, filters), then ``bias``
    (filters,). ``groups`` must divide ``filters`` (checked here) and the input channels (at
    build). Regularizers and constraints: ``kernel_``/``bias_regularizer``,
    ``activity_regularizer``, ``kernel_``/``bias_constraint``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
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


Convolution3D = Conv3D  # Keras's alias
