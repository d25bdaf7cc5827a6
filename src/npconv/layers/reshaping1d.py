"""Keras's 1-D reshaping layers, run by the 2-D ones' code on ``(batch, 1, steps, channels)``.

    ZeroPadding1D(padding=1, data_format=None)   zeros before and after the steps
    ZeroPadding1D(padding=(1, 2))                1 step of zeros before, 2 after
    Cropping1D(cropping=(1, 1))                  steps off the start and the end
    UpSampling1D(size=2)                         every step repeated ``size`` times

Input ``(batch, steps, channels)``; ZeroPadding1D also ``(batch, channels, steps)`` with
``data_format="channels_first"`` (Keras's Cropping1D and UpSampling1D take no data_format).
Outputs: ``steps + before + after``, ``steps - start - end`` (at least one step left) and
``steps * size`` steps. ZeroPadding1D and Cropping1D keep any dtype (integers too);
UpSampling1D gives floats (integers become float32), as UpSampling2D. No weights.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import as_pair
from ._steps import StepsAsRow, refuse_data_format
from .reshaping import _Cropping, _UpSampling, _ZeroPadding

__all__ = ["Cropping1D", "UpSampling1D", "ZeroPadding1D"]


class ZeroPadding1D(StepsAsRow, _ZeroPadding):
    """Zeros before and after the steps of each sequence (Keras's ``ZeroPadding1D``).

    padding: an int (that many steps at both ends) or ``(before, after)``, ints >= 0.
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = as_pair(padding, "padding", f"ZeroPadding1D {self.name}", minimum=0)
        self._cache = None

    @property
    def _pads_hw(self):
        return ((0, 0), self.padding)

    def _check_input_shape(self, shape):
        self._check_rank3(shape)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class Cropping1D(StepsAsRow, _Cropping):
    """Steps off the start and the end of each sequence (Keras's ``Cropping1D``).

    cropping: an int (that many steps off both ends) or ``(start, end)``, ints >= 0. An input
    that the cropping would leave without a step (``start + end >= steps``) is an error, as
    in Keras.
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        refuse_data_format(kwargs, "Cropping1D")
        super().__init__(**kwargs)
        self.cropping = as_pair(cropping, "cropping", f"Cropping1D {self.name}", minimum=0)
        self._cache = None

    @property
    def _crops_hw(self):
        return ((0, 0), self.cropping)

    def _check_input_shape(self, shape):
        self._check_rank3(shape)
        steps = self._steps_of(shape)
        if steps is not None and sum(self.cropping) >= steps:
            raise ValueError(f"{self.name}: Cropping1D expected a cropping smaller than the "
                             f"input's {steps} steps (at least one step left). Received: "
                             f"cropping={self.cropping} for an input of shape {tuple(shape)}")

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class UpSampling1D(StepsAsRow, _UpSampling):
    """Every step repeated ``size`` times (Keras's ``UpSampling1D``, PyTorch's
    ``F.interpolate(mode="nearest")`` on ``(batch, channels, steps)``).

    size: an int >= 1.
    """

    interpolation = "nearest"

    def __init__(self, size=2, **kwargs):
        refuse_data_format(kwargs, "UpSampling1D")
        if not isinstance(size, (numbers.Integral, np.integer)) or isinstance(size, bool):
            raise TypeError(f"UpSampling1D: expected size to be an int. Received: size={size!r}")
        if size < 1:
            raise ValueError(f"UpSampling1D: expected size to be >= 1. Received: size={size!r}")
        super().__init__(**kwargs)
        self.size = int(size)
        self._cache = None

    @property
    def _size_hw(self):
        return (1, self.size)

    def _check_input_shape(self, shape):
        self._check_steps(shape)

    def get_config(self):
        return {**super().get_config(), "size": self.size}
