"""Keras's confusion counts at thresholds and the metrics read off them.

``TruePositives``, ``FalsePositives``, ``TrueNegatives``, ``FalseNegatives``: the (weighted)
count of entries with ``y_pred > threshold`` against ``y_true != 0``, summed over batches,
for each of ``thresholds`` (0.5 by default; one number, or a list of them: then
``result()`` is a list).

``PrecisionAtRecall(recall)``, ``RecallAtPrecision(precision)``,
``SensitivityAtSpecificity(specificity)``, ``SpecificityAtSensitivity(sensitivity)``: the
counts at Keras's grid of ``num_thresholds`` thresholds ``0, 1/(T-1), ..., 1`` (``[0.5]`` for
``T = 1``), then the best value of the one among the thresholds where the other is at least
the value asked for (0.0 where none is):

    sensitivity = recall = TP / (TP + FN)     specificity = TN / (TN + FP)
    precision = TP / (TP + FP)                (a 0 / 0 ratio is 0, Keras's divide_no_nan)

Every entry counts (a ``(N, C)`` batch is ``N * C`` binary decisions) unless ``class_id``
picks one column of the last axis. On an evenly spaced grid an entry falls in bucket
``ceil(p (T - 1)) - 1`` of ``p`` clipped to [0, 1], Keras's optimized counting (one
``bincount``); other thresholds are compared directly. ``sample_weight``: a scalar, one per
sample (``(N,)``), one per position (``y_pred.shape[:-1]``: a pixel's, for masks) or one per
entry.
"""

from __future__ import annotations

import numbers

import numpy as np

from .metrics import (
    _EPSILON,
    Metric,
    _arrays,
    _counts_at_thresholds,
    _divide_no_nan,
    _entry_weights,
    _same_shape,
)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _parse_thresholds(thresholds, where) -> np.ndarray:
    """Keras's ``parse_init_thresholds``: None is [0.5], a number is [it]; each in [0, 1]."""
    items = [0.5] if thresholds is None else (
        list(np.ravel(thresholds)) if isinstance(thresholds, (list, tuple, np.ndarray))
        else [thresholds])
    if not items or not all(_is_number(t) and 0 <= t <= 1 for t in items):
        raise ValueError(f"{where}: expected thresholds to be None, a number in [0, 1] or a "
                         f"non-empty list of them. Received: thresholds={thresholds!r}")
    return np.array(items, dtype=np.float64)


def _evenly_spaced(thresholds) -> bool:
    """Keras's ``is_evenly_distributed_thresholds``: 3 or more, within 1e-7 of
    ``0, 1/(T-1), ..., 1``."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                       atol=_EPSILON))


def _check_class_id(class_id, where):
    if class_id is not None and (not isinstance(class_id, numbers.Integral)
                                 or isinstance(class_id, (bool, np.bool_)) or class_id < 0):
        raise ValueError(f"{where}: expected class_id to be None or a non-negative int. "
                         f"Received: class_id={class_id!r}")
    return None if class_id is None else int(class_id)


def _binary_entries(where, y_true, y_pred, sample_weight, class_id):
    """``(y_pred as floats, y_true != 0, entry weights)`` of one batch, every entry or, with
    ``class_id``, that column of the last axis."""
    y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    if class_id is not None:
        if y_pred.ndim < 2 or class_id >= y_pred.shape[-1]:
            raise ValueError(f"{where}: class_id={class_id} needs y_pred of shape (N, classes) "
                             f"with more than {class_id} classes. Received y_pred of shape "
                             f"{y_pred.shape}")
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    return y_pred, y_true != 0, _entry_weights(sample_weight, y_pred.shape, where)


def _dtype_name(metric) -> str:
    return str(metric.dtype)


# ------------------------------------------------------------------------ counts
class _ConfusionCount(Metric):
    """One of the four counts at ``thresholds`` (see the module docstring)."""

    _count = ""  # "tp", "fp", "tn" or "fn"

    def __init__(self, thresholds=None, name=None, dtype=None):
        where = type(self).__name__
        self._thresholds = _parse_thresholds(thresholds, where)
        self.init_thresholds = (thresholds.tolist() if isinstance(thresholds, np.ndarray)
                                else list(thresholds) if isinstance(thresholds, tuple)
                                else thresholds)
        self._evenly = _evenly_spaced(self._thresholds)
        super().__init__(name, dtype)
        self.reset_state()

    @property
    def thresholds(self) -> list:
        return [float(t) for t in self._thresholds]

    def reset_state(self) -> None:
        super().reset_state()
        self.accumulator = np.zeros(len(self._thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p, positive, weight = _binary_entries(self.name, y_true, y_pred, sample_weight, None)
        tp, fp, tn, fn = _counts_at_thresholds(p, positive, weight, self._thresholds,
                                               self._evenly)
        self.accumulator += {"tp": tp, "fp": fp, "tn": tn, "fn": fn}[self._count]

    def result(self):
        """The count (a float), or a list of them for several thresholds, as Keras."""
        if len(self.accumulator) == 1:
            return float(self.accumulator[0])
        return [float(v) for v in self.accumulator]

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": _dtype_name(self),
                "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """Keras's ``TruePositives``: the weight of entries with ``y_true != 0`` and
    ``y_pred > threshold``."""

    _count = "tp"


class FalsePositives(_ConfusionCount):
    """Keras's ``FalsePositives``: the weight of entries with ``y_true == 0`` and
    ``y_pred > threshold``."""

    _count = "fp"


class TrueNegatives(_ConfusionCount):
    """Keras's ``TrueNegatives``: the weight of entries with ``y_true == 0`` and
    ``y_pred <= threshold``."""

    _count = "tn"


class FalseNegatives(_ConfusionCount):
    """Keras's ``FalseNegatives``: the weight of entries with ``y_true != 0`` and
    ``y_pred <= threshold``."""

    _count = "fn"


# ----------------------------------------------------------------- X at Y metrics
class _SensitivitySpecificityBase(Metric):
    """The four counts at Keras's grid of ``num_thresholds`` thresholds; a subclass reads
    its value off them (see the module docstring)."""
    _direction = "up"

    _value_name = ""  # the constructor's first argument: "recall", "precision", ...

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        where = type(self).__name__
        if not _is_number(value) or not 0 <= value <= 1:
            raise ValueError(f"{where}: expected {self._value_name} to be a number in [0, 1]. "
                             f"Received: {self._value_name}={value!r}")
        if (not isinstance(num_thresholds, numbers.Integral)
                or isinstance(num_thresholds, (bool, np.bool_)) or num_thresholds <= 0):
            raise ValueError(f"{where}: expected num_thresholds to be an int > 0. Received: "
                             f"num_thresholds={num_thresholds!r}")
        self.value = float(value)
        self.num_thresholds = int(num_thresholds)
        self.class_id = _check_class_id(class_id, where)
        if self.num_thresholds == 1:
            self._thresholds, self._evenly = np.array([0.5]), False
        else:
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
            self._thresholds, self._evenly = np.array([0.0, *inner, 1.0]), True
        super().__init__(name, dtype)
        self.reset_state()

    @property
    def thresholds(self) -> list:
        return [float(t) for t in self._thresholds]

    def reset_state(self) -> None:
        super().reset_state()
        n = len(self._thresholds)
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p, positive, weight = _binary_entries(self.name, y_true, y_pred, sample_weight,
                                              self.class_id)
        tp, fp, tn, fn = _counts_at_thresholds(p, positive, weight, self._thresholds,
                                               self._evenly)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    # the rates at every threshold
    def _recall(self):
        return _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)

    def _specificity(self):
        return _divide_no_nan(self.true_negatives, self.true_negatives + self.false_positives)

    def _precision(self):
        return _divide_no_nan(self.true_positives, self.true_positives + self.false_positives)

    def _best_where_at_least(self, constrained, dependent) -> float:
        """Keras's ``_find_max_under_constraint``: the largest ``dependent`` among the
        thresholds where ``constrained >= value``; 0.0 where there is none."""
        feasible = constrained >= self.value
        return float(np.max(dependent[feasible])) if feasible.any() else 0.0

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": _dtype_name(self), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._value_name: self.value}


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """Keras's ``PrecisionAtRecall(recall)``: the best precision where recall >= ``recall``."""

    _value_name = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)
        self.recall = self.value

    def result(self) -> float:
        return self._best_where_at_least(self._recall(), self._precision())


class RecallAtPrecision(_SensitivitySpecificityBase):
    """Keras's ``RecallAtPrecision(precision)``: the best recall where precision >=
    ``precision`` (0.0 when no threshold reaches it)."""

    _value_name = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
        self.precision = self.value

    def result(self) -> float:
        return self._best_where_at_least(self._precision(), self._recall())


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """Keras's ``SensitivityAtSpecificity(specificity)``: the best sensitivity (recall) where
    specificity >= ``specificity``."""

    _value_name = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)
        self.specificity = self.value

    def result(self) -> float:
        return self._best_where_at_least(self._specificity(), self._recall())


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """Keras's ``SpecificityAtSensitivity(sensitivity)``: the best specificity where
    sensitivity (recall) >= ``sensitivity``."""

    _value_name = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)
        self.sensitivity = self.value

    def result(self) -> float:
        return self._best_where_at_least(self._recall(), self._specificity())


_BY_NAME = {"true_positives": TruePositives, "false_positives": FalsePositives,
            "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
            "precision_at_recall": PrecisionAtRecall, "recall_at_precision": RecallAtPrecision,
            "sensitivity_at_specificity": SensitivityAtSpecificity,
            "specificity_at_sensitivity": SpecificityAtSensitivity}
__all__ = ["FalseNegatives", "FalsePositives", "PrecisionAtRecall", "RecallAtPrecision",
           "SensitivityAtSpecificity", "SpecificityAtSensitivity", "TrueNegatives",
           "TruePositives"]
