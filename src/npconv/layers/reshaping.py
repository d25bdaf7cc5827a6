"""Keras's reshaping layers: ZeroPadding2D (over :func:`npconv.ops.padding.zero_pad`),
Cropping2D (over :func:`npconv.ops.padding.crop2d_forward`) and UpSampling2D (over
:mod:`npconv.ops.resize`).

    ZeroPadding2D(padding=1)                 one pixel of zeros on every side
    ZeroPadding2D(padding=(1, 2))            1 above and below, 2 left and right
    ZeroPadding2D(padding=((1, 2), (3, 4)))  top 1, bottom 2, left 3, right 4

Input (N, H, W, C) -> (N, H + top + bottom, W + left + right, C); any dtype is kept (seed 002's
Keras example pads an integer array and prints int32).

    Cropping2D(cropping=1)                   one pixel off every side
    Cropping2D(cropping=(1, 2))              1 off the top and bottom, 2 off left and right
    Cropping2D(cropping=((1, 2), (3, 4)))    top 1, bottom 2, left 3, right 4

Input (N, H, W, C) -> (N, H - top - bottom, W - left - right, C), at least one row and column
left; any dtype is kept. Its gradient is the output's gradient padded back with zeros.

    UpSampling2D(size=2)                             every pixel a 2x2 block of copies
    UpSampling2D((2, 3), interpolation="bilinear")   Keras's bilinear (half-pixel centres)

Input (N, H, W, C) -> (N, H * sh, W * sw, C), float.

Their 1-D twins (:mod:`npconv.layers.reshaping1d`) are built on the shared bases here.
"""

from __future__ import annotations

from .._checks import as_pair
from ..ops.padding import (
    crop2d_backward,
    crop2d_forward,
    normalize_pads,
    zero_pad_backward,
    zero_pad_forward,
)
from ..ops.resize import INTERPOLATIONS, upsampling2d_backward, upsampling2d_forward
from .base import Layer

__all__ = ["Cropping2D", "UpSampling2D", "ZeroPadding2D"]

#: Keras's other interpolations (ops.image.resize's), not implemented here.
_KERAS_ONLY = ("area", "bicubic", "lanczos3", "lanczos5")


class _ZeroPadding(Layer):
    """Shared by ZeroPadding2D and ZeroPadding1D (:mod:`npconv.layers.reshaping1d`): zeros
    around the height and width of NHWC images, :attr:`_pads_hw` =
    ``((top, bottom), (left, right))``."""

    batch_independent = True

    keeps_integer_input = True

    @property
    def _pads_hw(self):
        return self.padding

    def call(self, x, training=False):
        y, self._cache = zero_pad_forward(x, self._pads_hw)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return zero_pad_backward(d_out, self._cache)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self._pads_hw
        return (n, None if h is None else h + top + bottom,
                None if w is None else w + left + right, c)


class ZeroPadding2D(_ZeroPadding):
    """Add rows and columns of zeros around each image (no weights)."""

    def __init__(self, padding=1, data_format="channels_last", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = normalize_pads(padding, f"ZeroPadding2D {self.name}")
        self._cache = None

    def _check_input_shape(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: ZeroPadding2D expects a 4-D input. "
                             f"Received an input of shape {tuple(shape)}")

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}


class _Cropping(Layer):
    """Shared by Cropping2D and Cropping1D (:mod:`npconv.layers.reshaping1d`): rows and
    columns off the edges of NHWC images, :attr:`_crops_hw` =
    ``((top, bottom), (left, right))``."""

    batch_independent = True

    keeps_integer_input = True

    @property
    def _crops_hw(self):
        return self.cropping

    def call(self, x, training=False):
        y, self._cache = crop2d_forward(x, self._crops_hw)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return crop2d_backward(d_out, self._cache)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self._crops_hw
        return (n, None if h is None else h - top - bottom,
                None if w is None else w - left - right, c)


class Cropping2D(_Cropping):
    """Remove rows and columns at the edges of each image (Keras's ``Cropping2D``, no weights).

    cropping: an int (all four sides), ``(symmetric_height_crop, symmetric_width_crop)`` or
    ``((top, bottom), (left, right))``, ints >= 0. An input whose height or width the cropping
    would use up (``top + bottom >= H`` or ``left + right >= W``) is an error, as in Keras.
    data_format: ``"channels_last"`` (NHWC, the default) or ``"channels_first"`` (NCHW).
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = normalize_pads(cropping, f"Cropping2D {self.name}", "cropping")
        self._cache = None

    def _check_input_shape(self, shape):
        if len(shape) != 4:
            layout = ("(batch, channels, height, width)" if self.data_format == "channels_first"
                      else "(batch, height, width, channels)")
            raise ValueError(f"{self.name}: Cropping2D expects a 4-D input {layout}. "
                             f"Received an input of shape {tuple(shape)}")
        _, h, w, _ = self._to_internal_shape(tuple(shape))
        (top, bottom), (left, right) = self.cropping
        if (h is not None and top + bottom >= h) or (w is not None and left + right >= w):
            raise ValueError(
                f"{self.name}: Cropping2D expected a cropping smaller than the input's height "
                f"and width (at least one row and column left; data_format="
                f"{self.data_format!r}). Received: cropping={self.cropping} for an input of "
                f"shape {tuple(shape)}")

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping],
                "data_format": self.data_format}


class _UpSampling(Layer):
    """Shared by UpSampling2D and UpSampling1D (:mod:`npconv.layers.reshaping1d`): NHWC
    images made :attr:`_size_hw` = ``(sh, sw)`` times taller and wider, by
    ``self.interpolation``."""

    batch_independent = True

    @property
    def _size_hw(self):
        return self.size

    def call(self, x, training=False):
        y, self._cache = upsampling2d_forward(x, self._size_hw, self.interpolation)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return upsampling2d_backward(d_out, self._cache)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        sh, sw = self._size_hw
        return (n, None if h is None else h * sh, None if w is None else w * sw, c)


class UpSampling2D(_UpSampling):
    """Repeat (``"nearest"``) or bilinearly interpolate (``"bilinear"``) each image to
    ``size[0]`` times its height and ``size[1]`` times its width (no weights).

    size: int or pair of ints >= 1. interpolation: ``"nearest"`` (PyTorch's ``mode="nearest"``)
    or ``"bilinear"`` (Keras's = PyTorch's ``mode="bilinear", align_corners=False``).
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        where = type(self).__name__
        size = as_pair(size, "size", where)
        key = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if key not in INTERPOLATIONS:
            extra = (f" (Keras also has {key!r}; npconv does not implement it)"
                     if key in _KERAS_ONLY else "")
            raise ValueError(f"{where}: expected interpolation to be one of "
                             f"{list(INTERPOLATIONS)}{extra}. "
                             f"Received: interpolation={interpolation!r}")
        super().__init__(data_format=data_format or "channels_last", **kwargs)
        self.size = size
        self.interpolation = key
        self._cache = None

    def _check_input_shape(self, shape):
        if len(shape) != 4:
            layout = ("(batch, channels, height, width)" if self.data_format == "channels_first"
                      else "(batch, height, width, channels)")
            raise ValueError(f"{self.name}: expected a 4-D input {layout}. "
                             f"Received an input of shape {tuple(shape)}")
        _, h, w, _ = self._to_internal_shape(tuple(shape))
        if (h is not None and h < 1) or (w is not None and w < 1):
            raise ValueError(f"{self.name}: expected an input with height and width >= 1. "
                             f"Received an input of shape {tuple(shape)}")

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
