"""Layers that merge several tensors: ``Add`` (residual connections), ``Multiply`` (gates),
``Subtract``, ``Average``, ``Maximum``, ``Minimum`` and ``Concatenate``, with their functional
forms ``add``, ``multiply``, ``subtract``, ``average``, ``maximum``, ``minimum`` and
``concatenate``. The element-wise ones broadcast axes of size 1 as Keras does (see
:mod:`npconv.ops.merge`, which holds their math)."""

from __future__ import annotations

import numpy as np

from ..ops.merge import (
    average_backward,
    average_forward,
    broadcast_shape,
    maximum_backward,
    maximum_forward,
    minimum_backward,
    minimum_forward,
    multiply_backward,
    multiply_forward,
    reduce_to_shape,
    subtract_backward,
    subtract_forward,
)
from .base import Layer


class _Merge(Layer):

    batch_independent = True
    multiple_inputs = True

    def _check_input_shape(self, shapes) -> None:
        if len(shapes) < 2:
            raise ValueError(f"{self.name}: expected a list of at least 2 inputs. "
                             f"Received {len(shapes)}")


class _BroadcastMerge(_Merge):
    """A merge with Keras's shape rule: batch sizes agree, other axes agree or are 1."""

    def _check_input_shape(self, shapes) -> None:
        super()._check_input_shape(shapes)
        broadcast_shape(shapes, self.name)

    def compute_output_shape(self, input_shapes):
        return broadcast_shape(input_shapes, self.name)


class _ElementwiseMerge(_BroadcastMerge):
    """A merge over a pair of pure ops ``_forward(xs) -> (out, cache)`` and
    ``_backward(d_out, cache) -> grads`` (:mod:`npconv.ops.merge`)."""

    _forward = _backward = None

    def call(self, xs, training=False):
        out, self._cache = type(self)._forward(xs)
        return out

    def call_backward(self, d_out):
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return type(self)._backward(d_out, self._cache)


class Add(_BroadcastMerge):
    """Element-wise sum of the inputs: ``y = x_1 + ... + x_k``; axes of size 1 broadcast as in
    Keras (their gradient is the sum over the axis)."""

    def call(self, xs, training=False):
        self._shapes = [x.shape for x in xs]
        dtype = np.result_type(*xs)  # float32 + float64 is float64 whatever the order
        out = np.add(xs[0], xs[1], dtype=dtype)
        for x in xs[2:]:
            out = out + x if x.shape != out.shape else np.add(out, x, out=out)
        return out

    def call_backward(self, d_out):
        return [reduce_to_shape(d_out, shape) for shape in self._shapes]


class Multiply(_ElementwiseMerge):
    """Element-wise product of 2 or more inputs: ``y = x_1 * ... * x_k``.

    Keras's shape rule: the batch sizes must agree ("cannot merge tensors with different
    batch sizes"), and on the other axes the sizes agree or are 1 (broadcast: a
    ``(N, H, W, 1)`` gate times ``(N, H, W, C)`` features). Gradient:
    ``dx_i = d_y * prod_{j != i} x_j``, summed over the axes ``x_i`` broadcast.
    """

    _forward = staticmethod(multiply_forward)
    _backward = staticmethod(multiply_backward)


class Subtract(_ElementwiseMerge):
    """Element-wise difference of exactly 2 inputs: ``y = x_1 - x_2`` (Keras's ``Subtract``);
    axes of size 1 broadcast. Gradients ``d_y`` and ``-d_y``, summed over broadcast axes."""

    _forward = staticmethod(subtract_forward)
    _backward = staticmethod(subtract_backward)

    def _check_input_shape(self, shapes) -> None:
        if len(shapes) != 2:
            raise ValueError(f"{self.name}: expected a list of exactly 2 inputs (Subtract "
                             f"computes x1 - x2). Received {len(shapes)}")
        super()._check_input_shape(shapes)


class Average(_ElementwiseMerge):
    """Element-wise mean of 2 or more inputs: ``y = (x_1 + ... + x_k) / k`` (Keras's
    ``Average``); axes of size 1 broadcast. Each input's gradient is ``d_y / k``."""

    _forward = staticmethod(average_forward)
    _backward = staticmethod(average_backward)


class Maximum(_ElementwiseMerge):
    """Element-wise maximum of 2 or more inputs (Keras's ``Maximum``); axes of size 1 broadcast.

    Reduced pairwise left to right as Keras does, ``max(max(x_1, x_2), x_3) ...``. Gradient
    (where the maximum is not differentiable, on ties): PyTorch's ``torch.maximum`` rule at
    each pair, the larger operand takes ``d_y`` and tied operands ``d_y / 2`` each, passed on
    through the running maximum. So a tie of ``x_1``, ``x_2``, ``x_3`` gives them ``d_y / 4``,
    ``d_y / 4`` and ``d_y / 2``: a torch model that writes the same chain of
    ``torch.maximum`` calls gets the same gradients.
    """

    _forward = staticmethod(maximum_forward)
    _backward = staticmethod(maximum_backward)


class Minimum(_ElementwiseMerge):
    """Element-wise minimum of 2 or more inputs (Keras's ``Minimum``); axes of size 1 broadcast.

    Pairwise left to right, ``min(min(x_1, x_2), x_3) ...``; on ties, PyTorch's
    ``torch.minimum`` rule at each pair (tied operands take half the gradient each), as
    :class:`Maximum`.
    """

    _forward = staticmethod(minimum_forward)
    _backward = staticmethod(minimum_backward)


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default: the channel axis, -1): inputs that agree on every
    other axis, e.g. ``(N, H, W, C_1)`` and ``(N, H, W, C_2)``, give ``(N, H, W, C_1 + C_2)``.
    The backward splits the gradient back into the inputs' pieces."""

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
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: axis={self.axis} is out of range for inputs of rank "
                             f"{rank}. Received shapes {[tuple(s) for s in shapes]}")
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


def subtract(inputs, **kwargs):
    """Keras's functional form ``subtract([a, b])``: ``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Keras's functional form ``average([a, b, ...])``: ``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Keras's functional form ``maximum([a, b, ...])``: ``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Keras's functional form ``minimum([a, b, ...])``: ``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)
