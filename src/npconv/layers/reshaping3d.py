"""Keras's 3-D reshaping layers over :mod:`npconv.ops.reshape3d`, and SpatialDropout3D.

    ZeroPadding3D(padding=((1, 1), (1, 1), (1, 1)), data_format=None)
    Cropping3D(cropping=((1, 1), (1, 1), (1, 1)), data_format=None)
    UpSampling3D(size=(2, 2, 2), data_format=None)
    SpatialDropout3D(rate, data_format=None, seed=None)

Input ``(batch, depth, height, width, channels)``, or ``(batch, channels, depth, height,
width)`` with ``data_format="channels_first"``. padding / cropping: an int (all six faces), a
``(depth, height, width)`` triple (both faces of each) or ``((front, back), (top, bottom),
(left, right))``; size: an int or a triple (nearest repetition, Keras's only mode).
ZeroPadding3D and Cropping3D keep any dtype (integers too); UpSampling3D gives floats.
SpatialDropout3D drops whole channels of each volume (the mask ``(N, 1, 1, 1, C)``).
No weights.
"""

from __future__ import annotations

from ..ops._volumes import as_triple, normalize_pads3d
from ..ops.core import dropout_forward
from ..ops.reshape3d import (
    crop3d_backward,
    crop3d_forward,
    upsampling3d_backward,
    upsampling3d_forward,
    zero_pad3d_backward,
    zero_pad3d_forward,
)
from ..random import make_generator
from ._volumes import VolumeLayout
from .base import Layer
from .core import _SpatialDropout

__all__ = ["Cropping3D", "SpatialDropout3D", "UpSampling3D", "ZeroPadding3D"]


def _grown(size, before, after):
    return None if size is None else size + before + after


class _VolumeOp(Layer):
    """A forward op on channels-last volumes returning ``(y, cache)``, and its backward."""

    batch_independent = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._cache = None

    def call(self, x, training=False):
        y, self._cache = self._forward_op(x)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return self._backward_op(d_out, self._cache)



class _Reshaping3D(VolumeLayout, _VolumeOp):
    """Shared by the three reshaping layers (VolumeLayout moves channels_first before the
    op's ``call``)."""

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class ZeroPadding3D(_Reshaping3D):
    """Zeros around the depth, height and width of each volume (Keras's ``ZeroPadding3D``)."""

    keeps_integer_input = True

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = normalize_pads3d(padding, f"ZeroPadding3D {self.name}")

    def _forward_op(self, x):
        return zero_pad3d_forward(x, self.padding)

    def _backward_op(self, d_out, cache):
        return zero_pad3d_backward(d_out, cache)

    def _check_input_shape(self, shape):
        self._check_rank5(shape)

    def compute_output_shape(self, input_shape):
        n, *dhw, c = input_shape
        return (n, *(_grown(s, a, b) for s, (a, b) in zip(dhw, self.padding, strict=True)), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class Cropping3D(_Reshaping3D):
    """Voxels off the faces of each volume (Keras's ``Cropping3D``).

    An input the cropping would use up along an axis (``front + back >= depth``, ...) is an
    error, as in Keras. Its gradient is the output's padded back with zeros.
    """

    keeps_integer_input = True

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = normalize_pads3d(cropping, f"Cropping3D {self.name}", "cropping")

    def _forward_op(self, x):
        return crop3d_forward(x, self.cropping)

    def _backward_op(self, d_out, cache):
        return crop3d_backward(d_out, cache)

    def _check_input_shape(self, shape):
        self._check_rank5(shape)
        dhw = self._dhw_of(shape)
        if any(s is not None and a + b >= s for s, (a, b) in zip(dhw, self.cropping,
                                                                   strict=True)):
            raise ValueError(
                f"{self.name}: Cropping3D expected a cropping smaller than the input's depth, "
                f"height and width {dhw} (at least one voxel left along each; data_format="
                f"{self.data_format!r}). Received: cropping={self.cropping} for an input of "
                f"shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, *dhw, c = input_shape
        return (n, *(_grown(s, -a, -b) for s, (a, b) in zip(dhw, self.cropping, strict=True)),
                c)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling3D(_Reshaping3D):
    """Every voxel repeated into a ``size = (sd, sh, sw)`` block (Keras's ``UpSampling3D``,
    torch's ``F.interpolate(mode="nearest")``)."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        size = as_triple(size, "size", "UpSampling3D")
        super().__init__(data_format=data_format, **kwargs)
        self.size = size

    def _forward_op(self, x):
        return upsampling3d_forward(x, self.size)

    def _backward_op(self, d_out, cache):
        return upsampling3d_backward(d_out, cache)

    def _check_input_shape(self, shape):
        self._check_rank5(shape)
        if any(n is not None and n < 1 for n in self._dhw_of(shape)):
            raise ValueError(f"{self.name}: expected an input with depth, height and width "
                             f">= 1. Received an input of shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, *dhw, c = input_shape
        return (n, *(None if s is None else s * k for s, k in zip(dhw, self.size, strict=True)),
                c)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class _VolumeDropout(_SpatialDropout):
    """Dropout with one draw per sample and channel of channels-last volumes."""

    _mask_layout = "(N, 1, 1, 1, C)"

    def call(self, x, training=False):
        rng = None
        if training and self.rate > 0:  # a draw: only then a generator
            rng = make_generator() if self.seed is None else self.own_generator()
        y, self._cache = dropout_forward(x, self.rate, bool(training), rng,
                                         (x.shape[0], 1, 1, 1, x.shape[4]))
        return y


class SpatialDropout3D(VolumeLayout, _VolumeDropout):
    """Dropout of whole channels of volumes (Keras's ``SpatialDropout3D``, torch's
    ``Dropout3d``).

    In training each channel of each sample is zeroed with probability ``rate`` over all its
    voxels and the kept ones are scaled by ``1 / (1 - rate)`` (the mask ``(N, 1, 1, 1, C)``;
    ``(N, C, 1, 1, 1)`` channels_first); at inference the identity. ``seed`` as Dropout's.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format=data_format, **kwargs)

    def _check_input_shape(self, shape):
        self._check_rank5(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
