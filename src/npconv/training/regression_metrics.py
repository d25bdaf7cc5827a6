"""Keras's ``R2Score``: the coefficient of determination, from sums kept over batches.

Inputs are ``(N, outputs)``. Per output ``j``, with weights ``w`` (one per sample, or one per
entry), the sums ``S = sum w y``, ``Q = sum w y^2``, ``W = sum w`` and the residual
``R = sum w (y - y_pred)^2`` give::

    total_j = Q - S^2 / W   (= sum w (y - mean y)^2)          R2_j = 1 - R / total_j

with ``R2_j = 0`` where that is infinite (a constant target predicted with an error) and
NaN for 0 / 0, as Keras. ``class_aggregation``: "uniform_average" (the mean over outputs),
"variance_weighted_average" (weighted by ``total_j``) or None (one score per output).
``num_regressors = p > 0`` gives the adjusted score ``1 - (1 - R2)(n - 1) / (n - p - 1)``
with ``n`` the number of entries seen (Keras counts every entry of ``y_true``, not the
samples), falling back to R2 with a warning when ``p >= n - 1``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import losses as _losses
from .metrics import Metric, _arrays, _entry_weights

_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """Keras's ``R2Score(class_aggregation="uniform_average", num_regressors=0)`` (see the
    module docstring); a float, or an array of one score per output for
    ``class_aggregation=None`` (0.0 before any batch)."""
    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        where = type(self).__name__
        if (not (class_aggregation is None or isinstance(class_aggregation, str))
                or class_aggregation not in _AGGREGATIONS):
            raise ValueError(f"{where}: expected class_aggregation to be one of "
                             f"{list(_AGGREGATIONS)}. Received: "
                             f"class_aggregation={class_aggregation!r}")
        if (not isinstance(num_regressors, numbers.Integral)
                or isinstance(num_regressors, (bool, np.bool_)) or num_regressors < 0):
            raise ValueError(f"{where}: expected num_regressors to be an int >= 0. Received: "
                             f"num_regressors={num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        super().reset_state()
        self.num_samples = 0
        self.sum = self.squared_sum = self.total_mse = self.count = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _arrays(y_true, y_pred, where)
        y_true, y_pred = _losses._squeeze_or_expand(y_true, y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"{where}: expected 2-D y_true and y_pred (batch_size, outputs); "
                             f"one output is (batch_size, 1). Received {y_true.shape} (y_true) "
                             f"and {y_pred.shape} (y_pred)")
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{where}: expected y_true and y_pred of the same shape "
                             f"(batch_size, outputs). Received {y_true.shape} (y_true) and "
                             f"{y_pred.shape} (y_pred)")
        if self.sum is not None and y_pred.shape[1] != len(self.sum):
            raise ValueError(f"{where}: expected {len(self.sum)} outputs, as the batches "
                             f"before. Received shape {y_pred.shape}")
        t, p = y_true.astype(np.float64), y_pred.astype(np.float64)
        w = _entry_weights(sample_weight, t.shape, where)
        sums = [np.sum(w * t, axis=0), np.sum(w * t * t, axis=0),
                np.sum(w * (t - p) ** 2, axis=0), np.sum(w, axis=0)]
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = (
                np.zeros_like(v) for v in sums)
        self.sum += sums[0]
        self.squared_sum += sums[1]
        self.total_mse += sums[2]
        self.count += sums[3]
        self.num_samples += t.size

    def result(self):
        if self.sum is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        p, n = self.num_regressors, self.num_samples
        if p:
            if p > n - 1:
                warnings.warn(f"{self.name}: more independent predictors ({p}) than data "
                              f"points ({n}) in the adjusted R2 score; falling back to the "
                              "standard R2 score", stacklevel=2)
            elif p == n - 1:
                warnings.warn(f"{self.name}: division by zero in the adjusted R2 score "
                              f"(num_regressors = {p} = entries - 1); falling back to the "
                              "standard R2 score", stacklevel=2)
            else:
                score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return float(score) if np.ndim(score) == 0 else np.array(score)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": str(self.dtype),
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


_BY_NAME = {"r2_score": R2Score}
__all__ = ["R2Score"]
