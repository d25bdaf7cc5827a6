"""Keras's metrics that are a loss averaged over the samples seen: the cross-entropies, the
KL divergence, Poisson, the hinges and log-cosh, each the (weighted) mean over batches of
the per-sample values of the loss function of that name in :mod:`npconv.training.losses`
(the same numbers as ``compile(metrics=["binary_crossentropy"])`` gave before).

``axis`` is accepted as Keras's classes take it, for the last axis only (as npconv's
losses).
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses
from .metrics import MeanMetricWrapper


class _LossMean(MeanMetricWrapper):
    """The mean of ``fn(y_true, y_pred, **options)`` over samples, named as Keras's."""
    _direction = "down"

    def __init__(self, fn, name, dtype, **options):
        super().__init__(fn, name, **options)
        self.dtype = np.dtype(dtype or "float32")

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": str(self.dtype), **self._fn_kwargs}


def _options(where, from_logits=None, label_smoothing=None, axis=None) -> dict:
    """The loss function's keyword arguments, checked here so that an error names the
    metric (``axis`` is checked and not passed: the loss functions use the last axis)."""
    out = {}
    if from_logits is not None:
        out["from_logits"] = _losses._check_from_logits(from_logits, where)
    if label_smoothing is not None:
        out["label_smoothing"] = _losses._check_smoothing(label_smoothing, where)
    if axis is not None:
        _losses._check_axis_last(axis, where)
    return out


class BinaryCrossentropy(_LossMean):
    """Keras's ``BinaryCrossentropy`` metric: the mean binary cross-entropy (``from_logits``,
    ``label_smoothing`` as the loss)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        super().__init__(_losses.binary_crossentropy, name, dtype,
                         **_options(type(self).__name__, from_logits, label_smoothing))


class CategoricalCrossentropy(_LossMean):
    """Keras's ``CategoricalCrossentropy`` metric: the mean cross-entropy with one-hot
    targets."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(_losses.categorical_crossentropy, name, dtype,
                         **_options(type(self).__name__, from_logits, label_smoothing, axis))
        self.axis = -1

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class SparseCategoricalCrossentropy(_LossMean):
    """Keras's ``SparseCategoricalCrossentropy`` metric: the mean cross-entropy with integer
    labels."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(_losses.sparse_categorical_crossentropy, name, dtype,
                         **_options(type(self).__name__, from_logits, axis=axis))
        self.axis = -1

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class KLDivergence(_LossMean):
    """Keras's ``KLDivergence`` metric: the mean of ``sum(t log(t / p))`` (both clipped to
    ``[1e-7, 1]``)."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(_losses.kl_divergence, name, dtype)


class Poisson(_LossMean):
    """Keras's ``Poisson`` metric: the mean of ``mean(p - t log(p + 1e-7))``."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(_losses.poisson, name, dtype)


class Hinge(_LossMean):
    """Keras's ``Hinge`` metric: the mean of ``mean(max(1 - t p, 0))`` ({0, 1} targets read
    as {-1, 1})."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(_losses.hinge, name, dtype)


class SquaredHinge(_LossMean):
    """Keras's ``SquaredHinge`` metric: the mean of ``mean(max(1 - t p, 0)^2)``."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(_losses.squared_hinge, name, dtype)


class CategoricalHinge(_LossMean):
    """Keras's ``CategoricalHinge`` metric: the mean of
    ``max(max((1 - t) p) - sum(t p) + 1, 0)``."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(_losses.categorical_hinge, name, dtype)


class LogCoshError(_LossMean):
    """Keras's ``LogCoshError`` metric: the mean of ``mean(log(cosh(p - t)))``; Keras names
    it "logcosh"."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(_losses.log_cosh, name, dtype)


_BY_NAME = {"binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
            "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
            "kl_divergence": KLDivergence, "poisson": Poisson, "hinge": Hinge,
            "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
            "log_cosh_error": LogCoshError}
__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "CategoricalHinge", "Hinge",
           "KLDivergence", "LogCoshError", "Poisson", "SparseCategoricalCrossentropy",
           "SquaredHinge"]
