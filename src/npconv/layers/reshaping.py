"""ZeroPadding2D: Keras's zero-padding layer over :func:`npconv.ops.padding.zero_pad`.

    ZeroPadding2D(padding=1)                 one pixel of zeros on every side
    ZeroPadding2D(padding=(1, 2))            1 above and below, 2 left and right
    ZeroPadding2D(padding=((1, 2), (3, 4)))  top 1, bottom 2, left 3, right 4

Input (N, H, W, C) -> (N, H + top + bottom, W + left + right, C); any dtype is kept (seed 002's
Keras example pads an integer array and prints int32).
"""

from __future__ import annotations

from ..ops.padding import normalize_pads, zero_pad_backward, zero_pad_forward
from .base import Layer

__all__ = ["ZeroPadding2D"]


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image (no weights)."""

    batch_independent = True

    keeps_integer_input = True

    def __init__(self, padding=1, data_format="channels_last", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = normalize_pads(padding, f"ZeroPadding2D {self.name}")
        self._cache = None

    def _check_input_shape(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: ZeroPadding2D expects a 4-D input. "
                             f"Received an input of shape {tuple(shape)}")

    def call(self, x, training=False):
        y, self._cache = zero_pad_forward(x, self.padding)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return zero_pad_backward(d_out, self._cache)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (n, None if h is None else h + top + bottom,
                None if w is None else w + left + right, c)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}
