"""Keras's 1-D pooling layers, run by the 2-D poolings' code on ``(batch, 1, steps, channels)``.

    MaxPooling1D(pool_size=2, strides=None, padding="valid", data_format=None)
    AveragePooling1D(pool_size, strides=None, padding="valid", data_format=None)
    GlobalAveragePooling1D(data_format=None, keepdims=False)
    GlobalMaxPooling1D(data_format=None, keepdims=False)

Input ``(batch, steps, channels)``, or ``(batch, channels, steps)`` with
``data_format="channels_first"``. A window of ``pool_size`` steps moves by ``strides`` (default:
``pool_size``); ``"valid"`` gives ``(steps - pool_size) // strides + 1`` steps, ``"same"``
``ceil(steps / strides)`` (Keras/TensorFlow: the odd padding step at the end; padded steps
never win a max nor count in a mean). The global poolings give ``(batch, channels)``, or with
``keepdims=True`` ``(batch, 1, channels)`` (``(batch, channels, 1)`` channels_first).
``pool_size`` and ``strides`` are saved as Keras's 1-tuples ``(2,)``. No weights.
Aliases, as in Keras: ``MaxPool1D``, ``AvgPool1D``, ``GlobalMaxPool1D``, ``GlobalAvgPool1D``.
"""

from __future__ import annotations

from ._steps import StepsAsRow, as_single
from .pooling import GlobalMax, GlobalMean, MaxWindows, MeanWindows, _GlobalPooling, _WindowPooling

__all__ = ["AveragePooling1D", "AvgPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
           "GlobalMaxPool1D", "GlobalMaxPooling1D", "MaxPool1D", "MaxPooling1D"]


class _Pooling1D(StepsAsRow, _WindowPooling):
    """Shared by MaxPooling1D and AveragePooling1D: the 2-D window op with a window and a
    stride of 1 along the height."""

    _window_argument = staticmethod(as_single)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    @property
    def _pool_hw(self):
        return (1, self.pool_size[0])

    @property
    def _strides_hw(self):
        return (1, self.strides[0])

    def _check_input_shape(self, shape) -> None:
        self._check_rank3(shape)
        steps = self._steps_of(shape)
        if not self._window_fits((1, steps)):
            raise ValueError(
                f"{self.name}: the pool window of {self.pool_size[0]} steps is longer than the "
                f"input's {steps} steps with padding={self.padding!r}. Received an input of "
                f"shape {tuple(shape)} (data_format={self.data_format!r})")


class MaxPooling1D(MaxWindows, _Pooling1D):
    """The maximum of each window of ``pool_size`` steps, moved by ``strides`` steps.

    Gradient: each window's to its first maximum (as PyTorch's ``max_pool1d``).
    """


class AveragePooling1D(MeanWindows, _Pooling1D):
    """The mean of each window of ``pool_size`` steps, moved by ``strides`` steps.

    ``pool_size`` has no default, as in Keras. With ``padding="same"`` a window averages only
    its real steps (PyTorch's ``count_include_pad=False``).
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling1D(StepsAsRow, _GlobalPooling):
    """Shared by the 1-D global poolings: one value per channel over all steps."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format=data_format, keepdims=keepdims, **kwargs)

    def _check_input_shape(self, shape) -> None:
        self._check_steps(shape)


class GlobalAveragePooling1D(GlobalMean, _GlobalPooling1D):
    """The mean of each channel over the steps.

    Keras's call argument ``mask`` (steps left out of the mean) is not supported: npconv has
    no masking; a call with a mask other than None is an error.
    """

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if mask is not None:
            raise ValueError(f"{self.name}: npconv has no masking, so GlobalAveragePooling1D "
                             "takes no mask (Keras leaves the masked steps out of the mean); "
                             "call it without mask=")
        return super().__call__(inputs, training=training, **kwargs)


class GlobalMaxPooling1D(GlobalMax, _GlobalPooling1D):
    """The maximum of each channel over the steps.

    Gradient: split evenly among each channel's tied maxima (as Keras's ``ops.max``).
    """


MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
