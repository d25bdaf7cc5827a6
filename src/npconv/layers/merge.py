"""Layers that merge several tensors: ``Add`` (residual connections) and ``Concatenate``,
with their functional forms ``add`` and ``concatenate``."""

from __future__ import annotations

import numpy as np

from .base import Layer


class _Merge(Layer):

    batch_independent = True
    multiple_inputs = True

    def _check_input_shape(self, shapes) -> None:
        if len(shapes) < 2:
            raise ValueError(f"{self.name}: expected a list of at least 2 inputs. "
                             f"Received {len(shapes)}")


class Add(_Merge):
    """Element-wise sum of inputs of identical shape: ``y = x_1 + ... + x_k``."""

    def _check_input_shape(self, shapes) -> None:
        super()._check_input_shape(shapes)
        first = tuple(shapes[0][1:])
        for s in shapes[1:]:
            if tuple(s[1:]) != first:
                raise ValueError(f"{self.name}: all inputs must have the same shape. "
                                 f"Received shapes {[tuple(s) for s in shapes]}")

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def call(self, xs, training=False):
        self._count = len(xs)
        out = xs[0].copy()
        for x in xs[1:]:
            out += x
        return out

    def call_backward(self, d_out):
        return [d_out] * self._count


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default: the channel axis, -1)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"Concatenate: expected an int axis. Received: axis={axis!r}")
        self.axis = axis

    def splits_batch(self, training) -> bool:
        return not self._is_batch_axis(self.axis) and super().splits_batch(training)

    def _check_input_shape(self, shapes) -> None:
        super()._check_input_shape(shapes)
        rank = len(shapes[0])
        axis = self.axis % rank
        for s in shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0],
                                                                          strict=True))
                                     if i not in (0, axis)):
                raise ValueError(f"{self.name}: inputs must match on every axis but {self.axis}. "
                                 f"Received shapes {[tuple(s) for s in shapes]}")

    def compute_output_shape(self, input_shapes):
        axis = self.axis % len(input_shapes[0])
        out = list(input_shapes[0])
        sizes = [s[axis] for s in input_shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, xs, training=False):
        self._splits = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=self.axis)

    def call_backward(self, d_out):
        return np.split(d_out, self._splits, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Keras's functional form ``add([a, b])``: ``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's functional form ``concatenate([a, b], axis)``: ``Concatenate(axis)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
