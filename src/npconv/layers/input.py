"""``Input`` and ``InputLayer``: where a functional model's graph starts."""

from __future__ import annotations

import numbers

import numpy as np

from .base import Layer, SymbolicTensor


class InputLayer(Layer):
    """Declares the shape of a model's input (without the batch dimension).

    Calling it on an array returns the array unchanged after checking its shape.
    ``dtype``: float32/float64 (the array is cast to it), or an integer dtype ("int32",
    "int64": ids for an ``Embedding``), which keeps integer arrays as they are and refuses
    others.
    """

    batch_independent = True

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None,
                 batch_shape=None, **kwargs):
        if batch_shape is not None:  # Keras 3's batch_shape=(batch_size, *shape)
            if shape is not None or input_shape is not None or batch_size is not None:
                raise ValueError("InputLayer: give either shape= (and batch_size=) or "
                                 f"batch_shape=, not both. Received: shape={shape!r}, "
                                 f"batch_size={batch_size!r}, batch_shape={batch_shape!r}")
            if isinstance(batch_shape, (str, bytes)) or not hasattr(batch_shape, "__len__") \
                    or len(batch_shape) < 2:
                raise ValueError("InputLayer: expected batch_shape=(batch_size or None, ...) "
                                 f"with at least one axis after the batch. Received: "
                                 f"batch_shape={batch_shape!r}")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("InputLayer: expected shape=(…) without the batch dimension. "
                             "Received: shape=None")
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        shape = tuple(shape)
        if not all(s is None or (isinstance(s, numbers.Integral) and s > 0) for s in shape):
            raise ValueError(f"InputLayer: expected a shape of positive ints (or None). "
                             f"Received: shape={shape}")
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral)
                                       or isinstance(batch_size, bool) or batch_size < 1):
            raise ValueError(f"InputLayer: expected batch_size to be a positive int or None. "
                             f"Received: batch_size={batch_size!r}")
        dtype = kwargs.pop("dtype", None)
        #: An integer dtype of the ids this input takes (Keras's Input(dtype="int64")), or None.
        self.integer_dtype = None
        if dtype is not None and np.dtype(dtype).kind in "iu":
            self.integer_dtype, dtype = np.dtype(dtype), None
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.keeps_integer_input = self.integer_dtype is not None
        self.shape = shape
        self.batch_size = None if batch_size is None else int(batch_size)
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

    def _prepare_input(self, x):
        if self.integer_dtype is None:
            return super()._prepare_input(x)
        arr = np.asarray(x)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: expected integer ids (the input's dtype is "
                            f"{self.integer_dtype}). Received dtype {arr.dtype}")
        return arr

    def call(self, x, training=False):
        return x

    def call_backward(self, d_out):
        return d_out

    def get_config(self):
        config = super().get_config()
        config.update(shape=list(self.shape), batch_size=self.batch_size)
        if self.integer_dtype is not None:
            config["dtype"] = self.integer_dtype.name
        return config


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):  # noqa: N802
    """A symbolic input tensor of ``shape`` (no batch dimension), as ``keras.Input``; or of
    Keras 3's ``batch_shape=(batch_size, *shape)``."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                      batch_shape=batch_shape).output
