"""Layers that rearrange or rescale values without weights: Reshape, Permute, Rescaling.

    Reshape((7, 7, 16))      (N, 784) -> (N, 7, 7, 16); one -1 is inferred
    Permute((2, 3, 1))       (N, C, H, W) -> (N, H, W, C)  (dims count from 1, batch excluded)
    Rescaling(1 / 255)       y = x * scale + offset  (integer images become float32)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .base import Layer

__all__ = ["Permute", "Rescaling", "Reshape"]


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (the batch dimension is kept)."""

    batch_independent = True

    keeps_integer_input = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else None
        if (target is None or not target
                or not all(isinstance(d, numbers.Integral) and (d > 0 or d == -1) for d in target)
                or sum(d == -1 for d in target) > 1):
            raise ValueError(f"Reshape {self.name}: expected target_shape to be a tuple of "
                             f"positive ints with at most one -1. Received: "
                             f"target_shape={target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def _resolved(self, input_shape):
        size = math.prod(input_shape[1:]) if None not in input_shape[1:] else None
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size is None:
                return tuple(None if d == -1 else d for d in self.target_shape)
            if size % known:
                raise ValueError(f"{self.name}: cannot reshape samples of shape "
                                 f"{tuple(input_shape[1:])} ({size} values) to "
                                 f"{self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size is not None and size != known:
            raise ValueError(f"{self.name}: cannot reshape samples of shape "
                             f"{tuple(input_shape[1:])} ({size} values) to {self.target_shape} "
                             f"({known} values)")
        return self.target_shape

    def _check_input_shape(self, shape):
        if len(shape) < 1:
            raise ValueError(f"{self.name}: Reshape expects an input with a batch dimension. "
                             f"Received an input of shape {tuple(shape)}")
        self._resolved(tuple(shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(tuple(input_shape))

    def call(self, x, training=False):
        self._input_shape = x.shape
        return x.reshape((x.shape[0],) + self._resolved(x.shape))

    def call_backward(self, d_out):
        return d_out.reshape(self._input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Reorder the non-batch axes: ``dims`` is a permutation of 1..rank-1 (Keras counts from 1)."""

    batch_independent = True

    keeps_integer_input = True

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute {self.name}: expected dims to be a permutation of "
                             f"1..{len(dims) if dims else 'n'} (axes counted from 1, batch "
                             f"excluded). Received: dims={dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self._axes = (0,) + self.dims
        self._inverse = tuple(int(i) for i in np.argsort(self._axes))

    def _check_input_shape(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: Permute{self.dims} expects a {len(self.dims) + 1}-D "
                             f"input. Received an input of shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[a] for a in self._axes)

    def call(self, x, training=False):
        return x.transpose(self._axes)

    def call_backward(self, d_out):
        return d_out.transpose(self._inverse)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class Rescaling(Layer):
    """``y = x * scale + offset``, e.g. ``Rescaling(1 / 255)`` for uint8 images."""

    batch_independent = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"Rescaling {self.name}: expected {name} to be a finite number. "
                                 f"Received: {name}={value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def call(self, x, training=False):
        # One product and one sum, as Keras, leaving out only what changes no bit: a scale
        # of 1 and an offset of -0.0 (x + -0.0 is x, zeros' signs included; x + 0.0 turns
        # -0.0 into +0.0, as NumPy's and Keras's x + 0 do). Symbolic arithmetic that adds
        # nothing (x * c, -x, x - 0) asks for the offset -0.0, so it is NumPy's result bit
        # for bit.
        dtype = x.dtype.type
        y = x.copy() if self.scale == 1.0 else x * dtype(self.scale)
        if not (self.offset == 0.0 and math.copysign(1.0, self.offset) < 0):
            y += dtype(self.offset)
        return y

    def call_backward(self, d_out):
        return d_out * d_out.dtype.type(self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
