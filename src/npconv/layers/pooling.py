"""Keras pooling layers over :mod:`npconv.ops.pool` (seeds 000, 001, 002, 004).

``MaxPooling2D((2, 2), strides=1)`` and friends take and return NHWC arrays
(``data_format="channels_last"``, also Keras's default ``None``) or NCHW (``"channels_first"``).
They have no weights.
Aliases, as in Keras: ``MaxPool2D``, ``AvgPool2D``, ``GlobalMaxPool2D``, ``GlobalAvgPool2D``.
The 1-D poolings (:mod:`npconv.layers.pooling1d`) are built on the bases here.
"""

from __future__ import annotations

from .._checks import as_pair, check_choice
from ..ops import pool as pool_ops
from .base import Layer

_LAYOUTS = {
    "channels_last": "(batch, height, width, channels)",
    "channels_first": "(batch, channels, height, width)",
}


def _check_4d(layer: Layer, shape) -> None:
    if len(shape) != 4:
        raise ValueError(
            f"{layer.name}: expected a 4-D input {_LAYOUTS[layer.data_format]}. "
            f"Received an input of shape {tuple(shape)}"
        )


class _WindowPooling(Layer):
    """Shared by the window poolings (MaxPooling2D, AveragePooling2D and their 1-D twins in
    :mod:`npconv.layers.pooling1d`): a window op over the height and width of NHWC images.

    The op reads :attr:`_pool_hw` and :attr:`_strides_hw`, ``pool_size`` and ``strides`` as
    the ``(vertical, horizontal)`` pairs of the 2-D ops; ``_window_argument`` reads them from
    the constructor's arguments (an int or a pair here).
    """

    batch_independent = True

    _forward = None
    _backward = None
    _window_argument = staticmethod(as_pair)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid",
                 data_format="channels_last", name=None, **kwargs):
        where = type(self).__name__
        pool_size = self._window_argument(pool_size, "pool_size", where)
        strides = (pool_size if strides is None
                   else self._window_argument(strides, "strides", where))
        padding = check_choice(padding, "padding", {"valid", "same"}, where)
        super().__init__(name=name, data_format=data_format or "channels_last", **kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding
        self._cache = None

    @property
    def _pool_hw(self):
        return self.pool_size

    @property
    def _strides_hw(self):
        return self.strides

    def _output_hw(self, h, w):
        """Output height and width (``None`` stays ``None``)."""
        out = []
        for size, k, s in zip((h, w), self._pool_hw, self._strides_hw, strict=True):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))   # ceil(size / stride)
            else:
                out.append((size - k) // s + 1)
        return tuple(out)

    def _window_fits(self, hw) -> bool:
        """Whether the window fits an input of height and width ``hw`` (``None``: unknown)."""
        return all(size is None or (size >= k if self.padding == "valid" else size >= 1)
                   for size, k in zip(hw, self._pool_hw, strict=True))

    def _check_input_shape(self, shape) -> None:
        _check_4d(self, shape)
        _, h, w, _ = self._to_internal_shape(tuple(shape))
        if not self._window_fits((h, w)):
            raise ValueError(
                f"{self.name}: the pool window {self.pool_size} is larger than the input's "
                f"height and width {(h, w)} with padding={self.padding!r}. "
                f"Received an input of shape {tuple(shape)}"
            )

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, *self._output_hw(h, w), c)

    def call(self, x, training=False):
        out, self._cache = self._forward(x, self._pool_hw, self._strides_hw, self.padding,
                                         **self._forward_options(training))
        return out

    def _forward_options(self, training):
        return {}

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before the layer was called")
        return self._backward(d_out, self._cache)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            pool_size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
        )
        return config


class MaxWindows:
    """Mixin (before a window pooling base): the window's maximum, :func:`max_pool2d_forward`."""

    _forward = staticmethod(pool_ops.max_pool2d_forward)
    _backward = staticmethod(pool_ops.max_pool2d_backward)

    def _forward_options(self, training):
        # Inference skips recording the winners (a backward after it still works, slower).
        return {"record_argmax": bool(training)}


class MeanWindows:
    """Mixin (before a window pooling base): the window's mean, :func:`avg_pool2d_forward`."""

    _forward = staticmethod(pool_ops.avg_pool2d_forward)
    _backward = staticmethod(pool_ops.avg_pool2d_backward)


class MaxPooling2D(MaxWindows, _WindowPooling):
    """The maximum of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``).

    padding: ``"valid"`` (windows inside the input) or ``"same"`` (``out = ceil(in / stride)``;
    padded cells never win). Gradient: each window's to its first maximum (as PyTorch).
    """


class AveragePooling2D(MeanWindows, _WindowPooling):
    """The mean of each ``pool_size`` window, moved by ``strides`` (default: ``pool_size``).

    padding: ``"valid"`` or ``"same"``; with ``"same"`` a window averages only its real pixels.
    """


class _GlobalPooling(Layer):
    """Shared by the global poolings (2-D here, 1-D in :mod:`npconv.layers.pooling1d`): one
    value per channel of NHWC images, ``(batch, channels)`` (``(batch, 1, 1, channels)`` with
    ``keepdims``)."""

    batch_independent = True

    _forward = None
    _backward = None

    def __init__(self, data_format="channels_last", keepdims=False, name=None, **kwargs):
        super().__init__(name=name, data_format=data_format or "channels_last", **kwargs)
        if not isinstance(keepdims, bool):
            raise TypeError(f"{self.name}: expected keepdims to be a bool. "
                            f"Received: keepdims={keepdims!r}")
        self.keepdims = keepdims
        self._cache = None

    def _check_input_shape(self, shape) -> None:
        _check_4d(self, shape)
        _, h, w, _ = self._to_internal_shape(tuple(shape))
        if (h is not None and h < 1) or (w is not None and w < 1):
            raise ValueError(f"{self.name}: expected an input with height and width >= 1. "
                             f"Received an input of shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def call(self, x, training=False):
        out, self._cache = self._forward(x, keepdims=self.keepdims)
        return out

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before the layer was called")
        return self._backward(d_out, self._cache)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalMean:
    """Mixin (before a global pooling base): each channel's mean,
    :func:`global_avg_pool2d_forward`."""

    _forward = staticmethod(pool_ops.global_avg_pool2d_forward)
    _backward = staticmethod(pool_ops.global_avg_pool2d_backward)


class GlobalMax:
    """Mixin (before a global pooling base): each channel's maximum,
    :func:`global_max_pool2d_forward` (the gradient split evenly among tied maxima, as
    Keras's ``ops.max``)."""

    _forward = staticmethod(pool_ops.global_max_pool2d_forward)
    _backward = staticmethod(pool_ops.global_max_pool2d_backward)


class GlobalAveragePooling2D(GlobalMean, _GlobalPooling):
    """The mean of each channel over height and width (seed 000: ``[[15, 16]]``)."""


class GlobalMaxPooling2D(GlobalMax, _GlobalPooling):
    """The maximum of each channel over height and width (seed 000: ``[[30, 31]]``).

    Gradient: split evenly among each channel's tied maxima (as Keras's ``ops.max``).
    """


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
