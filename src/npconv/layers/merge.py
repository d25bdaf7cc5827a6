"""Layers that merge several tensors: ``Add`` (residual connections), ``Multiply`` (gates) and
``Concatenate``, with their functional forms ``add``, ``multiply`` and ``concatenate``."""

from __future__ import annotations

import numpy as np

from ..ops.merge import multiply_backward, multiply_forward
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


class Multiply(_Merge):
    """Element-wise product of 2 or more inputs of identical shape: ``y = x_1 * ... * x_k``.

    Keras's shape checks: the batch sizes must agree ("Cannot merge tensors with different
    batch sizes") and so must the other axes ("Inputs have incompatible shapes"). Keras would
    also broadcast axes of size 1; npconv refuses them, as its ``Add`` does (a wrong shape is
    never broadcast silently). Gradient: ``dx_i = d_y * prod_{j != i} x_j``.
    """

    def _check_input_shape(self, shapes) -> None:
        super()._check_input_shape(shapes)
        shapes = [tuple(s) for s in shapes]
        batches = {s[0] for s in shapes if s} - {None}
        if len(batches) > 1:
            raise ValueError(f"{self.name}: cannot merge tensors with different batch sizes. "
                             f"Received tensors with shapes {shapes}")
        if any(s[1:] != shapes[0][1:] or len(s) != len(shapes[0]) for s in shapes):
            raise ValueError(f"{self.name}: inputs have incompatible shapes: expected identical "
                             f"shapes (besides the batch axis). Received shapes {shapes}")

    def compute_output_shape(self, input_shapes):
        batches = {s[0] for s in input_shapes} - {None}
        return (batches.pop() if batches else None,) + tuple(input_shapes[0][1:])

    def call(self, xs, training=False):
        out, self._cache = multiply_forward(xs)
        return out

    def call_backward(self, d_out):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return multiply_backward(d_out, self._cache)


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


def multiply(inputs, **kwargs):
    """Keras's functional form ``multiply([a, b])``: ``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's functional form ``concatenate([a, b], axis)``: ``Concatenate(axis)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
