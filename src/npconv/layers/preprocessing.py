"""Keras 3's ``Normalization`` preprocessing layer: ``(x - mean) / sqrt(variance)`` with a mean
and variance given, or learned from data by ``adapt``.

    norm = layers.Normalization()          # one mean and variance per channel (axis=-1)
    norm.adapt(x_train)                    # an array, or batches (a list, generator, PyDataset)
    model = Sequential([Input((28, 28, 1)), norm, Conv2D(8, 3), ...])

``adapt`` reduces every axis except ``axis`` (population variance, as ``np.var``); over
batches it merges each batch's mean and variance exactly (Keras's formula, in float64). The
adapted values are the layer's non-trainable weights ``mean``, ``variance`` (and Keras's
``count``, always 0), so ``model.save`` keeps them. The backward divides by
``max(sqrt(variance), 1e-7)`` (multiplies, with ``invert=True``).
"""

from __future__ import annotations

import numbers

import numpy as np

from .base import Layer

__all__ = ["Normalization"]

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _batch_of(item):
    """The inputs of a batch: ``x`` of ``(x, y)`` / ``(x, y, w)`` (as Keras's adapt takes)."""
    return item[0] if isinstance(item, tuple) else item


class Normalization(Layer):
    """Keras 3's ``Normalization(axis=-1, mean=None, variance=None, invert=False)``.

    axis: the axis or axes that keep their own mean and variance (an int, a tuple, or None
    for one mean and variance over everything). mean, variance: given together (numbers or
    arrays broadcast to the kept axes, right-aligned), or neither, then learned by
    :meth:`adapt`. invert: map normalized values back (``mean + x * sqrt(variance)``).
    """

    batch_independent = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        where = "Normalization"
        if axis is None:
            axis = ()
        elif isinstance(axis, (numbers.Integral, np.integer)) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(
                isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, bool)
                for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise ValueError(f"{where}: expected axis to be an int, a tuple of ints or None. "
                             f"Received: axis={axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"{where}: when setting values directly, both mean and variance "
                             f"must be set. Received: mean={mean!r} and variance={variance!r}")
        if mean is not None:
            mean_arr, var_arr = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
            if mean_arr.shape != var_arr.shape:
                raise ValueError(f"{where}: when setting values directly, mean and variance "
                                 f"must have the same shape. Received: mean shape "
                                 f"{mean_arr.shape} and variance shape {var_arr.shape}")
            if mean_arr.ndim > len(axis):
                raise ValueError(f"{where}: the rank of mean must be less than or equal to the "
                                 f"number of axes ({len(axis)}). Received: mean shape "
                                 f"{mean_arr.shape} for axis {axis}")
            if np.any(var_arr < 0) or not np.all(np.isfinite(var_arr)):
                raise ValueError(f"{where}: expected variance to be finite and >= 0. "
                                 f"Received: variance={variance!r}")
        super().__init__(**kwargs)
        self.axis = axis
        self.input_mean = None if mean is None else np.asarray(mean, np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)
        self.invert = bool(invert)
        self._ndim = None
        self._cache = None

    # --------------------------------------------------------------- shapes and weights
    def _axes_for(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{self.name}: all axis values must be in the range [-ndim, ndim). "
                             f"Received inputs with ndim={ndim}, while axis={self.axis}")
        keep = tuple(sorted({a % ndim for a in self.axis}))
        for d in keep:
            if input_shape[d] is None:
                raise ValueError(f"{self.name}: all axis values to be kept must have a known "
                                 f"size. Received axis={self.axis}, inputs.shape="
                                 f"{tuple(input_shape)}, with unknown axis at index {d}")
        return keep

    def _check_input_shape(self, shape):
        if self._ndim is not None:
            if len(shape) != self._ndim or any(
                    shape[d] is not None and shape[d] != self._built_shape[d]
                    for d in self._keep):
                raise ValueError(f"{self.name}: the layer was built for inputs of shape "
                                 f"{self._built_shape}. Received an input of shape "
                                 f"{tuple(shape)}")
        else:
            self._axes_for(tuple(shape))

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._keep = self._axes_for(input_shape)
        self._ndim = len(input_shape)
        self._built_shape = (None,) + tuple(input_shape[1:])
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1
                                for d in range(self._ndim))
        kept = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=kept, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=kept,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), initializer="zeros",
                                         trainable=False)
        else:
            expanded = [1] * self._ndim
            mean = self.input_mean
            for i in range(1, mean.ndim + 1):   # right-aligned onto the kept axes
                expanded[self._keep[-i]] = mean.shape[-i]
            try:
                self._fixed = tuple(np.broadcast_to(v.reshape(expanded), self._broadcast)
                                    for v in (mean, self.input_variance))
            except ValueError:
                raise ValueError(f"{self.name}: mean of shape {mean.shape} does not broadcast "
                                 f"to the kept axes {kept} of inputs of shape {input_shape}"
                                 ) from None

    def _mean_and_variance(self, dtype):
        if self.input_mean is not None:
            mean, variance = self._fixed
        else:
            mean = self.adapt_mean.value.reshape(self._broadcast)
            variance = self.adapt_variance.value.reshape(self._broadcast)
        return mean.astype(dtype), variance.astype(dtype)

    @property
    def mean(self):
        """Keras's ``normalizer.mean``: the mean in the inputs' broadcast shape (``(1, 9)``
        for ``(batch, 9)`` inputs), as a Tensor; None before the layer is built."""
        return self._broadcast_value(0)

    @property
    def variance(self):
        """Keras's ``normalizer.variance``, as :attr:`mean`."""
        return self._broadcast_value(1)

    def _broadcast_value(self, which):
        if self._ndim is None:
            return None
        from ..tensor import as_tensor

        dtype = self.dtype or np.dtype(np.float32)
        return as_tensor(np.array(self._mean_and_variance(dtype)[which]))

    # --------------------------------------------------------------- passes
    def call(self, x, training=False):
        mean, variance = self._mean_and_variance(x.dtype)
        scale = np.maximum(np.sqrt(variance), x.dtype.type(_EPSILON))
        self._cache = scale
        if self.invert:
            return mean + x * scale
        return (x - mean) / scale

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return d_out * self._cache if self.invert else d_out / self._cache

    # --------------------------------------------------------------- adapt
    def adapt(self, data):
        """Set the mean and variance from ``data``: an array (reduced at once) or batches
        (a list, generator, ``PyDataset`` or any iterable of arrays or ``(x, y)`` tuples,
        merged batch by batch); every axis except ``axis`` is reduced."""
        if self.input_mean is not None:
            raise ValueError(f"{self.name}: adapt() learns the mean and variance, but they were "
                             "given to the constructor (mean=..., variance=...)")
        if isinstance(data, np.ndarray):
            batches = None
            first = data
        elif hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(
                data, (list, tuple)):           # a PyDataset / Sequence
            batches = (_batch_of(data[i]) for i in range(len(data)))
            first = None
        elif hasattr(data, "__iter__"):
            batches = (_batch_of(b) for b in data)
            first = None
        else:
            raise TypeError(f"{self.name}: adapt() expects an array or an iterable of batches. "
                            f"Received {type(data).__name__}")
        if batches is not None:
            iterator = iter(batches)
            first = next(iterator, None)
            if first is None:
                raise ValueError(f"{self.name}: adapt() received no batches (an empty "
                                 "iterable). Expected at least one batch")
        first = self._as_batch(first)
        if not self.built:
            self._maybe_build(first.shape)
        self._check_input_shape(first.shape)
        reduce = tuple(d for d in range(self._ndim) if d not in self._keep)
        if batches is None:
            if first.size == 0:
                raise ValueError(f"{self.name}: adapt() needs at least one value per feature. "
                                 f"Received an empty array of shape {first.shape}")
            mean, variance = first.mean(axis=reduce), first.var(axis=reduce)
        else:
            mean = variance = None
            total = 0
            for batch in _chain(first, iterator, self._as_batch):
                self._check_input_shape(batch.shape)
                if batch.size == 0:  # (an empty batch adds nothing; its mean would be NaN)
                    continue
                count = int(np.prod([batch.shape[d] for d in reduce])) if reduce else 1
                b_mean, b_var = batch.mean(axis=reduce), batch.var(axis=reduce)
                if mean is None:
                    mean, variance, total = b_mean, b_var, count
                    continue
                total += count
                w = count / total
                new_mean = mean * (1 - w) + b_mean * w
                variance = ((variance + (mean - new_mean) ** 2) * (1 - w)
                            + (b_var + (b_mean - new_mean) ** 2) * w)
                mean = new_mean
            if mean is None:
                raise ValueError(f"{self.name}: adapt() needs at least one value per feature. "
                                 "Received only empty batches")
        self.adapt_mean.assign(mean, self.name)
        self.adapt_variance.assign(variance, self.name)

    def _as_batch(self, batch):
        arr = np.asarray(batch)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: adapt() expects numeric arrays. Received dtype "
                            f"{arr.dtype}")
        return arr.astype(np.float64)

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": _tolist(self.input_mean), "variance": _tolist(self.input_variance)}


def _tolist(value):
    return None if value is None else value.tolist()


def _chain(first, rest, convert):
    yield first
    for item in rest:
        yield convert(item)
