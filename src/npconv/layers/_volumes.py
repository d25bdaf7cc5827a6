"""The volume layout of the 3-D layers: ``(batch, depth, height, width, channels)`` inside.

A 3-D layer's input is ``(batch, depth, height, width, channels)``
(``data_format="channels_last"``, Keras's default) or ``(batch, channels, depth, height,
width)`` (``"channels_first"``). The base :class:`~npconv.layers.base.Layer` moves only 4-D
arrays to NHWC, so :class:`VolumeLayout` does the same for 5-D ones: its layer's ``call``
and ``call_backward`` always see channels last, and shapes are converted at the boundary.
It also gives the window layers over :class:`~npconv.layers.conv._WindowConv` their 3-D
geometry: ``(depth, height, width)`` triples for ``kernel_size``, ``strides``,
``dilation_rate`` (and ``output_padding``), a 5-D input in the rank checks and messages.
Every 3-D layer (convolutions, poolings, padding, cropping, up-sampling, spatial dropout)
puts this one mixin first.
"""

from __future__ import annotations

import numpy as np

from ..ops._volumes import as_triple

__all__ = ["LAYOUTS", "VolumeLayout"]

LAYOUTS = {
    "channels_last": "(batch, depth, height, width, channels)",
    "channels_first": "(batch, channels, depth, height, width)",
}


def _last(a):
    return a.transpose(0, 2, 3, 4, 1)


def _first(a):
    return a.transpose(0, 4, 1, 2, 3)


class VolumeLayout:
    """Mixin, listed before a Layer class: 5-D ``channels_first`` arrays and shapes are moved
    to channels last for the layer's code, and its 5-D results back (see the module
    docstring). Other ranks (a global pooling's ``(batch, channels)``) pass unchanged."""

    # (read by _WindowConv: its rank check, error messages and geometry arguments)
    _rank = 3
    _layouts = LAYOUTS
    _axis_units = ("pixels in depth", "pixels in height", "pixels in width")

    def _window_arg(self, value, name, minimum=1):
        """A geometry argument as Keras's ``(depth, height, width)`` triple (an int: thrice)."""
        return as_triple(value, name, self._where, minimum=minimum)

    def _moved(self, a) -> bool:
        return self.data_format == "channels_first" and a is not None and np.ndim(a) == 5

    def _check_rank5(self, shape) -> None:
        if len(shape) != 5:
            raise ValueError(f"{self.name}: expected a 5-D input {LAYOUTS[self.data_format]}. "
                             f"Received an input of shape {tuple(shape)}")

    def _dhw_of(self, shape):
        """Depth, height and width of a public 5-D input shape (None where unknown)."""
        return tuple(self._to_internal_shape(tuple(shape))[1:4])

    def _to_internal_shape(self, shape):
        shape = tuple(shape)
        if self.data_format == "channels_first" and len(shape) == 5:
            return (shape[0], *shape[2:], shape[1])
        return super()._to_internal_shape(shape)

    def _from_internal_shape(self, shape):
        shape = tuple(shape)
        if self.data_format == "channels_first" and len(shape) == 5:
            return (shape[0], shape[4], *shape[1:4])
        return super()._from_internal_shape(shape)

    def call(self, x, training=False):
        moved = self._moved(x)
        y = super().call(_last(x) if moved else x, training=training)
        return _first(y) if moved and np.ndim(y) == 5 else y

    def call_backward(self, d_out):
        d_out = np.asarray(d_out)
        moved = self._moved(d_out)
        dx = super().call_backward(_last(d_out) if moved else d_out)
        if self.data_format == "channels_first" and dx is not None and np.ndim(dx) == 5:
            dx = _first(dx)
        return dx
