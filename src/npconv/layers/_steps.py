"""1-D layers run by their 2-D twins: a batch of sequences seen as a batch of one-row images.

A 1-D layer's input is ``(batch, steps, channels)`` (``data_format="channels_last"``) or
``(batch, channels, steps)`` (``"channels_first"``). :class:`StepsAsRow` hands the 2-D layer
code the NHWC view ``(batch, 1, steps, channels)`` of it (no copy for channels_last), and
turns the 4-D result back into the 1-D layout; its gradient goes the same way. So a 1-D
pooling, padding, cropping, up-sampling or spatial dropout is the 2-D op with a window,
padding or factor of 1 along the height: no kernel code of its own.

Shapes inside (``compute_output_shape`` of the 2-D code, ``build``) are the 4-D NHWC ones;
``compute_output_shape`` called with a 3-D shape, as Keras users do, answers in the layer's
own 1-D layout.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["LAYOUTS", "StepsAsRow", "as_single", "refuse_data_format"]

LAYOUTS = {
    "channels_last": "(batch, steps, channels)",
    "channels_first": "(batch, channels, steps)",
}


def as_single(value, name: str, where: str, *, minimum: int = 1) -> tuple[int]:
    """``value`` as Keras's 1-tuple ``(n,)`` of an int ``>= minimum``: an int, or a tuple or
    list of one int (``pool_size=3``, ``pool_size=(3,)`` and a JSON config's ``[3]``)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        item = value[0]
    else:
        item = value
    if not isinstance(item, (numbers.Integral, np.integer)) or isinstance(item, bool):
        raise ValueError(f"{where}: expected {name} to be an int or a tuple of one int. "
                         f"Received: {name}={value!r}")
    if item < minimum:
        raise ValueError(f"{where}: expected {name} to be >= {minimum}. "
                         f"Received: {name}={value!r}")
    return (int(item),)


def refuse_data_format(kwargs: dict, where: str) -> None:
    """Keras's UpSampling1D, Cropping1D and SpatialDropout1D take no ``data_format`` (their
    input is ``(batch, steps, features)``); npconv's Layer would otherwise accept one."""
    if "data_format" in kwargs:
        raise TypeError(f"{where}: unexpected keyword argument(s): data_format ({where} takes "
                        f"(batch, steps, features) only, as in Keras). "
                        f"Received: data_format={kwargs['data_format']!r}")


class StepsAsRow:
    """Mixin, listed before a 2-D layer class: 3-D input runs through the 2-D ``call`` and
    ``call_backward`` as ``(batch, 1, steps, channels)`` (see the module docstring).

    The base :class:`~npconv.layers.base.Layer` transposes only 4-D ``channels_first``
    arrays, so 3-D arrays arrive here as the user gave them.
    """

    def _layout(self) -> str:
        return LAYOUTS[self.data_format]

    def _check_rank3(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(f"{self.name}: expected a 3-D input {self._layout()}. "
                             f"Received an input of shape {tuple(shape)}")

    def _check_steps(self, shape) -> None:
        """A 3-D input with at least one step (or an unknown number of them)."""
        self._check_rank3(shape)
        steps = self._steps_of(shape)
        if steps is not None and steps < 1:
            raise ValueError(f"{self.name}: expected an input with at least one step. "
                             f"Received an input of shape {tuple(shape)}")

    def _steps_of(self, shape):
        """The number of steps of a 3-D input shape (None if unknown)."""
        return shape[2] if self.data_format == "channels_first" else shape[1]

    # -- shapes: the 1-D layout outside, NHWC (batch, 1, steps, channels) inside
    def _to_internal_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 3:
            return shape
        n, a, b = shape
        return (n, 1, b, a) if self.data_format == "channels_first" else (n, 1, a, b)

    def _from_internal_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 4:  # (batch, channels): a global pooling's
            return shape
        n, _, steps, c = shape
        return (n, c, steps) if self.data_format == "channels_first" else (n, steps, c)

    def compute_output_shape(self, input_shape):
        """The output shape: 1-D layout for a 3-D ``input_shape`` (Keras's call), NHWC for
        the 4-D one that npconv's layer code passes."""
        if len(input_shape) == 3:
            return self.output_shape_for(input_shape)
        return super().compute_output_shape(input_shape)

    # -- arrays
    def _as_row(self, a):
        if a.ndim != 3:  # (batch, channels): a global pooling's gradient
            return a
        if self.data_format == "channels_first":
            a = a.transpose(0, 2, 1)
        return a[:, None]

    def _as_steps(self, a):
        if a is None or a.ndim != 4:
            return a
        a = a[:, 0]
        return a.transpose(0, 2, 1) if self.data_format == "channels_first" else a

    def call(self, x, training=False):
        return self._as_steps(super().call(self._as_row(x), training=training))

    def call_backward(self, d_out):
        return self._as_steps(super().call_backward(self._as_row(np.asarray(d_out))))
