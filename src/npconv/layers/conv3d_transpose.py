"""Conv3DTranspose: Keras's transposed 3-D convolution layer (volume decoders: 3-D
autoencoders, segmentation networks) over :mod:`npconv.ops.conv3d_transpose`.

    Conv3DTranspose(filters, kernel_size, strides=(1, 1, 1), padding="valid",
                    data_format=None, output_padding=None, dilation_rate=(1, 1, 1), ...)
    input (N, D, H, W, C_in) -> output (N, D_out, H_out, W_out, filters)
                                                (N, C, D, H, W) with channels_first
    kernel (kd, kh, kw, filters, C_in) (Keras's order), bias (filters,)

Output size per axis (Keras): "valid" ``n * s + max(d * (k - 1) + 1 - s, 0)``, "same"
``n * s``; with ``output_padding=p``: ``(n - 1) * s + d * (k - 1) + 1 - 2 * pad + p`` (pad 0
for "valid", ``(d * (k - 1) + 1) // 2`` for "same").

The layer is :class:`npconv.layers.conv_transpose._ConvTranspose` (weights, arguments,
checks, config, the summary's cost) with the 3-D op in its op hooks and the volume layers'
mixin :class:`npconv.layers._volumes.VolumeLayout` in front (triples, 5-D inputs,
``channels_first`` moved at the boundary), as :class:`npconv.layers.Conv3D` is the 2-D
convolution's base with that mixin.
"""

from __future__ import annotations

from ..ops.conv3d_transpose import (
    conv3d_transpose_backward,
    conv3d_transpose_forward,
    conv3d_transpose_output_size,
)
from ._volumes import VolumeLayout
from .conv_transpose import _ConvTranspose

__all__ = ["Conv3DTranspose", "Convolution3DTranspose"]


class Conv3DTranspose(VolumeLayout, _ConvTranspose):
    """Transposed 3-D convolution layer (Keras semantics, NDHWC inside).

    Weights in Keras order: ``kernel`` (kd, kh, kw, filters, C_in), then ``bias``
    (filters,). ``padding`` is Keras's "valid" or "same"; ``output_padding`` None, an int or
    a ``(depth, height, width)`` triple, each below its stride. Regularizers and
    constraints: ``kernel_``/``bias_regularizer``, ``activity_regularizer``,
    ``kernel_``/``bias_constraint``. Unlike Keras, strides > 1 together with dilation > 1
    are computed (as torch's ``conv_transpose3d`` and npconv's Conv2DTranspose do), not
    refused.
    """

    _forward_op = staticmethod(conv3d_transpose_forward)
    _backward_op = staticmethod(conv3d_transpose_backward)
    _output_size_op = staticmethod(conv3d_transpose_output_size)

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 data_format=None, output_padding=None, dilation_rate=(1, 1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
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


Convolution3DTranspose = Conv3DTranspose  # Keras's alias
