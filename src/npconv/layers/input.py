"""``Input`` and ``InputLayer``: where a functional model's graph starts."""

from __future__ import annotations

import numbers

from .base import Layer, SymbolicTensor


class InputLayer(Layer):
    """Declares the shape of a model's input (without the batch dimension).

    Calling it on an array returns the array unchanged after checking its shape.
    """

    batch_independent = True

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("InputLayer: expected shape=(…) without the batch dimension. "
                             "Received: shape=None")
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        shape = tuple(shape)
        if not all(s is None or (isinstance(s, numbers.Integral) and s > 0) for s in shape):
            raise ValueError(f"InputLayer: expected a shape of positive ints (or None). "
                             f"Received: shape={shape}")
        super().__init__(name=name, **kwargs)
        self.shape = shape
        self.batch_size = batch_size
        self.built = True
        self.input_shape = self.output_shape = (batch_size,) + shape
        self.output = SymbolicTensor(self.output_shape, layer=self, parents=())

    def _check_input_shape(self, shape) -> None:
        expected = self.shape
        got = tuple(shape[1:])
        if len(got) != len(expected) or any(e is not None and e != g
                                            for e, g in zip(expected, got, strict=True)):
            raise ValueError(f"{self.name}: expected input of shape (batch,) + {expected}. "
                             f"Received an input of shape {tuple(shape)}")

    def call(self, x, training=False):
        return x

    def call_backward(self, d_out):
        return d_out

    def get_config(self):
        config = super().get_config()
        config.update(shape=list(self.shape), batch_size=self.batch_size)
        return config


def Input(shape=None, batch_size=None, name=None, dtype=None):  # noqa: N802 - Keras name
    """A symbolic input tensor of ``shape`` (no batch dimension), as ``keras.Input``."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype).output
