"""Keras's 3-D pooling layers over :mod:`npconv.ops.pool3d`.

    MaxPooling3D(pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None)
    AveragePooling3D(pool_size, strides=None, padding="valid", data_format=None)
    GlobalAveragePooling3D(data_format=None, keepdims=False)
    GlobalMaxPooling3D(data_format=None, keepdims=False)

Input ``(batch, depth, height, width, channels)``, or ``(batch, channels, depth, height,
width)`` with ``data_format="channels_first"``. A window of ``pool_size`` voxels (an int or a
``(depth, height, width)`` triple) moves by ``strides`` (default: ``pool_size``); per axis
``"valid"`` gives ``(n - pool) // stride + 1``, ``"same"`` ``ceil(n / stride)`` (the odd
padding voxel at the end; padded voxels never win a max nor count in a mean). The global
poolings give ``(batch, channels)``, or with ``keepdims=True`` ``(batch, 1, 1, 1, channels)``
(``(batch, channels, 1, 1, 1)`` channels_first). ``pool_size`` and ``strides`` are saved as
triples. No weights. Aliases, as in Keras: ``MaxPool3D``, ``AvgPool3D``, ``GlobalMaxPool3D``,
``GlobalAvgPool3D``.
"""

from __future__ import annotations

from ..ops import pool3d as pool3d_ops
from ..ops._volumes import as_triple
from ._volumes import VolumeLayout
from .pooling import _GlobalPooling, _WindowPooling

__all__ = ["AveragePooling3D", "AvgPool3D", "GlobalAveragePooling3D", "GlobalAvgPool3D",
           "GlobalMaxPool3D", "GlobalMaxPooling3D", "MaxPool3D", "MaxPooling3D"]


class _Pooling3D(VolumeLayout, _WindowPooling):
    """Shared by MaxPooling3D and AveragePooling3D: the 2-D window poolings' arguments and
    config, with ``(depth, height, width)`` triples and a 3-D op."""

    _window_argument = staticmethod(as_triple)

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def _check_input_shape(self, shape) -> None:
        self._check_rank5(shape)
        dhw = self._dhw_of(shape)
        if not self._window_fits(dhw):
            raise ValueError(
                f"{self.name}: the pool window {self.pool_size} is larger than the input's "
                f"depth, height and width {dhw} with padding={self.padding!r}. Received an "
                f"input of shape {tuple(shape)} (data_format={self.data_format!r})")

    def compute_output_shape(self, input_shape):
        n, *dhw, c = input_shape
        out = []
        for size, k, s in zip(dhw, self.pool_size, self.strides, strict=True):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))   # ceil(size / stride)
            else:
                out.append((size - k) // s + 1)
        return (n, *out, c)


class MaxPooling3D(_Pooling3D):
    """The maximum of each ``pool_size`` window of voxels, moved by ``strides``.

    Gradient: each window's to its first maximum in (depth, height, width) order (as torch's
    ``max_pool3d``).
    """

    _forward = staticmethod(pool3d_ops.max_pool3d_forward)
    _backward = staticmethod(pool3d_ops.max_pool3d_backward)


class AveragePooling3D(_Pooling3D):
    """The mean of each ``pool_size`` window of voxels, moved by ``strides``.

    ``pool_size`` has no default, as in Keras. With ``padding="same"`` a window averages only
    its real voxels (torch's ``count_include_pad=False``).
    """

    _forward = staticmethod(pool3d_ops.avg_pool3d_forward)
    _backward = staticmethod(pool3d_ops.avg_pool3d_backward)

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling3D(VolumeLayout, _GlobalPooling):
    """Shared by the 3-D global poolings: one value per channel over all voxels."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format=data_format, keepdims=keepdims, **kwargs)

    def _check_input_shape(self, shape) -> None:
        self._check_rank5(shape)
        if any(n is not None and n < 1 for n in self._dhw_of(shape)):
            raise ValueError(f"{self.name}: expected an input with depth, height and width "
                             f">= 1. Received an input of shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, *_, c = input_shape
        return (n, 1, 1, 1, c) if self.keepdims else (n, c)


class GlobalAveragePooling3D(_GlobalPooling3D):
    """The mean of each channel over depth, height and width."""

    _forward = staticmethod(pool3d_ops.global_avg_pool3d_forward)
    _backward = staticmethod(pool3d_ops.global_avg_pool3d_backward)


class GlobalMaxPooling3D(_GlobalPooling3D):
    """The maximum of each channel over depth, height and width.

    Gradient: split evenly among each channel's tied maxima (as Keras's ``ops.max``).
    """

    _forward = staticmethod(pool3d_ops.global_max_pool3d_forward)
    _backward = staticmethod(pool3d_ops.global_max_pool3d_backward)


MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool3D = GlobalAveragePooling3D
